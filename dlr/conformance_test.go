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

func TestPebbleStoreConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) dlr.Store {
		s, err := dlr.OpenPebble(dlr.PebbleConfig{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
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
