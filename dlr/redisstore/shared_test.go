package redisstore

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/storetest"
	"github.com/smppmux/smppmux/internal/redistest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) dlr.Store {
		// One Redis for every part, each store under a prefix of its own.
		return openRedis(t, r.Addr, 1, func(c *Config) { c.Prefix = "t" + strconv.FormatInt(n.Add(1), 10) + ":" })
	})
}

// TestRedisOutboxItemsAndPurge: Items and Purge of a shared outbox in
// Redis.
func TestRedisOutboxItemsAndPurge(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	store := openRedis(t, r.Addr, 1, nil)
	o := dlr.NewOutbox(dlr.OutboxConfig{Store: store, Receivers: func(string) []dlr.Receiver { return nil }})
	defer o.Close()
	storetest.CheckItemsAndPurge(t, o, func() int {
		n, _, err := store.OutboxLen("shop")
		if err != nil {
			t.Fatal(err)
		}
		return n
	})
}

func TestRedisStoreIDs(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	now := time.Now()
	a := openRedis(t, r.Addr, 1, nil)
	for _, m := range storetest.IDMappings(now) {
		storetest.PutSync(t, a, m)
	}
	storetest.CheckIDs(t, a)
	// Another instance reads them from Redis, not from its memory.
	b := openRedis(t, r.Addr, 2, nil)
	storetest.CheckIDs(t, b)
	storetest.CheckIDGivenAgain(t, a, b, now)
}

// TestRedisOldLayout: mappings an earlier version wrote to Redis (under
// folded ids, values without the layout octet) are found by any case of
// the id for OldLayoutFor after this version first opened the store, by
// another instance too; after that, by the folded id itself only.
func TestRedisOldLayout(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	clock := storetest.NewClock(time.Now())
	old := dlr.Mapping{Upstream: "u", UpstreamID: "abc1", Expires: clock.Now().Add(100 * time.Hour),
		Origin: dlr.Origin{SystemID: "shop", ClientID: "c1", Session: 9, Submitted: 77}}
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
	mod := func(cfg *Config) { cfg.Now, cfg.OldLayoutFor = clock.Now, time.Hour }
	a := openRedis(t, r.Addr, 1, mod)
	// A new message with an id that is not its own folded form is not
	// taken for an earlier version's mapping.
	storetest.PutSync(t, a, dlr.Mapping{Upstream: "u", UpstreamID: "Xy9", Expires: clock.Now().Add(time.Hour), Origin: dlr.Origin{SystemID: "shop", ClientID: "c2"}})
	if _, ok, err := a.Get("u", "XY9"); ok || err != nil {
		t.Fatalf("XY9 found as an earlier version's mapping of Xy9: %v, %v", ok, err)
	}
	check := func(s *Store, ids ...string) {
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
	for _, s := range []*Store{a, b} {
		if _, ok, err := s.Get("u", "ABC1"); ok || err != nil {
			t.Fatalf("old mapping found by another case after the window: %v, %v", ok, err)
		}
		check(s, "abc1")
	}
}
func TestRedisStoreMarks(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	a := openRedis(t, r.Addr, 1, nil)
	storetest.CheckMarks(t, a, time.Now())
	// Another instance finds the marks of the first.
	b := openRedis(t, r.Addr, 2, nil)
	if !storetest.Relayed(t, b, dlr.Mark{Upstream: "u", ID: "aB7", State: dlr.StateDelivered}) {
		t.Fatal("a mark written by one instance not found by another")
	}
}

// TestRedisDeadLetterNeedsLease: an instance that does not hold the
// client's lease cannot move its items: the holder may be delivering
// them.
func TestRedisDeadLetterNeedsLease(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	a := openRedis(t, r.Addr, 1, nil)
	b := openRedis(t, r.Addr, 2, nil)
	it, err := storetest.AddSync(t, a, "shop", "a")
	if err != nil {
		t.Fatal(err)
	}
	if g, err := b.Lease("shop"); !g.Ours() || err != nil {
		t.Fatalf("b.Lease = %v, %v", g, err)
	}
	if _, err := storetest.Bury(a, "shop", it, dlr.ReasonRefused); !errors.Is(err, dlr.ErrNotLeased) {
		t.Fatalf("dead letter without the lease: %v, want dlr.ErrNotLeased", err)
	}
	if items, _ := a.Pending("shop", 0, 10); len(items) != 1 {
		t.Fatalf("outbox holds %d items, want the one", len(items))
	}
	if list, _ := a.DeadLetters("shop", 0, 10); len(list) != 0 {
		t.Fatalf("%d dead letters written without the lease", len(list))
	}
	if _, err := storetest.Bury(b, "shop", it, dlr.ReasonRefused); err != nil {
		t.Fatalf("dead letter by the lease holder: %v", err)
	}
}
