package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/dlr"
)

// checkConfig validates a configuration file and names every problem.
func checkConfig(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: smppmux check-config FILE")
	}
	cfg, err := config.Load(args[0])
	if err != nil {
		if fes := config.FieldErrors(err); len(fes) > 0 {
			for _, fe := range fes {
				fmt.Fprintf(stdout, "%s: %s\n", args[0], fe)
			}
			return fmt.Errorf("%s: %d problem(s)", args[0], len(fes))
		}
		return err
	}
	fmt.Fprintf(stdout, "%s: ok (%d clients, %d upstreams, %d groups, %d routes)\n",
		args[0], len(cfg.Clients), len(cfg.Upstreams), len(cfg.Groups), len(cfg.Routes))
	warnStateDir(stdout, args[0], cfg, dlr.StateFSSize)
	return nil
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
	case size < dlr.MinStateFS:
		fmt.Fprintf(w, "%s: warning: state_dir %s is on a file system of %d MiB, smaller than the %d MiB the store needs at least (README, \"Disk footprint\")\n",
			file, cfg.StateDir, size>>20, dlr.MinStateFS>>20)
	}
}
