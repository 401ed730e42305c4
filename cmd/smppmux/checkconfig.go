package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/smppmux/smppmux/config"
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
	return nil
}
