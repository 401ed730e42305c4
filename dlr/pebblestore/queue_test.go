package pebblestore

import (
	"testing"
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/storetest"
)

func TestPebbleQueueOrphans(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openPebble(t, dir, nil)
	t.Cleanup(func() { s.Close() })
	storetest.CheckQueueOrphans(t, s, func() {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}, func() dlr.QueueStore {
		s = openPebble(t, dir, nil)
		return s
	}, time.Now())
}
