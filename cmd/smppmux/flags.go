package main

import (
	"flag"
	"fmt"
	"io"
)

// newFlagSet returns the flags of a command: errors and -h print usage,
// then the flags with their defaults, to stderr.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	return fs
}

// checkCredentials checks a bind's system_id and password against the
// lengths SMPP 3.4 allows, naming cmd in the error.
func checkCredentials(cmd, systemID, password string) error {
	switch {
	case len(systemID) > maxSystemID:
		return fmt.Errorf("%s: -system-id: system_id is at most %d characters", cmd, maxSystemID)
	case len(password) > maxPassword:
		return fmt.Errorf("%s: password is at most %d characters", cmd, maxPassword)
	}
	return nil
}
