// Package configgen writes smppmux configurations of a chosen size, for
// the benchmarks and tests of configuration at scale: many clients,
// upstreams, groups and routes around one path the measured traffic
// takes. It starts no goroutines.
//
// The traffic's path is the same at every size: the client "shop"
// (password "secret") submits to destinations starting with
// TrafficPrefix, which the last route written sends to the group g00,
// whose one member is the upstream u00. Every other client, upstream,
// group and route is there to make the configuration big: clients
// c0000, c0001...; upstreams u01... and groups g01... of two or three
// members each; routes on distinct destination prefixes of 3 to 7
// random digits, one in ten bound to a client, none starting with
// TrafficPrefix; shorter prefixes of it may be among them (447 is, in
// the 10,000 of make bench-config).
package configgen

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// TrafficPrefix is the destination prefix of the traffic's route;
// smppmux bench's destinations start with it.
const TrafficPrefix = "4477"

// Traffic client's credentials.
const (
	TrafficSystemID = "shop"
	TrafficPassword = "secret"
)

// Params sizes and places a configuration.
type Params struct {
	// Clients, Upstreams, Groups and Routes count every client, upstream,
	// group and route, the traffic's included; each at least 1.
	Clients, Upstreams, Groups, Routes int
	// SMPP and Admin are the listen addresses; SMSC the address every
	// upstream binds to.
	SMPP, Admin, SMSC string
	// StateDir is state_dir; Sync is store.sync (empty: the default).
	StateDir, Sync string
	// Window is every client's and upstream's window.
	Window int
	// Changed writes the configuration with one client (c0000, its
	// window halved) and one route (the first, to another group)
	// changed: a reload from the other one changes them and keeps
	// everything else.
	Changed bool
}

// ClientID returns the system_id of client i, and its password.
func ClientID(i int) (systemID, password string) {
	return fmt.Sprintf("c%04d", i), fmt.Sprintf("p%07d", i)
}

// UpstreamName returns the name of upstream i; u00 carries the traffic.
func UpstreamName(i int) string { return fmt.Sprintf("u%02d", i) }

// Write writes the configuration p describes as YAML.
func Write(w io.Writer, p Params) error {
	if p.Clients < 1 || p.Upstreams < 1 || p.Groups < 1 || p.Routes < 1 || p.Window < 1 {
		return fmt.Errorf("configgen: clients, upstreams, groups, routes and window must be at least 1")
	}
	if p.Groups > 1 && p.Upstreams < 2 {
		return fmt.Errorf("configgen: groups beyond the traffic's need at least 2 upstreams")
	}
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, "listen: {smpp: %q, admin: %q}\n", p.SMPP, p.Admin)
	fmt.Fprintf(b, "state_dir: %s\n", p.StateDir)
	b.WriteString("log: {level: info, format: console}\n")
	if p.Sync != "" {
		fmt.Fprintf(b, "store: {sync: %s}\n", p.Sync)
	}

	b.WriteString("clients:\n")
	for i := range p.Clients - 1 {
		id, pw := ClientID(i)
		window := p.Window
		if p.Changed && i == 0 {
			window = max(1, window/2)
		}
		fmt.Fprintf(b, "  - {system_id: %s, password: %s, window: %d}\n", id, pw, window)
	}
	fmt.Fprintf(b, "  - {system_id: %s, password: %s, window: %d}\n", TrafficSystemID, TrafficPassword, p.Window)

	b.WriteString("upstreams:\n")
	for i := range p.Upstreams {
		fmt.Fprintf(b, "  - {name: %s, addr: %q, system_id: mux, password: pw, bind: trx, binds: 1, window: %d}\n",
			UpstreamName(i), p.SMSC, p.Window)
	}

	b.WriteString("groups:\n")
	b.WriteString("  - {name: g00, members: [{upstream: u00}]}\n")
	modes := []string{"active-active", "active-standby", "adaptive"}
	for i := 1; i < p.Groups; i++ {
		var ms []string
		for k := range 2 + i%2 {
			ms = append(ms, "{upstream: "+UpstreamName(1+(i+k*7)%(p.Upstreams-1))+"}")
		}
		fmt.Fprintf(b, "  - {name: g%02d, mode: %s, members: [%s]}\n", i, modes[i%3], strings.Join(unique(ms), ", "))
	}

	b.WriteString("routes:\n")
	rnd := rand.New(rand.NewPCG(uint64(p.Routes), 16))
	seen := map[string]bool{}
	for i := 0; i < p.Routes-1; {
		prefix := strconv.Itoa(1 + rnd.IntN(9))
		for range 2 + rnd.IntN(5) {
			prefix += strconv.Itoa(rnd.IntN(10))
		}
		if strings.HasPrefix(prefix, TrafficPrefix) || seen[prefix] {
			continue
		}
		seen[prefix] = true
		group := 1 + i%max(1, p.Groups-1)
		if p.Groups == 1 {
			group = 0
		}
		if p.Changed && i == 0 && p.Groups > 2 {
			group = 1 + (group % max(1, p.Groups-1))
		}
		fmt.Fprintf(b, "  - {destination_prefix: [%q], group: g%02d", prefix, group)
		if i%10 == 0 && p.Clients > 1 {
			id, _ := ClientID(i / 10 % (p.Clients - 1))
			fmt.Fprintf(b, ", clients: [%s]", id)
		}
		b.WriteString("}\n")
		i++
	}
	fmt.Fprintf(b, "  - {destination_prefix: [%q], group: g00}\n", TrafficPrefix)
	return b.Flush()
}

// unique returns l without repeats, in order.
func unique(l []string) []string {
	var out []string
	for _, s := range l {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
