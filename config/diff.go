package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Changes is what differs between two configurations, and the reload
// rules: which keys a reload applies live and which need a restart. They
// are decided here only; the daemon applies what Changes says.
type Changes struct {
	// Restart lists the keys whose change only a restart applies. A
	// reload with any of them is refused whole.
	Restart []string
	// Live says, one line each, what a reload applies.
	Live []string

	// TLS says the SMPP over TLS listener's certificate files changed
	// (renewed files apply on every reload anyway).
	TLS bool
	// LogLevel says log.level changed.
	LogLevel bool
	// Submit says server.submit_timeout or server.no_route_status
	// changed.
	Submit bool
	// Clients, Upstreams and Groups say which entities of each kind were
	// added, removed or changed.
	Clients, Upstreams, Groups Entities
	// Routes and MORoutes say the routes or the MO routes changed.
	Routes, MORoutes bool
}

// Entities lists the entities of one kind (clients by system_id,
// upstreams and groups by name) a reload adds, removes or changes.
type Entities struct {
	Added   []string
	Removed []string
	Changed []Changed
}

// Changed is one entity whose settings changed, with the keys that did,
// as the file writes them below the entity ("window",
// "breaker.failures").
type Changed struct {
	Name string
	Keys []string
}

// Kept reports whether the entity name is in both configurations with the
// same settings: what was built for it may stay.
func (e Entities) Kept(name string) bool {
	return !slices.Contains(e.Added, name) && !slices.Contains(e.Removed, name) &&
		!slices.ContainsFunc(e.Changed, func(c Changed) bool { return c.Name == name })
}

// Empty reports whether nothing differs.
func (c Changes) Empty() bool { return len(c.Restart) == 0 && len(c.Live) == 0 }

// Diff compares the running configuration old with next. A nil old is
// the first configuration: every entity is added, and nothing needs a
// restart.
func Diff(old, next *Config) Changes {
	var c Changes
	if old == nil {
		c.Clients.Added = names(next.Clients, clientName)
		c.Upstreams.Added = names(next.Upstreams, upstreamName)
		c.Groups.Added = names(next.Groups, groupName)
		c.Routes, c.MORoutes, c.Submit, c.LogLevel = true, len(next.MORoutes) > 0, true, true
		return c
	}
	restart := func(key string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			c.Restart = append(c.Restart, key)
		}
	}
	restart("listen.smpp", old.Listen.SMPP, next.Listen.SMPP)
	restart("listen.admin", old.Listen.Admin, next.Listen.Admin)
	restart("listen.smpp_tls", old.Listen.SMPPTLS, next.Listen.SMPPTLS)
	if old.TLS != next.TLS {
		c.TLS = true
		c.Live = append(c.Live, "tls")
	}
	restart("admin.token", old.Admin, next.Admin)
	restart("state_dir", old.StateDir, next.StateDir)
	restart("log.format", old.Log.Format, next.Log.Format)
	restart("receipts", old.Receipts, next.Receipts)
	// The store (store.sync and sync_interval too) is opened once.
	restart("store", old.Store, next.Store)
	// The submit settings apply live; the refused-bind cap is read at
	// start only, and a change of it alone is no change.
	os, ns := old.Server, next.Server
	os.SubmitTimeout, ns.SubmitTimeout = 0, 0
	os.NoRouteStatus, ns.NoRouteStatus = "", ""
	os.FailedBindsPerIP, ns.FailedBindsPerIP = 0, 0
	os.FailedBindWindow, ns.FailedBindWindow = 0, 0
	restart("server (session timers)", os, ns)

	if old.Log.Level != next.Log.Level {
		c.LogLevel = true
		c.Live = append(c.Live, fmt.Sprintf("log.level %s -> %s", old.Log.Level, next.Log.Level))
	}
	if old.Server.SubmitTimeout != next.Server.SubmitTimeout || old.Server.NoRouteStatus != next.Server.NoRouteStatus {
		c.Submit = true
		c.Live = append(c.Live, "server.submit_timeout / server.no_route_status")
	}
	c.Clients = diffNamed(old.Clients, next.Clients, clientName)
	c.Upstreams = diffNamed(old.Upstreams, next.Upstreams, upstreamName)
	c.Groups = diffNamed(old.Groups, next.Groups, groupName)
	c.Live = append(c.Live, c.Clients.lines("client")...)
	c.Live = append(c.Live, c.Upstreams.lines("upstream")...)
	c.Live = append(c.Live, c.Groups.lines("group")...)
	if !reflect.DeepEqual(old.Routes, next.Routes) {
		c.Routes = true
		c.Live = append(c.Live, "routes")
	}
	if !reflect.DeepEqual(old.MORoutes, next.MORoutes) {
		c.MORoutes = true
		c.Live = append(c.Live, "mo_routes")
	}
	return c
}

func clientName(x Client) string     { return x.SystemID }
func upstreamName(x Upstream) string { return x.Name }
func groupName(x Group) string       { return x.Name }

func names[T any](xs []T, name func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = name(x)
	}
	return out
}

// lines says what changed, one line per entity, in the order added,
// changed, removed.
func (e Entities) lines(kind string) []string {
	var out []string
	for _, n := range e.Added {
		out = append(out, fmt.Sprintf("%s %s added", kind, n))
	}
	for _, ch := range e.Changed {
		out = append(out, fmt.Sprintf("%s %s changed", kind, ch.Name))
	}
	for _, n := range e.Removed {
		out = append(out, fmt.Sprintf("%s %s removed", kind, n))
	}
	return out
}

// diffNamed lists the added, removed and changed elements of two lists
// keyed by name, each changed one with the keys that differ.
func diffNamed[T any](old, next []T, name func(T) string) Entities {
	var e Entities
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
			e.Added = append(e.Added, n)
		case !reflect.DeepEqual(prev, x):
			e.Changed = append(e.Changed, Changed{Name: n, Keys: changedKeys("", reflect.ValueOf(prev), reflect.ValueOf(x))})
		}
	}
	for _, x := range old {
		if n := name(x); !is[n] {
			e.Removed = append(e.Removed, n)
		}
	}
	return e
}

// changedKeys returns the keys, below prefix, whose values differ between
// a and b, two values of one struct type: a struct field is looked into,
// any other is compared whole.
func changedKeys(prefix string, a, b reflect.Value) []string {
	var out []string
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if key == "" {
			key = strings.ToLower(f.Name)
		}
		key = joinPath(prefix, key)
		fa, fb := a.Field(i), b.Field(i)
		if f.Type.Kind() == reflect.Struct {
			out = append(out, changedKeys(key, fa, fb)...)
			continue
		}
		if !reflect.DeepEqual(fa.Interface(), fb.Interface()) {
			out = append(out, key)
		}
	}
	return out
}
