// Command smppmux is the SMPP 3.4 proxy and load-balancing daemon, with
// the tools that come with it:
//
//	smppmux [-config FILE]            run the daemon
//	smppmux check-config FILE         validate a configuration file
//	smppmux sim [flags]               run a simulated SMSC
//	smppmux bench [flags]             bind as an ESME and send a load
//	smppmux send [flags]              send one message and wait for its receipt
//	smppmux idle [flags]              hold many idle binds, to measure memory
//
// main only calls run; everything else takes its inputs as arguments.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "smppmux:", err)
		os.Exit(1)
	}
}

// run dispatches to a subcommand; ctx is cancelled on SIGINT or SIGTERM.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "check-config":
			return checkConfig(args[1:], stdout)
		case "sim":
			return sim(ctx, args[1:], stdout, stderr)
		case "bench":
			return bench(ctx, args[1:], stdout, stderr)
		case "send":
			return send(ctx, args[1:], stdout, stderr)
		case "idle":
			return idle(ctx, args[1:], stdout, stderr)
		case "help", "-h", "-help", "--help":
			fmt.Fprint(stdout, usage)
			return nil
		}
	}
	return serve(ctx, args, stderr)
}

const usage = `smppmux: SMPP 3.4 proxy and load balancer

  smppmux [-config FILE]        run the daemon (default /etc/smppmux/config.yaml)
  smppmux check-config FILE     check a configuration file; every problem is named by its key
  smppmux sim [flags]           run a simulated SMSC (smppmux sim -h)
  smppmux bench [flags]         bind as an ESME, send messages, wait for receipts (smppmux bench -h)
  smppmux send [flags]          bind as an ESME, send one message, print its receipt (smppmux send -h)
  smppmux idle [flags]          open and bind many connections and hold them idle (smppmux idle -h)
`
