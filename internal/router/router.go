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
//
// The routes are indexed by destination prefix in a trie, and at each of
// its nodes by client system_id: a lookup walks the destination's digits
// and checks the remaining conditions only on the routes the walk finds,
// so its cost follows the destination's length and the routes sharing its
// prefixes, not the number of routes.
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

// Router holds routes in order, indexed by destination prefix.
type Router[T any] struct {
	routes []Rule[T]
	root   node
}

// node is the trie node of one destination prefix: the routes having that
// prefix among theirs, by index in the order written.
type node struct {
	// any are the routes without a client condition; byClient those with
	// one, under each of their system_ids.
	any      []int32
	byClient map[string][]int32
	digits   [10]*node
	other    map[byte]*node // children by a byte other than a digit
}

// child returns the node under n for byte c, nil when there is none.
func (n *node) child(c byte) *node {
	if c-'0' < 10 {
		return n.digits[c-'0']
	}
	return n.other[c]
}

// add returns the child for byte c, made when missing.
func (n *node) add(c byte) *node {
	if c-'0' < 10 {
		if n.digits[c-'0'] == nil {
			n.digits[c-'0'] = &node{}
		}
		return n.digits[c-'0']
	}
	if n.other == nil {
		n.other = make(map[byte]*node)
	}
	if n.other[c] == nil {
		n.other[c] = &node{}
	}
	return n.other[c]
}

// put records route i under n, once however many of its prefixes lead
// here (the routes are put in order, so the lists stay sorted).
func (n *node) put(i int32, clients []string) {
	if len(clients) == 0 {
		if k := len(n.any); k == 0 || n.any[k-1] != i {
			n.any = append(n.any, i)
		}
		return
	}
	if n.byClient == nil {
		n.byClient = make(map[string][]int32)
	}
	for _, c := range clients {
		l := n.byClient[c]
		if k := len(l); k == 0 || l[k-1] != i {
			n.byClient[c] = append(l, i)
		}
	}
}

// New returns a Router over routes, in order.
func New[T any](routes []Rule[T]) *Router[T] {
	r := &Router[T]{routes: make([]Rule[T], len(routes))}
	for i, rt := range routes {
		rt.DestinationPrefix = slices.Clone(rt.DestinationPrefix)
		for j, p := range rt.DestinationPrefix {
			if len(p) > 0 && p[0] == '+' {
				rt.DestinationPrefix[j] = p[1:]
			}
		}
		r.routes[i] = rt
		if len(rt.DestinationPrefix) == 0 {
			r.root.put(int32(i), rt.Clients)
			continue
		}
		for _, p := range rt.DestinationPrefix {
			n := &r.root
			for k := 0; k < len(p); k++ {
				n = n.add(p[k])
			}
			n.put(int32(i), rt.Clients)
		}
	}
	return r
}

// maxWalk is how many trie nodes a lookup keeps on its stack; a longer
// destination (SMPP's are at most 20 digits) grows the slice.
const maxWalk = 24

// Match returns the target of the route m takes, and false when no route
// matches.
func (r *Router[T]) Match(m Message) (T, bool) {
	dest := m.Destination
	if len(dest) > 0 && dest[0] == '+' {
		dest = dest[1:]
	}
	// The nodes of the destination's prefixes, the root first: a route
	// found under the deepest node whose other conditions hold matched
	// longest (one that matched longer would be under a deeper node and
	// would have failed the same conditions there), and among those, the
	// lowest index was written first.
	var buf [maxWalk]*node
	path := append(buf[:0], &r.root)
	for n, k := &r.root, 0; k < len(dest); k++ {
		if n = n.child(dest[k]); n == nil {
			break
		}
		path = append(path, n)
	}
	for d := len(path) - 1; d >= 0; d-- {
		n := path[d]
		var byClient []int32
		if n.byClient != nil {
			byClient = n.byClient[m.SystemID]
		}
		if i := r.first(n.any, byClient, m); i >= 0 {
			return r.routes[i].Target, true
		}
	}
	var none T
	return none, false
}

// first returns the lowest index among a and b (each sorted) whose route's
// source and service_type conditions m meets, -1 when none does. The
// client condition holds for both lists.
func (r *Router[T]) first(a, b []int32, m Message) int32 {
	for len(a) > 0 || len(b) > 0 {
		var i int32
		if len(b) == 0 || len(a) > 0 && a[0] < b[0] {
			i, a = a[0], a[1:]
		} else {
			i, b = b[0], b[1:]
		}
		rt := &r.routes[i]
		if len(rt.ServiceType) > 0 && !slices.Contains(rt.ServiceType, string(m.ServiceType)) {
			continue
		}
		if len(rt.SourcePrefix) > 0 && !hasPrefix(m.Source, rt.SourcePrefix) {
			continue
		}
		return i
	}
	return -1
}

// hasPrefix reports whether s starts with one of prefixes.
func hasPrefix(s []byte, prefixes []string) bool {
	for _, p := range prefixes {
		if bytes.HasPrefix(s, []byte(p)) {
			return true
		}
	}
	return false
}
