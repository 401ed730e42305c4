package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
)

// errHelp is returned when -h (or help) asked for a usage, which has been
// printed: the exit status is 0.
var errHelp = errors.New("help requested")

// usageError is a wrong command line: an unknown subcommand or flag, a
// bad flag value, a stray argument. The problem and the usage have been
// printed to stderr; the exit status is 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// newFlagSet returns the flags of a command; its usage prints usage, then
// the flags with their defaults.
func newFlagSet(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses args with fs and allows at most maxArgs arguments
// after the flags (-1: any number). -h prints the usage to stdout and
// returns errHelp; a bad flag or a stray argument prints the problem and
// the usage to stderr and returns a usageError.
func parseArgs(fs *flag.FlagSet, args []string, maxArgs int, stdout, stderr io.Writer) error {
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	fs.SetOutput(stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		_, _ = buf.WriteTo(stdout)
		fs.SetOutput(stdout)
		return errHelp
	case err != nil:
		_, _ = buf.WriteTo(stderr)
		return usageError{fmt.Errorf("%s: %w", fs.Name(), err)}
	case maxArgs >= 0 && fs.NArg() > maxArgs:
		return badUsage(fs, stderr, "unexpected argument %q", fs.Arg(maxArgs))
	}
	return nil
}

// badUsage prints a command line problem and fs's usage to stderr and
// returns it as a usageError.
func badUsage(fs *flag.FlagSet, stderr io.Writer, format string, a ...any) error {
	err := fmt.Errorf("%s: "+format, append([]any{fs.Name()}, a...)...)
	fmt.Fprintln(stderr, err)
	fs.SetOutput(stderr)
	fs.Usage()
	return usageError{err}
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
