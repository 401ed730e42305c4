package pebblestore

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/disktest"
)

// fatalHook counts the Fatal lines logged and ends the goroutine that
// logged one, instead of the process, so the test sees it.
type fatalHook struct{ n atomic.Int32 }

func (h *fatalHook) OnWrite(*zapcore.CheckedEntry, []zapcore.Field) {
	h.n.Add(1)
	runtime.Goexit()
}

// faultyStore opens a store on fs that looks at the disk every few
// milliseconds, logging to the returned observer.
func faultyStore(t *testing.T, dir string, fs *disktest.FS) (*Store, *observer.ObservedLogs, *fatalHook) {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	fatal := &fatalHook{}
	s, err := Open(Config{Dir: dir, FS: fs, CheckEvery: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond,
		Logger: zap.New(core, zap.WithFatalHook(fatal))})
	if err != nil {
		t.Fatal(err)
	}
	return s, logs, fatal
}

// outcome runs a write and returns the error its callback got, failing
// the test if the callback does not come.
func outcome(t *testing.T, write func(done func(error))) error {
	t.Helper()
	errc := make(chan error, 1)
	write(func(err error) { errc <- err })
	return received(t, errc, "a write never finished: the store's committer is gone")
}

// received returns the error c gives, failing the test with never if
// none comes within 30s.
func received(t *testing.T, c <-chan error, never string) error {
	t.Helper()
	select {
	case err := <-c:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal(never)
		return nil
	}
}

// waitHealthy waits, woken by s.HealthChanged, until s.Health() is nil
// (healthy) or an error (!healthy), failing the test after 30 s.
func waitHealthy(t *testing.T, s *Store, healthy bool, what string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		ch := s.HealthChanged()
		if (s.Health() == nil) == healthy {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%s: not within 30s", what)
		}
	}
}

// eventually waits for cond, failing the test after a deadline. For what
// no signal announces: a health error's text, counters of the fakes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func diskMapping(id string) dlr.Mapping {
	return dlr.Mapping{Upstream: "u", UpstreamID: id, Origin: dlr.Origin{SystemID: "shop", ClientID: "c" + id, Session: 1},
		Expires: time.Now().Add(time.Hour)}
}

// TestPebbleDiskFaults: the disk fails under a Store (full,
// read-only, I/O errors). Pebble's fatal handler is never called, writes
// fail instead of being acknowledged, Health names the store and the
// cause, the store takes writes again by itself once the disk heals, and
// every write acknowledged before, during or after is there after a
// restart, while none that failed is.
func TestPebbleDiskFaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		errno syscall.Errno
		cause string
	}{
		{syscall.ENOSPC, "disk full"},
		{syscall.EROFS, "read-only"},
		{syscall.EIO, "I/O error"},
	} {
		t.Run(tc.cause, func(t *testing.T) {
			t.Parallel()
			fs := disktest.New()
			dir := t.TempDir()
			s, logs, fatal := faultyStore(t, dir, fs)
			defer func() { s.Close() }()
			var acked, failed []string
			var items []*dlr.Item
			for i := range 20 {
				id := fmt.Sprint("before", i)
				if err := outcome(t, func(done func(error)) { s.PutMapping(diskMapping(id), done) }); err != nil {
					t.Fatal(err)
				}
				acked = append(acked, id)
			}
			for i := range 3 {
				it := &dlr.Item{Raw: []byte{byte(i)}}
				if err := outcome(t, func(done func(error)) { s.AddOutbox("shop", it, done) }); err != nil {
					t.Fatal(err)
				}
				items = append(items, it)
			}

			fs.Fail(tc.errno)
			for i := range 10 {
				id := fmt.Sprint("during", i)
				if err := outcome(t, func(done func(error)) { s.PutMapping(diskMapping(id), done) }); err == nil {
					t.Fatalf("write %d acknowledged while the disk fails (%d faults injected)", i, fs.Faults())
				}
				failed = append(failed, id)
			}
			lost := &dlr.Item{Raw: []byte("lost")}
			if err := outcome(t, func(done func(error)) { s.AddOutbox("shop", lost, done) }); err == nil {
				t.Fatal("outbox item acknowledged while the disk fails")
			}
			err := s.Health()
			if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), tc.cause) {
				t.Fatalf("Health while the disk fails = %v, want the store's directory and %q", err, tc.cause)
			}
			t.Logf("Health: %v", err)
			// A delivered item's delete waits for the disk.
			if err := s.DeleteOutbox("shop", items[1].Seq); err != nil {
				t.Fatalf("delete while the disk fails: %v", err)
			}
			if n := fatal.n.Load(); n != 0 {
				t.Fatalf("Pebble's fatal handler was called %d times", n)
			}

			fs.Heal()
			waitHealthy(t, s, true, "Health nil once the disk heals")
			for i := range 5 {
				id := fmt.Sprint("after", i)
				if err := outcome(t, func(done func(error)) { s.PutMapping(diskMapping(id), done) }); err != nil {
					t.Fatalf("write after the disk healed: %v", err)
				}
				acked = append(acked, id)
			}
			if n := fatal.n.Load(); n != 0 {
				t.Fatalf("Pebble's fatal handler was called %d times", n)
			}
			if n := logs.FilterLevelExact(zap.WarnLevel).Len() + logs.FilterLevelExact(zap.ErrorLevel).Len(); n > 10 {
				t.Errorf("%d warn and error lines for one fault:\n%v", n, messages(logs))
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s = openPebble(t, dir, nil)
			for _, id := range acked {
				if r, ok, err := s.Get("u", id); err != nil || !ok || r.ClientID != "c"+id {
					t.Fatalf("acknowledged mapping %s after a restart: %+v, %v, %v", id, r, ok, err)
				}
			}
			for _, id := range failed {
				if _, ok, err := s.Get("u", id); err != nil || ok {
					t.Fatalf("failed mapping %s found after a restart: %v, %v", id, ok, err)
				}
			}
			var got []uint64
			if err := s.LoadOutbox(func(_ string, it *dlr.Item) { got = append(got, it.Seq) }); err != nil {
				t.Fatal(err)
			}
			if want := []uint64{items[0].Seq, items[2].Seq}; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("outbox after a restart: %v, want %v (the delivered and the failed items gone)", got, want)
			}
		})
	}
}

