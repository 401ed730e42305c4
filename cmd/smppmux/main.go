// Command smppmux is the SMPP 3.4 proxy and load-balancing daemon, with
// the tools that come with it:
//
//	smppmux [-config FILE]            run the daemon
//	smppmux check-config [FILE]       validate a configuration file
//	smppmux version                   print the version, commit and Go version
//	smppmux sim [flags]               run a simulated SMSC
//	smppmux bench [flags]             bind as an ESME and send a load
//	smppmux send [flags]              send one message and wait for its receipt
//	smppmux idle [flags]              hold many idle binds, to measure memory
//	smppmux ctl [flags] COMMAND       act on a running smppmux through its admin API
//
// main only calls run; everything else takes its inputs as arguments.
// Exit status: 0 on success and for -h, 2 for a command line that is
// wrong (an unknown subcommand or flag, a stray argument), 1 otherwise.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/smppmux/smppmux/internal/buildinfo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode returns the process's exit status for run's error, printing
// the error unless the usage printed already said what was wrong.
func exitCode(err error, stderr io.Writer) int {
	var ue usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.As(err, &ue):
		return 2
	}
	fmt.Fprintln(stderr, "smppmux:", err)
	return 1
}

// run dispatches to a subcommand; ctx is cancelled on SIGINT or SIGTERM.
// Flags before the subcommand are the daemon's (-config, -version); only
// check-config takes -config from there.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("smppmux", usage)
	path := fs.String("config", defaultConfig, "configuration `file`")
	showVersion := fs.Bool("version", false, "print the version, the commit and the Go version, and exit")
	if err := parseArgs(fs, args, -1, stdout, stderr); err != nil {
		return err
	}
	configSet := false
	fs.Visit(func(f *flag.Flag) { configSet = configSet || f.Name == "config" })
	if *showVersion {
		if fs.NArg() > 0 {
			return badUsage(fs, stderr, "-version takes no subcommand, got %q", fs.Arg(0))
		}
		fmt.Fprintln(stdout, buildinfo.Get())
		return nil
	}
	if fs.NArg() == 0 {
		return serve(ctx, *path, stderr)
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	if !slices.Contains(subcommands, cmd) {
		return badUsage(fs, stderr, "unknown subcommand %q", cmd)
	}
	if configSet && cmd != "check-config" {
		return badUsage(fs, stderr, "-config applies to the daemon and check-config, not to %q", cmd)
	}
	switch cmd {
	case "check-config":
		if configSet {
			return checkConfig(append([]string{*path}, rest...), stdout, stderr)
		}
		return checkConfig(rest, stdout, stderr)
	case "version":
		vfs := newFlagSet("smppmux version", "usage: smppmux version\n\nPrints the version, the commit and the Go version smppmux was built with.\n")
		if err := parseArgs(vfs, rest, 0, stdout, stderr); err != nil {
			return err
		}
		fmt.Fprintln(stdout, buildinfo.Get())
		return nil
	case "sim":
		return sim(ctx, rest, stdout, stderr)
	case "bench":
		return bench(ctx, rest, stdout, stderr)
	case "bench-relay":
		return benchRelay(ctx, rest, stdout, stderr)
	case "send":
		return send(ctx, rest, stdout, stderr)
	case "idle":
		return idle(ctx, rest, stdout, stderr)
	case "ctl":
		return ctl(ctx, rest, os.Getenv, stdout, stderr)
	case "help":
		if len(rest) > 0 {
			return badUsage(fs, stderr, "help takes no argument, got %q", rest[0])
		}
	}
	fs.SetOutput(stdout)
	fs.Usage()
	return errHelp
}

// subcommands are the names run knows. bench-relay, for make bench only,
// is left out of the usage.
var subcommands = []string{"check-config", "version", "sim", "bench", "bench-relay", "send", "idle", "ctl", "help"}

// defaultConfig is the configuration file the daemon and check-config
// read when none is named.
const defaultConfig = "/etc/smppmux/config.yaml"

const usage = `usage: smppmux [-config FILE] [subcommand]

smppmux is an SMPP 3.4 proxy and load balancer.

  smppmux [-config FILE]        run the daemon (default /etc/smppmux/config.yaml)
  smppmux check-config [FILE]   check a configuration file (default as above, or -config's);
                                every problem is named by its key
  smppmux version               print the version, the commit and the Go version (also -version)
  smppmux sim [flags]           run a simulated SMSC (smppmux sim -h)
  smppmux bench [flags]         bind as an ESME, send messages, wait for receipts (smppmux bench -h)
  smppmux send [flags]          bind as an ESME, send one message, print its receipt (smppmux send -h)
  smppmux idle [flags]          open and bind many connections and hold them idle (smppmux idle -h)
  smppmux ctl COMMAND           act on a running smppmux: status, upstream stop|start, client
                                kick|suspend|resume, outbox, deadletters, message, log-level
                                (smppmux ctl -h)
  smppmux help                  print this

Every subcommand answers -h with its usage. Exit status: 0 on success,
2 for a wrong command line, 1 for any other failure.

flags:
`
