package dlr

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smppmux/smppmux/internal/redistest"
)

// idMappings are the mappings of the id conformance suite: an SMSC that
// issued aB1, Ab1, 07 and 7, which fold alike in pairs, and Xy9, alone of
// its folded form; another upstream with an aB1 of its own; and one
// expired.
func idMappings(now time.Time) []Mapping {
	m := func(upstream, id, client string, ttl time.Duration) Mapping {
		return Mapping{Upstream: upstream, UpstreamID: id, Expires: now.Add(ttl),
			Route: Route{SystemID: "shop", ClientID: client, Session: 3, Submitted: 42}}
	}
	return []Mapping{
		m("u", "aB1", "c1", time.Hour), m("u", "Ab1", "c2", time.Hour),
		m("u", "07", "c3", time.Hour), m("u", "7", "c4", time.Hour),
		m("u", "Xy9", "c5", time.Hour), m("v", "aB1", "c6", time.Hour),
		m("u", "Gone1", "c7", -time.Second),
	}
}

// checkStoreIDs checks the answers of s, holding idMappings, to every
// lookup of an upstream id: by the id as written (Get, and GetAsync for
// an AsyncGetter), by its folded form (GetFolded, GetFoldedAsync), and by
// the client's id (ByClient, which gives the upstream id as written).
// Every Store gives the same answers.
func checkStoreIDs(t *testing.T, s Store) {
	t.Helper()
	exact := []struct{ upstream, id, client string }{
		{"u", "aB1", "c1"}, {"u", "Ab1", "c2"}, {"u", "07", "c3"}, {"u", "7", "c4"}, {"u", "Xy9", "c5"},
		{"v", "aB1", "c6"}, {"u", "AB1", ""}, {"u", "ab1", ""}, {"u", "007", ""}, {"u", "xy9", ""},
		{"v", "Ab1", ""}, {"u", "Gone1", ""}, {"w", "aB1", ""},
	}
	for _, tt := range exact {
		r, ok, err := s.Get(tt.upstream, tt.id)
		if err != nil || ok != (tt.client != "") || r.ClientID != tt.client {
			t.Errorf("Get(%s, %s) = %+v, %v, %v; want client %q", tt.upstream, tt.id, r, ok, err, tt.client)
		}
		if ok && (r.SystemID != "shop" || r.Session != 3 || r.Submitted != 42) {
			t.Errorf("Get(%s, %s) = %+v", tt.upstream, tt.id, r)
		}
		if ag, isAsync := s.(AsyncGetter); isAsync {
			done := make(chan struct{})
			ag.GetAsync(tt.upstream, tt.id, func(ar Route, aok bool, aerr error) {
				if aerr != nil || aok != ok || ar != r {
					t.Errorf("GetAsync(%s, %s) = %+v, %v, %v; Get said %+v, %v", tt.upstream, tt.id, ar, aok, aerr, r, ok)
				}
				close(done)
			})
			<-done
		}
	}
	folded := []struct {
		upstream, folded string
		n                int
		client           string
	}{
		{"u", "ab1", 2, ""}, {"u", "7", 2, ""}, {"u", "xy9", 1, "c5"}, {"v", "ab1", 1, "c6"},
		{"u", "zz", 0, ""}, {"u", "gone1", 0, ""}, {"w", "ab1", 0, ""},
	}
	for _, tt := range folded {
		r, n, err := s.GetFolded(tt.upstream, tt.folded)
		if err != nil || n != tt.n || r.ClientID != tt.client {
			t.Errorf("GetFolded(%s, %s) = %+v, %d, %v; want %d, client %q", tt.upstream, tt.folded, r, n, err, tt.n, tt.client)
		}
	}
	finds := []struct {
		upstream string
		ref      Ref
		res      Result
		client   string
	}{
		{"u", Ref{ID: "aB1"}, Found, "c1"}, {"u", Ref{"aB1", "ab1"}, Found, "c1"},
		{"u", Ref{ID: "AB1"}, NotFound, ""}, {"u", Ref{"AB1", "ab1"}, Ambiguous, ""},
		{"u", Ref{"007", "7"}, Ambiguous, ""}, {"u", Ref{"7", "7"}, Found, "c4"},
		{"u", Ref{"XY9", "xy9"}, Found, "c5"}, {"u", Ref{"xy9", "xy9"}, Found, "c5"}, {"u", Ref{ID: "xy9"}, NotFound, ""},
		{"v", Ref{"AB1", "ab1"}, Found, "c6"}, {"u", Ref{"GONE1", "gone1"}, NotFound, ""}, {"u", Ref{"zz", "zz"}, NotFound, ""},
	}
	for _, tt := range finds {
		r, res, err := Find(s, tt.upstream, tt.ref)
		if err != nil || res != tt.res || r.ClientID != tt.client {
			t.Errorf("Find(%s, %+v) = %+v, %v, %v; want %v, client %q", tt.upstream, tt.ref, r, res, err, tt.res, tt.client)
		}
		if ag, isAsync := s.(AsyncGetter); isAsync {
			done := make(chan struct{})
			ag.FindAsync(tt.upstream, tt.ref, func(ar Route, ares Result, aerr error) {
				if aerr != nil || ares != res || ar != r {
					t.Errorf("FindAsync(%s, %+v) = %+v, %v, %v; Find said %+v, %v", tt.upstream, tt.ref, ar, ares, aerr, r, res)
				}
				close(done)
			})
			<-done
		}
	}
	for client, want := range map[string]string{"c1": "aB1", "c2": "Ab1", "c3": "07", "c4": "7", "c5": "Xy9"} {
		m, ok, err := s.ByClient("shop", client)
		if err != nil || !ok || m.Upstream != "u" || m.UpstreamID != want || m.ClientID != client {
			t.Errorf("ByClient(shop, %s) = %+v, %v, %v; want upstream id %q", client, m, ok, err, want)
		}
	}
	if _, ok, err := s.ByClient("shop", "c7"); ok || err != nil {
		t.Errorf("ByClient of an expired mapping: %v, %v", ok, err)
	}
}