func messages(logs *observer.ObservedLogs) string {
	var b strings.Builder
	for _, e := range logs.All() {
		if e.Level >= zap.WarnLevel {
			fmt.Fprintf(&b, "%s %s %v\n", e.Level, e.Message, e.ContextMap())
		}
	}
	return b.String()
}

// TestPebbleUndoesWritesReportedFailed: a sync fails after the write
// reached the page cache. The outbox item was reported failed (its SMSC
// sends the receipt again), so once the store opens again it is deleted,
// not delivered a second time after the next restart.
func TestPebbleUndoesWritesReportedFailed(t *testing.T) {
	t.Parallel()
	fs := disktest.New()
	dir := t.TempDir()
	s, _, _ := faultyStore(t, dir, fs)
	defer func() { s.Close() }()
	kept := &dlr.Item{Raw: []byte("kept")}
	if err := outcome(t, func(done func(error)) { s.AddOutbox("shop", kept, done) }); err != nil {
		t.Fatal(err)
	}
	fs.FailSyncs(syscall.EIO)
	unsure := &dlr.Item{Raw: []byte("unsure")}
	if err := outcome(t, func(done func(error)) { s.AddOutbox("shop", unsure, done) }); err == nil {
		t.Fatal("outbox item acknowledged though its sync failed")
	}
	fs.Heal()
	s = healedAndReopened(t, s, dir)
	checkOnlyKept(t, s)
}

// healedAndReopened waits until s, on a disk that healed, takes writes
// again, closes it and returns the store of dir opened again.
func healedAndReopened(t *testing.T, s *Store, dir string) *Store {
	t.Helper()
	waitHealthy(t, s, true, "Health nil once the disk heals")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return openPebble(t, dir, nil)
}

// checkOnlyKept checks that the outbox of s holds only the item "kept".
func checkOnlyKept(t *testing.T, s *Store) {
	t.Helper()
	var got []string
	if err := s.LoadOutbox(func(_ string, it *dlr.Item) { got = append(got, string(it.Raw)) }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[kept]" {
		t.Fatalf("outbox after a restart: %q, want only the acknowledged item", got)
	}
}

// TestPebbleLowSpace: below the low-water mark the store takes no writes,
// without touching the database, and takes them again once the space is
// back above twice the mark.
func TestPebbleLowSpace(t *testing.T) {
	t.Parallel()
	fs := disktest.New()
	dir := t.TempDir()
	s, _, _ := faultyStore(t, dir, fs)
	defer s.Close()
	const total = 1 << 30 // low-water mark 32 MiB, writes resume at 64
	fs.SetUsage(20<<20, total)
	waitHealthy(t, s, false, "Health non-nil on a nearly full disk")
	err := s.Health()
	if !strings.Contains(err.Error(), "disk full: 20 MiB free of 1024 MiB") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Health = %v", err)
	}
	if err := outcome(t, func(done func(error)) { s.PutMapping(diskMapping("low"), done) }); err == nil {
		t.Fatal("write acknowledged below the low-water mark")
	}
	if _, ok, err := s.Get("u", "low"); ok || err != nil {
		t.Fatalf("refused mapping: %v, %v", ok, err)
	}
	fs.SetUsage(40<<20, total)
	looked := fs.UsageReads()
	eventually(t, "three looks at the free space", func() bool { return fs.UsageReads() >= looked+3 })
	if s.Health() == nil {
		t.Fatal("writes taken again between the two marks")
	}
	fs.SetUsage(100<<20, total)
	waitHealthy(t, s, true, "Health nil once space is back")
	if err := outcome(t, func(done func(error)) { s.PutMapping(diskMapping("back"), done) }); err != nil {
		t.Fatal(err)
	}
	if fs.Faults() != 0 {
		t.Fatalf("%d faults", fs.Faults())
	}
}

