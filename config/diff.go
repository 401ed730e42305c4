package config

import (
	"fmt"
	"reflect"
)

// Changes is what differs between two configurations.
type Changes struct {
	// Restart lists the keys whose change only a restart applies. A
	// reload with any of them is refused whole.
	Restart []string
	// Live says, one line each, what a reload applies.
	Live []string
}

// Empty reports whether nothing differs.
func (c Changes) Empty() bool { return len(c.Restart) == 0 && len(c.Live) == 0 }

// Diff compares the running configuration old with next.
func Diff(old, next *Config) Changes {
	var c Changes
	restart := func(key string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			c.Restart = append(c.Restart, key)
		}
	}
	restart("listen.smpp", old.Listen.SMPP, next.Listen.SMPP)
	restart("listen.admin", old.Listen.Admin, next.Listen.Admin)
	restart("listen.smpp_tls", old.Listen.SMPPTLS, next.Listen.SMPPTLS)
	if old.TLS != next.TLS {
		c.Live = append(c.Live, "tls")
	}
	restart("admin.token", old.Admin, next.Admin)
	restart("state_dir", old.StateDir, next.StateDir)
	restart("log.format", old.Log.Format, next.Log.Format)
	restart("receipts", old.Receipts, next.Receipts)
	restart("store", old.Store, next.Store)
	os, ns := old.Server, next.Server
	os.SubmitTimeout, ns.SubmitTimeout = 0, 0
	os.NoRouteStatus, ns.NoRouteStatus = "", ""
	os.FailedBindsPerIP, ns.FailedBindsPerIP = 0, 0
	os.FailedBindWindow, ns.FailedBindWindow = 0, 0
	restart("server (session timers)", os, ns)

	if old.Log.Level != next.Log.Level {
		c.Live = append(c.Live, fmt.Sprintf("log.level %s -> %s", old.Log.Level, next.Log.Level))
	}
	if old.Server.SubmitTimeout != next.Server.SubmitTimeout || old.Server.NoRouteStatus != next.Server.NoRouteStatus {
		c.Live = append(c.Live, "server.submit_timeout / server.no_route_status")
	}
	c.Live = append(c.Live, diffNamed("client", old.Clients, next.Clients, func(x Client) string { return x.SystemID })...)
	c.Live = append(c.Live, diffNamed("upstream", old.Upstreams, next.Upstreams, func(x Upstream) string { return x.Name })...)
	c.Live = append(c.Live, diffNamed("group", old.Groups, next.Groups, func(x Group) string { return x.Name })...)
	if !reflect.DeepEqual(old.Routes, next.Routes) {
		c.Live = append(c.Live, "routes")
	}
	if !reflect.DeepEqual(old.MORoutes, next.MORoutes) {
		c.Live = append(c.Live, "mo_routes")
	}
	return c
}

// diffNamed lists the added, removed and changed elements of two lists
// keyed by name.
func diffNamed[T any](kind string, old, next []T, name func(T) string) []string {
	var out []string
	was := make(map[string]T, len(old))
	for _, x := range old {
		was[name(x)] = x
	}
	is := make(map[string]bool, len(next))
	for _, x := range next {
		n := name(x)
		is[n] = true
		prev, ok := was[n]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s %s added", kind, n))
		case !reflect.DeepEqual(prev, x):
			out = append(out, fmt.Sprintf("%s %s changed", kind, n))
		}
	}
	for _, x := range old {
		if n := name(x); !is[n] {
			out = append(out, fmt.Sprintf("%s %s removed", kind, n))
		}
	}
	return out
}
