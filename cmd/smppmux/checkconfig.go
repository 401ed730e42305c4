package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/dlr"
)

// checkConfig validates a configuration file and names every problem. It
// warns, without failing, when state_dir's file system is smaller than
// the Pebble store needs.
func checkConfig(args []string, stdout io.Writer) error {
	return checkConfigFS(args, stdout, dlr.StateFSSize)
}

// checkConfigFS is checkConfig reading file system sizes with fsSize.
func checkConfigFS(args []string, stdout io.Writer, fsSize func(dir string) (int64, error)) error {
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
	if cfg.Store.Kind != config.StoreRedis {
		switch size, err := fsSize(cfg.StateDir); {
		case err != nil:
			fmt.Fprintf(stdout, "%s: warning: state_dir %s: its file system's size cannot be read: %v\n", args[0], cfg.StateDir, err)
		case size < dlr.MinStateFS:
			fmt.Fprintf(stdout, "%s: warning: state_dir %s is on a file system of %d MiB, smaller than the %d MiB the store needs at least (README, \"Disk footprint\")\n",
				args[0], cfg.StateDir, size>>20, dlr.MinStateFS>>20)
		}
	}
	return nil
}
