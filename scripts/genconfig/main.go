// Command genconfig writes an smppmux configuration of a chosen size to
// stdout, for make bench-config (scripts/bench-config.sh). See package
// internal/configgen for its shape.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/smppmux/smppmux/internal/configgen"
)

func main() {
	var p configgen.Params
	flag.IntVar(&p.Clients, "clients", 1000, "clients, the traffic's included")
	flag.IntVar(&p.Upstreams, "upstreams", 20, "upstreams")
	flag.IntVar(&p.Groups, "groups", 50, "groups")
	flag.IntVar(&p.Routes, "routes", 10000, "routes")
	flag.StringVar(&p.SMPP, "smpp", "127.0.0.1:2775", "listen.smpp")
	flag.StringVar(&p.Admin, "admin", "127.0.0.1:9090", "listen.admin")
	flag.StringVar(&p.SMSC, "smsc", "127.0.0.1:2776", "address every upstream binds to")
	flag.StringVar(&p.StateDir, "state-dir", "/var/lib/smppmux", "state_dir")
	flag.StringVar(&p.Sync, "sync", "", "store.sync (empty: the default)")
	flag.IntVar(&p.Window, "window", 100, "every client's and upstream's window")
	flag.BoolVar(&p.Changed, "changed", false, "one client and one route changed, for a reload")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "genconfig: no arguments, only flags")
		os.Exit(2)
	}
	if err := configgen.Write(os.Stdout, p); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
