package main

import (
	"fmt"
	"io"

	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/dlr/pebblestore"
)

const checkConfigUsage = `usage: smppmux check-config [FILE]

Reads the configuration file (default /etc/smppmux/config.yaml, or the
daemon's -config given before the subcommand) as the daemon would, and
prints every problem named by its key, or "ok" with what it configures.
It exits 1 when the file is refused. It opens no listener and no store.
`

// checkConfig validates a configuration file and names every problem.
func checkConfig(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("smppmux check-config", checkConfigUsage)
	if err := parseArgs(fs, args, 1, stdout, stderr); err != nil {
		return err
	}
	path := defaultConfig
	if fs.NArg() == 1 {
		path = fs.Arg(0)
	}
	cfg, err := config.Load(path)
	if err != nil {
		if fes := config.FieldErrors(err); len(fes) > 0 {
			for _, fe := range fes {
				fmt.Fprintf(stdout, "%s: %s\n", path, fe)
			}
			return fmt.Errorf("%s: %d problem(s)", path, len(fes))
		}
		return err
	}
	fmt.Fprintf(stdout, "%s: ok (%d clients, %d upstreams, %d groups, %d routes)\n",
		path, len(cfg.Clients), len(cfg.Upstreams), len(cfg.Groups), len(cfg.Routes))
	fmt.Fprintf(stdout, "%s: store %s\n", path, storeSummary(&cfg.Store))
	warnStateDir(stdout, path, cfg, pebblestore.StateFSSize)
	return nil
}

// storeSummary names the store's kind and, for Pebble, when it syncs.
func storeSummary(s *config.Store) string {
	switch {
	case s.Kind == config.StoreRedis:
		return "redis (synced as its appendfsync says)"
	case s.Sync == config.SyncInterval:
		return fmt.Sprintf("pebble, sync interval %s (a power loss may lose the writes answered in the last %s)", s.SyncInterval, s.SyncInterval)
	}
	return "pebble, sync always"
}

// warnStateDir warns, without failing the check, when the Pebble store's
// state_dir is on a file system smaller than it needs; fsSize reads a
// file system's size.
func warnStateDir(w io.Writer, file string, cfg *config.Config, fsSize func(dir string) (int64, error)) {
	if cfg.Store.Kind == config.StoreRedis {
		return
	}
	switch size, err := fsSize(cfg.StateDir); {
	case err != nil:
		fmt.Fprintf(w, "%s: warning: state_dir %s: its file system's size cannot be read: %v\n", file, cfg.StateDir, err)
	case size < pebblestore.MinStateFS:
		fmt.Fprintf(w, "%s: warning: state_dir %s is on a file system of %d MiB, smaller than the %d MiB the store needs at least (README, \"Disk footprint\")\n",
			file, cfg.StateDir, size>>20, pebblestore.MinStateFS>>20)
	}
}
