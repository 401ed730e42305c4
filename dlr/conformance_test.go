package dlr_test

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/storetest"
	"github.com/smppmux/smppmux/internal/redistest"
)

func TestMemStoreConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(*testing.T) dlr.Store { return dlr.NewMemStore(nil) }, storetest.Volatile())
}

func TestRedisStoreConformance(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) dlr.Store {
		// One Redis for every part, each store under a prefix of its own.
		s, err := dlr.OpenRedis(dlr.RedisConfig{Addrs: []string{r.Addr}, Instance: 1, LeaseTTL: time.Second,
			Prefix: "t" + strconv.FormatInt(n.Add(1), 10) + ":"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

// TestRedisOutboxItemsAndPurge: Items and Purge of a shared outbox in
// Redis.
func TestRedisOutboxItemsAndPurge(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	store, err := dlr.OpenRedis(dlr.RedisConfig{Addrs: []string{r.Addr}, Instance: 1, LeaseTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
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
