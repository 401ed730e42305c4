package router

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// linear is the router as it was before the trie: every route checked for
// every message. It is the reference the trie must agree with.
type linear[T any] struct{ routes []Rule[T] }

func newLinear[T any](routes []Rule[T]) *linear[T] {
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
	return &linear[T]{routes: rs}
}

func (r *linear[T]) Match(m Message) (T, bool) {
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

func longestPrefix(s []byte, prefixes []string) int {
	n := -1
	for _, p := range prefixes {
		if len(p) > n && bytes.HasPrefix(s, []byte(p)) {
			n = len(p)
		}
	}
	return n
}

// randomRoutes makes n routes over a small alphabet, so that prefixes,
// clients, sources and service types collide often: shared and nested
// prefixes, duplicates, '+', empty prefixes, letters beside digits.
func randomRoutes(rnd *rand.Rand, n int) []Rule[int] {
	pick := func(k int, one func() string) []string {
		var l []string
		for range rnd.IntN(k + 1) {
			l = append(l, one())
		}
		return l
	}
	prefix := func() string {
		var b []byte
		if rnd.IntN(8) == 0 {
			b = append(b, '+')
		}
		for range rnd.IntN(5) {
			b = append(b, "1234A"[rnd.IntN(5)])
		}
		return string(b)
	}
	client := func() string { return "c" + strconv.Itoa(rnd.IntN(4)) }
	source := func() string { return []string{"", "B", "Br", "1", "12"}[rnd.IntN(5)] }
	service := func() string { return []string{"", "OTP", "CMT"}[rnd.IntN(3)] }
	routes := make([]Rule[int], n)
	for i := range routes {
		routes[i] = Rule[int]{
			Clients:           pick(2, client),
			DestinationPrefix: pick(3, prefix),
			SourcePrefix:      pick(2, source),
			ServiceType:       pick(1, service),
			Target:            i,
		}
	}
	return routes
}

func randomMessage(rnd *rand.Rand) Message {
	var dest []byte
	if rnd.IntN(6) == 0 {
		dest = append(dest, '+')
	}
	for range rnd.IntN(7) {
		dest = append(dest, "1234A5"[rnd.IntN(6)])
	}
	return Message{
		SystemID:    "c" + strconv.Itoa(rnd.IntN(5)),
		Source:      []byte([]string{"", "B", "Brand", "1", "123", "9"}[rnd.IntN(6)]),
		Destination: dest,
		ServiceType: []byte([]string{"", "OTP", "CMT", "X"}[rnd.IntN(4)]),
	}
}

// TestMatchAgreesWithLinear: on random route sets and messages, the trie
// picks the route the linear walk picks, or none when it finds none.
func TestMatchAgreesWithLinear(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		agree(t, rnd, 30, 200)
	}
}

func FuzzMatchAgreesWithLinear(f *testing.F) {
	f.Add(uint64(1), uint64(2))
	f.Fuzz(func(t *testing.T, a, b uint64) {
		agree(t, rand.New(rand.NewPCG(a, b)), 40, 100)
	})
}

// agree draws up to maxRoutes routes and n messages and fails t at the
// first message the trie and the linear walk route differently.
func agree(t *testing.T, rnd *rand.Rand, maxRoutes, n int) {
	t.Helper()
	routes := randomRoutes(rnd, 1+rnd.IntN(maxRoutes))
	trie, ref := New(routes), newLinear(routes)
	for range n {
		m := randomMessage(rnd)
		got, gotOK := trie.Match(m)
		want, wantOK := ref.Match(m)
		if got != want || gotOK != wantOK {
			t.Fatalf("%+v (dest %q): Match = %d %v, linear %d %v; routes:\n%s",
				m, m.Destination, got, gotOK, want, wantOK, dump(routes))
		}
	}
}

func dump(routes []Rule[int]) string {
	var b bytes.Buffer
	for i, r := range routes {
		fmt.Fprintf(&b, "%d: clients %q dest %q source %q service %q\n", i, r.Clients, r.DestinationPrefix, r.SourcePrefix, r.ServiceType)
	}
	return b.String()
}

// benchRoutes is a table of n routes in the shape of a large
// configuration: distinct destination prefixes of 4 to 7 digits, one in
// ten also bound to a client, a catch-all last.
func benchRoutes(n int) []Rule[int] {
	rnd := rand.New(rand.NewPCG(3, 4))
	routes := make([]Rule[int], 0, n)
	seen := map[string]bool{}
	for len(routes) < n-1 {
		p := strconv.Itoa(1000 + rnd.IntN(9000))
		for range rnd.IntN(4) {
			p += strconv.Itoa(rnd.IntN(10))
		}
		if seen[p] {
			continue
		}
		seen[p] = true
		r := Rule[int]{DestinationPrefix: []string{p}, Target: len(routes)}
		if len(routes)%10 == 0 {
			r.Clients = []string{"client" + strconv.Itoa(len(routes)%1000)}
		}
		routes = append(routes, r)
	}
	return append(routes, Rule[int]{Target: n - 1})
}

// benchmarkMatch matches destinations under the prefixes of the routes
// written last, where a linear walk goes furthest.
func benchmarkMatch(b *testing.B, n int, match func(Message) (int, bool)) {
	routes := benchRoutes(n)
	var msgs []Message
	for i := len(routes) - 2; i >= 0 && len(msgs) < 16; i-- {
		if len(routes[i].Clients) == 0 {
			msgs = append(msgs, Message{SystemID: "shop", Destination: []byte(routes[i].DestinationPrefix[0] + "900001")})
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := match(msgs[i%len(msgs)]); !ok {
			b.Fatal("no route")
		}
		i++
	}
}

func BenchmarkMatch10(b *testing.B)    { benchmarkMatch(b, 10, New(benchRoutes(10)).Match) }
func BenchmarkMatch10000(b *testing.B) { benchmarkMatch(b, 10000, New(benchRoutes(10000)).Match) }
func BenchmarkLinearMatch10(b *testing.B) {
	benchmarkMatch(b, 10, newLinear(benchRoutes(10)).Match)
}
func BenchmarkLinearMatch10000(b *testing.B) {
	benchmarkMatch(b, 10000, newLinear(benchRoutes(10000)).Match)
}
