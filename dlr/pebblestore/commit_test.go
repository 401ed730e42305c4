package pebblestore

import (
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/disktest"
)

// callbacks records the order in which writes are told their outcome.
type callbacks struct {
	mu   sync.Mutex
	told []int
	errs []error
}

func (c *callbacks) done(i int) func(error) {
	return func(err error) {
		c.mu.Lock()
		c.told = append(c.told, i)
		c.errs = append(c.errs, err)
		c.mu.Unlock()
	}
}

func (c *callbacks) get() ([]int, []error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.told), slices.Clone(c.errs)
}

// syncHeldStore opens a store on a disk whose syncs a test may hold; the
// syncs are let go, then the store closed, when the test ends.
func syncHeldStore(t *testing.T) (*Store, *disktest.FS) {
	t.Helper()
	fs := disktest.New()
	s, err := Open(Config{Dir: t.TempDir(), FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	t.Cleanup(fs.ReleaseSyncs)
	return s, fs
}

// waitInOrder waits until writers 0 to n are told, and checks they were
// told in that order, all of a failure or all of success.
func (c *callbacks) waitInOrder(t *testing.T, n int, failed bool) {
	t.Helper()
	eventually(t, "every writer told", func() bool {
		told, _ := c.get()
		return len(told) == n+1
	})
	told, errs := c.get()
	for i := range told {
		if told[i] != i || (errs[i] != nil) != failed {
			t.Fatalf("writers told %v with %v, want 0..%d in order, failed %v", told, errs, n, failed)
		}
	}
}

// TestPebblePipelinedCommit: while one batch's sync is in flight, the
// writes queued behind it are applied in the next batch (here the disk
// holds the sync, pipelineMin writes are queued, and ByClient, which
// reads as stored, finds the first of them) and nobody is told before
// their batch is synced; once the disk
// syncs, every writer is told, in the order queued. A committer that
// waits for each sync before it applies the next batch never shows the
// later writes while the first sync is held.
func TestPebblePipelinedCommit(t *testing.T) {
	t.Parallel()
	s, fs := syncHeldStore(t)
	var cb callbacks
	fs.HoldSyncs()
	s.PutMapping(diskMapping("0"), cb.done(0))
	// The committer applies the first batch before it takes the next.
	eventually(t, "the first batch applied", func() bool {
		_, ok, _ := s.ByClient("shop", "c0")
		return ok
	})
	n := 2 * pipelineMin
	for i := 1; i <= n; i++ {
		s.PutMapping(diskMapping(fmt.Sprint(i)), cb.done(i))
	}
	eventually(t, "the writes queued behind a batch whose sync is held applied", func() bool {
		_, ok, _ := s.ByClient("shop", "c1")
		return ok
	})
	if told, _ := cb.get(); len(told) != 0 {
		t.Fatalf("writers %v told while their syncs are held", told)
	}
	fs.ReleaseSyncs()
	cb.waitInOrder(t, n, false)
}

// TestPebbleUnsyncedWritesSyncNothing: a batch made only of marks and
// Forgets is committed without a sync, so they land while the disk's
// syncs hang; a batch that waited for a sync would hold every later
// write.
func TestPebbleUnsyncedWritesSyncNothing(t *testing.T) {
	t.Parallel()
	s, fs := syncHeldStore(t)
	if err := outcome(t, func(done func(error)) { s.PutMapping(diskMapping("1"), done) }); err != nil {
		t.Fatal(err)
	}
	fs.HoldSyncs()
	mark := func(id string) dlr.Mark {
		return dlr.Mark{Upstream: "u", ID: id, State: dlr.StateDelivered, Expires: time.Now().Add(time.Hour)}
	}
	s.PutMark(mark("1"))
	s.Forget("u", "1", "shop", "c1")
	eventually(t, "a mark and a Forget land while syncs hang", func() bool {
		ok, err := s.Relayed(mark("1"))
		_, found, _ := s.ByClient("shop", "c1")
		return ok && err == nil && !found
	})
	s.PutMark(mark("2"))
	eventually(t, "a mark put after them lands while syncs hang", func() bool {
		ok, err := s.Relayed(mark("2"))
		return ok && err == nil
	})
}

// TestPebblePipelinedFault: a sync fails while the next batch is applied
// behind it. Both batches fail, nothing of theirs is acknowledged, and
// after the store has opened the database again and a restart their
// outbox items are gone, as those of one failed batch are.
func TestPebblePipelinedFault(t *testing.T) {
	t.Parallel()
	fs := disktest.New()
	dir := t.TempDir()
	s, _, _ := faultyStore(t, dir, fs)
	defer func() { s.Close() }()
	defer fs.ReleaseSyncs()
	kept := &dlr.Item{Raw: []byte("kept")}
	if err := outcome(t, func(done func(error)) { s.AddOutbox("shop", kept, done) }); err != nil {
		t.Fatal(err)
	}
	fs.HoldSyncs()
	var cb callbacks
	s.AddOutbox("shop", &dlr.Item{Raw: []byte("first")}, cb.done(0))
	eventually(t, "the first batch applied", func() bool { return s.inflight.Load() == 1 && len(s.q) == 0 })
	n := 2 * pipelineMin
	for i := 1; i <= n; i++ {
		s.AddOutbox("shop", &dlr.Item{Raw: fmt.Appendf(nil, "later %d", i)}, cb.done(i))
	}
	eventually(t, "later writes applied behind the held sync", func() bool { return s.inflight.Load() > 1 })
	fs.FailSyncs(syscall.EIO)
	fs.ReleaseSyncs()
	cb.waitInOrder(t, n, true)
	fs.Heal()
	s = healedAndReopened(t, s, dir)
	checkOnlyKept(t, s)
}
