// Package router picks the connection group of a message from ordered
// routes: the first route whose conditions all match wins. It starts no
// goroutines and is read-only once built.
package router

import (
	"bytes"

	"github.com/smppmux/smppmux/balancer"
)

// Route is one routing rule. Empty conditions match everything.
type Route struct {
	Clients           []string // system_ids
	DestinationPrefix []string // digits; a leading '+' is ignored
	Group             *balancer.Group
}

// Router holds routes in order.
type Router struct {
	routes []Route
}

// New returns a Router over routes, in order.
func New(routes []Route) *Router {
	rs := make([]Route, len(routes))
	for i, r := range routes {
		r.DestinationPrefix = append([]string(nil), r.DestinationPrefix...)
		for j, p := range r.DestinationPrefix {
			if len(p) > 0 && p[0] == '+' {
				r.DestinationPrefix[j] = p[1:]
			}
		}
		rs[i] = r
	}
	return &Router{routes: rs}
}

// Match returns the group for a message from systemID to dest, nil when no
// route matches.
func (r *Router) Match(systemID string, dest []byte) *balancer.Group {
	if len(dest) > 0 && dest[0] == '+' {
		dest = dest[1:]
	}
	for i := range r.routes {
		rt := &r.routes[i]
		if len(rt.Clients) > 0 && !contains(rt.Clients, systemID) {
			continue
		}
		if len(rt.DestinationPrefix) > 0 && !hasPrefix(dest, rt.DestinationPrefix) {
			continue
		}
		return rt.Group
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func hasPrefix(dest []byte, prefixes []string) bool {
	for _, p := range prefixes {
		if bytes.HasPrefix(dest, []byte(p)) {
			return true
		}
	}
	return false
}