// TestPebbleOpensLater: a store whose disk is full when it opens is made
// all the same, says so, runs what waits for its open once it opens, and
// then has what it stored before.
func TestPebbleOpensLater(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openPebble(t, dir, nil)
	it := &dlr.Item{Raw: []byte("waiting")}
	if err := outcome(t, func(done func(error)) { s.AddOutbox("shop", it, done) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fs := disktest.New()
	fs.Fail(syscall.ENOSPC)
	s, _, fatal := faultyStore(t, dir, fs)
	defer s.Close()
	if err := s.Health(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Health of a store opened on a full disk = %v", err)
	}
	if err := s.LoadOutbox(func(string, *dlr.Item) {}); err == nil {
		t.Fatal("LoadOutbox served by a store that is not open")
	}
	var restored []string
	after := make(chan error, 1)
	s.AfterOpen(func() { after <- s.Health() })
	ran := make(chan struct{})
	if err := s.WhenOpen(func() error {
		defer close(ran)
		if s.Health() == nil {
			t.Error("the store took writes before what waited for its open ran")
		}
		return s.LoadOutbox(func(_ string, it *dlr.Item) { restored = append(restored, string(it.Raw)) })
	}); err != nil {
		t.Fatal(err)
	}
	if err := outcome(t, func(done func(error)) { s.PutMapping(diskMapping("full"), done) }); err == nil {
		t.Fatal("write acknowledged by a store that is not open")
	}
	fs.Heal()
	select {
	case <-ran:
	case <-time.After(30 * time.Second):
		t.Fatal("what waited for the open never ran")
	}
	if err := received(t, after, "what waited for writes never ran"); err != nil {
		t.Fatalf("what waited for writes ran before the store took them: %v", err)
	}
	waitHealthy(t, s, true, "Health nil once the disk heals")
	if fmt.Sprint(restored) != "[waiting]" {
		t.Fatalf("restored %q", restored)
	}
	if err := outcome(t, func(done func(error)) { s.PutMapping(diskMapping("open"), done) }); err != nil {
		t.Fatal(err)
	}
	if n := fatal.n.Load(); n != 0 {
		t.Fatalf("Pebble's fatal handler was called %d times", n)
	}
	var called bool
	if err := s.WhenOpen(func() error { called = true; return errors.New("now") }); err == nil || !called {
		t.Fatalf("WhenOpen on an open store: %v, called %v; want fn run now", err, called)
	}
	called = false
	s.AfterOpen(func() { called = true })
	if !called {
		t.Fatal("AfterOpen on an open store did not run fn now")
	}
}

// TestPebbleOpenErrorStillFails: an error that is no fault of the disk
// (here the database is held already) still fails Open.
func TestPebbleOpenErrorStillFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openPebble(t, dir, nil)
	defer s.Close()
	if again, err := Open(Config{Dir: dir}); err == nil {
		again.Close()
		t.Fatal("a database already held opened twice")
	} else if !strings.Contains(err.Error(), "open store "+dir) {
		t.Fatalf("error %v does not name the store", err)
	}
}

// TestPebbleStall: a disk that hangs instead of failing holds the commit
// under way; past StallAfter the store says its writes are stalled, so
// new submits are refused, and once the disk answers the write lands and
// the store takes writes again.
func TestPebbleStall(t *testing.T) {
	t.Parallel()
	fs := disktest.New()
	s, err := Open(Config{Dir: t.TempDir(), FS: fs, CheckEvery: 5 * time.Millisecond, StallAfter: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fs.HoldSyncs()
	errc := make(chan error, 1)
	s.PutMapping(diskMapping("slow"), func(err error) { errc <- err })
	eventually(t, "Health says the writes are stalled", func() bool {
		err := s.Health()
		return err != nil && strings.Contains(err.Error(), "writes stalled: a commit has waited")
	})
	fs.ReleaseSyncs()
	if err := received(t, errc, "the stalled write never finished once the disk answered"); err != nil {
		t.Fatalf("the stalled write: %v", err)
	}
	waitHealthy(t, s, true, "Health nil once the disk answers")
}