// testIDGivenAgain writes through w, to a store holding idMappings, the
// mapping of an id the SMSC gives again, and checks in r that it goes to
// its new message, still apart from the ids that only fold like it.
func testIDGivenAgain(t *testing.T, w, r Store, now time.Time) {
	t.Helper()
	again := Mapping{Upstream: "u", UpstreamID: "Xy9", Expires: now.Add(time.Hour), Route: Route{SystemID: "shop", ClientID: "c8"}}
	putSync(t, w, again)
	if route, ok, err := r.Get("u", "Xy9"); !ok || err != nil || route.ClientID != "c8" {
		t.Errorf("Get of an id given again = %+v, %v, %v; want c8", route, ok, err)
	}
	if route, n, err := r.GetFolded("u", "xy9"); n != 1 || err != nil || route.ClientID != "c8" {
		t.Errorf("GetFolded of an id given again = %+v, %d, %v; want c8 alone", route, n, err)
	}
	if m, ok, err := r.ByClient("shop", "c5"); !ok || err != nil || m.UpstreamID != "Xy9" {
		t.Errorf("ByClient of the message whose id was given again = %+v, %v, %v", m, ok, err)
	}
	if _, n, err := r.GetFolded("u", "ab1"); n != 2 || err != nil {
		t.Errorf("GetFolded(ab1) after another write = %d, %v", n, err)
	}
}

func TestRedisStoreIDs(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	now := time.Now()
	a := openRedis(t, r.Addr, 1, nil)
	for _, m := range idMappings(now) {
		putSync(t, a, m)
	}
	checkStoreIDs(t, a)
	// Another instance reads them from Redis, not from its memory.
	b := openRedis(t, r.Addr, 2, nil)
	checkStoreIDs(t, b)
	testIDGivenAgain(t, a, b, now)
}

// TestRedisOldLayout: mappings an earlier version wrote to Redis (under
// folded ids, values without the layout octet) are found by any case of
// the id for OldLayoutFor after this version first opened the store, by
// another instance too; after that, by the folded id itself only.
func TestRedisOldLayout(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	clock := &manualClock{now: time.Now()}
	old := Mapping{Upstream: "u", UpstreamID: "abc1", Expires: clock.Now().Add(100 * time.Hour),
		Route: Route{SystemID: "shop", ClientID: "c1", Session: 9, Submitted: 77}}
	v := encodeMapping(old)
	v = v[:len(v)-1]
	if !earlierLayout(v) || earlierLayout(encodeMapping(old)) {
		t.Fatal("layouts not told apart")
	}
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer c.Close()
	ctx := context.Background()
	for _, k := range []string{"smppmux:m:u:abc1", "smppmux:c:{shop}:c1"} {
		if err := c.Set(ctx, k, v, 100*time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	mod := func(cfg *RedisConfig) { cfg.Now, cfg.OldLayoutFor = clock.Now, time.Hour }
	a := openRedis(t, r.Addr, 1, mod)
	// A new message with an id that is not its own folded form is not
	// taken for an earlier version's mapping.
	putSync(t, a, Mapping{Upstream: "u", UpstreamID: "Xy9", Expires: clock.Now().Add(time.Hour), Route: Route{SystemID: "shop", ClientID: "c2"}})
	if _, ok, err := a.Get("u", "XY9"); ok || err != nil {
		t.Fatalf("XY9 found as an earlier version's mapping of Xy9: %v, %v", ok, err)
	}
	check := func(s *RedisStore, ids ...string) {
		t.Helper()
		for _, id := range ids {
			if route, ok, err := s.Get("u", id); !ok || err != nil || route != old.Route {
				t.Fatalf("Get(%s) of an old mapping = %+v, %v, %v", id, route, ok, err)
			}
		}
		if route, n, err := s.GetFolded("u", "abc1"); n != 1 || err != nil || route != old.Route {
			t.Fatalf("GetFolded of an old mapping = %+v, %d, %v", route, n, err)
		}
		if m, ok, err := s.ByClient("shop", "c1"); !ok || err != nil || m.UpstreamID != "abc1" {
			t.Fatalf("ByClient of an old mapping = %+v, %v, %v", m, ok, err)
		}
	}
	check(a, "ABC1", "abc1", "0abc1")
	clock.Add(30 * time.Minute)
	// An instance opened later keeps the window of the first.
	b := openRedis(t, r.Addr, 2, mod)
	check(b, "ABC1")
	clock.Add(31 * time.Minute)
	for _, s := range []*RedisStore{a, b} {
		if _, ok, err := s.Get("u", "ABC1"); ok || err != nil {
			t.Fatalf("old mapping found by another case after the window: %v, %v", ok, err)
		}
		check(s, "abc1")
	}
}
