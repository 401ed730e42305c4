package memstore

import (
	"sync"
	"testing"
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/storetest"
)

func TestMemStoreConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(*testing.T) dlr.Store { return New(nil) }, storetest.Volatile())
}

func TestMemStoreTTL(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := New(clock)
	storetest.CheckMappings(t, s, now)
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	if _, ok, _ := s.Get("a", "1"); ok {
		t.Fatal("expired mapping still found")
	}
}
