package dlr

import (
	"context"
	"runtime"
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
			Origin: Origin{SystemID: "shop", ClientID: client, Session: 3, Submitted: 42}}
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
			ag.GetAsync(tt.upstream, tt.id, func(ar Origin, aok bool, aerr error) {
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
			ag.FindAsync(tt.upstream, tt.ref, func(ar Origin, ares Result, aerr error) {
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

// testStoreIDs writes idMappings to s and checks the answers, then those
// to an id given again.
func testStoreIDs(t *testing.T, s Store, now time.Time) {
	t.Helper()
	for _, m := range idMappings(now) {
		putSync(t, s, m)
	}
	checkStoreIDs(t, s)
	testIDGivenAgain(t, s, s, now)
}

// testIDGivenAgain writes through w, to a store holding idMappings, the
// mapping of an id the SMSC gives again, and checks in r that it goes to
// its new message, still apart from the ids that only fold like it.
func testIDGivenAgain(t *testing.T, w, r Store, now time.Time) {
	t.Helper()
	again := Mapping{Upstream: "u", UpstreamID: "Xy9", Expires: now.Add(time.Hour), Origin: Origin{SystemID: "shop", ClientID: "c8"}}
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

func TestMemStoreIDs(t *testing.T) {
	t.Parallel()
	testStoreIDs(t, NewMemStore(nil), time.Now())
}

func TestPebbleStoreIDs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Now()
	s := openPebble(t, dir, nil)
	for _, m := range idMappings(now) {
		putSync(t, s, m)
	}
	checkStoreIDs(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// From the tables, not from the ring of recent mappings.
	s = openPebble(t, dir, nil)
	defer s.Close()
	if s.old.Load() {
		t.Fatal("a store of this layout looks for the earlier one")
	}
	checkStoreIDs(t, s)
	fresh := openPebble(t, t.TempDir(), nil)
	defer fresh.Close()
	testStoreIDs(t, fresh, now)
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

// TestPebbleOldLayout: a database an earlier version wrote, with mappings
// under folded ids, is still read after an upgrade (by any case of the
// id, as then), beside mappings of this version; once its last old
// mapping is swept, lookups no longer look for the earlier layout.
func TestPebbleOldLayout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := &manualClock{now: time.Unix(100_000, 0)}
	s := openPebble(t, dir, clock.Now)
	exp := clock.Now().Add(time.Hour)
	// What the earlier version wrote for a message the SMSC called ABC1,
	// its client c1.
	b := s.cur.Load().NewBatch()
	val := u64(nil, uint64(exp.UnixNano()))
	val = u64(val, 9)
	val = u64(val, 77)
	val = append(append(val, byte(len("shop"))), "shopc1"...)
	for _, kv := range [][2][]byte{
		{oldMappingKey("u", "abc1"), val},
		{append(u64([]byte{kindOldExpiry}, uint64(exp.UnixNano())), "u\x00abc1"...), []byte("shop\x00c1")},
		{clientKeyBytes("shop", "c1"), append(append(u64(nil, uint64(exp.UnixNano())), 1), "uabc1"...)},
	} {
		if err := b.Set(kv[0], kv[1], nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openPebble(t, dir, clock.Now)
	defer s.Close()
	if !s.old.Load() {
		t.Fatal("the earlier layout was not noticed")
	}
	want := Origin{SystemID: "shop", ClientID: "c1", Session: 9, Submitted: 77}
	for _, id := range []string{"ABC1", "abc1", "0abc1"} {
		if r, ok, err := s.Get("u", id); !ok || err != nil || r != want {
			t.Fatalf("Get(%s) of an old mapping = %+v, %v, %v", id, r, ok, err)
		}
	}
	if r, n, err := s.GetFolded("u", "abc1"); n != 1 || err != nil || r != want {
		t.Fatalf("GetFolded of an old mapping = %+v, %d, %v", r, n, err)
	}
	if m, ok, err := s.ByClient("shop", "c1"); !ok || err != nil || m.UpstreamID != "abc1" || m.Origin != want {
		t.Fatalf("ByClient of an old mapping = %+v, %v, %v", m, ok, err)
	}
	// A new message whose id folds alike: its own id finds it; the
	// folded form is now ambiguous.
	putSync(t, s, Mapping{Upstream: "u", UpstreamID: "aBc1", Origin: Origin{SystemID: "shop", ClientID: "c2"}, Expires: exp.Add(time.Hour)})
	if r, ok, err := s.Get("u", "aBc1"); !ok || err != nil || r.ClientID != "c2" {
		t.Fatalf("Get of a new mapping = %+v, %v, %v", r, ok, err)
	}
	if _, n, err := s.GetFolded("u", "abc1"); n != 2 || err != nil {
		t.Fatalf("GetFolded over both layouts = %d, %v; want 2", n, err)
	}
	clock.Add(time.Hour + time.Second)
	if n, err := s.Sweep(); n != 1 || err != nil {
		t.Fatalf("Sweep = %d, %v; want the old mapping", n, err)
	}
	if s.old.Load() {
		t.Fatal("still looking for the earlier layout after its last mapping was swept")
	}
	if _, ok, err := s.Get("u", "ABC1"); ok || err != nil {
		t.Fatalf("old mapping found after its expiry: %v, %v", ok, err)
	}
	if r, n, err := s.GetFolded("u", "abc1"); n != 1 || err != nil || r.ClientID != "c2" {
		t.Fatalf("GetFolded after the sweep = %+v, %d, %v", r, n, err)
	}
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
		Origin: Origin{SystemID: "shop", ClientID: "c1", Session: 9, Submitted: 77}}
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
	putSync(t, a, Mapping{Upstream: "u", UpstreamID: "Xy9", Expires: clock.Now().Add(time.Hour), Origin: Origin{SystemID: "shop", ClientID: "c2"}})
	if _, ok, err := a.Get("u", "XY9"); ok || err != nil {
		t.Fatalf("XY9 found as an earlier version's mapping of Xy9: %v, %v", ok, err)
	}
	check := func(s *RedisStore, ids ...string) {
		t.Helper()
		for _, id := range ids {
			if route, ok, err := s.Get("u", id); !ok || err != nil || route != old.Origin {
				t.Fatalf("Get(%s) of an old mapping = %+v, %v, %v", id, route, ok, err)
			}
		}
		if route, n, err := s.GetFolded("u", "abc1"); n != 1 || err != nil || route != old.Origin {
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

// TestFoldedLookupWaitsForWrites: while the write of a mapping whose id
// folds like a receipt's is under way, a folded lookup finds nothing (the
// receipt waits, and the write claims it), even with another mapping of
// that form stored; a lookup of another id as written is not held up.
func TestFoldedLookupWaitsForWrites(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	ps := openPebble(t, t.TempDir(), nil)
	t.Cleanup(func() { _ = ps.Close() })
	for name, s := range map[string]interface {
		Store
		lock()
		unlock()
	}{
		"pebble": pebbleLocker{ps},
		"redis":  redisLocker{openRedis(t, r.Addr, 1, nil)},
	} {
		exp := time.Now().Add(time.Hour)
		putSync(t, s, Mapping{Upstream: "u", UpstreamID: "Ab1", Origin: Origin{SystemID: "shop", ClientID: "c1"}, Expires: exp})
		if route, n, err := s.GetFolded("u", "ab1"); n != 1 || err != nil || route.ClientID != "c1" {
			t.Fatalf("%s: GetFolded = %+v, %d, %v", name, route, n, err)
		}
		// Holding the write lock keeps the next write queued.
		s.lock()
		errc := make(chan error, 1)
		go s.PutMapping(Mapping{Upstream: "u", UpstreamID: "aB1", Origin: Origin{SystemID: "shop", ClientID: "c2"}, Expires: exp},
			func(err error) { errc <- err })
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, n, err := s.GetFolded("u", "ab1")
			if err != nil {
				s.unlock()
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				s.unlock()
				t.Fatalf("%s: a folded lookup never waited for the write", name)
			}
			runtime.Gosched()
		}
		if route, ok, err := s.Get("u", "Ab1"); !ok || err != nil || route.ClientID != "c1" {
			t.Errorf("%s: Get of another id of the form while a write is queued = %+v, %v, %v", name, route, ok, err)
		}
		s.unlock()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if _, n, err := s.GetFolded("u", "ab1"); n != 2 || err != nil {
			t.Fatalf("%s: GetFolded after the write = %d, %v; want 2", name, n, err)
		}
	}
}

type pebbleLocker struct{ *PebbleStore }

func (s pebbleLocker) lock()   { s.mu.Lock() }
func (s pebbleLocker) unlock() { s.mu.Unlock() }

type redisLocker struct{ *RedisStore }

func (s redisLocker) lock()   { s.mu.Lock() }
func (s redisLocker) unlock() { s.mu.Unlock() }
