// Package router picks where a message goes: the connection group of a
// submit, the client of a mobile-originated message. It starts no
// goroutines and is read-only once built.
//
// A route matches a message when each of its conditions holds (client
// system_id, destination prefix, source prefix, service_type; an absent
// condition always holds). Of the matching routes, the one whose
// destination prefix matched longest wins; among equals, the one written
// first. So "44" beats a catch-all written before it, "447" beats "44", and
// without prefixes the first matching route wins.
package router

import (
	"bytes"
	"slices"
)

// Rule is one routing rule leading to a Target. Empty conditions match
// everything.
type Rule[T any] struct {
	Clients           []string // system_ids
	DestinationPrefix []string // digits; a leading '+' is ignored
	SourcePrefix      []string
	ServiceType       []string
	Target            T
}

// Message is what routing looks at.
type Message struct {
	SystemID    string
	Source      []byte
	Destination []byte
	ServiceType []byte
}

// Router holds routes in order.
type Router[T any] struct {
	routes []Rule[T]
}

// New returns a Router over routes, in order.
func New[T any](routes []Rule[T]) *Router[T] {
	rs := make([]Rule[T], len(routes))
	for i, r := range routes {
		r.DestinationPrefix = slices.Clone(r.DestinationPrefix)
		for j, p := range r.DestinationPrefix {
			if len(p) > 0 && p[0] == '+' {
				r.DestinationPrefix[j] = p[1:]
			}
		}
		rs[i] = r
	}
	return &Router[T]{routes: rs}
}

// Match returns the target of the route m takes, and false when no route
// matches.
func (r *Router[T]) Match(m Message) (T, bool) {
	dest := m.Destination
	if len(dest) > 0 && dest[0] == '+' {
		dest = dest[1:]
	}
	var best T
	bestLen := -1
	for i := range r.routes {
		rt := &r.routes[i]
		if len(rt.Clients) > 0 && !slices.Contains(rt.Clients, m.SystemID) {
			continue
		}
		if len(rt.ServiceType) > 0 && !slices.Contains(rt.ServiceType, string(m.ServiceType)) {
			continue
		}
		if len(rt.SourcePrefix) > 0 && longestPrefix(m.Source, rt.SourcePrefix) < 0 {
			continue
		}
		n := 0
		if len(rt.DestinationPrefix) > 0 {
			if n = longestPrefix(dest, rt.DestinationPrefix); n < 0 {
				continue
			}
		}
		if n > bestLen {
			best, bestLen = rt.Target, n
		}
	}
	return best, bestLen >= 0
}

// longestPrefix returns the length of the longest of prefixes that s starts
// with, -1 when none.
func longestPrefix(s []byte, prefixes []string) int {
	n := -1
	for _, p := range prefixes {
		if len(p) > n && bytes.HasPrefix(s, []byte(p)) {
			n = len(p)
		}
	}
	return n
}
