package pebblestore

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/disktest"
)

// commits records what a store's OnCommit is told.
type commits struct {
	mu     sync.Mutex
	writes int
	calls  int
	errs   []error
}

func (c *commits) observe(_ time.Duration, writes int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if err != nil {
		c.errs = append(c.errs, err)
		return
	}
	c.writes += writes
}

func (c *commits) get() (writes, calls int, errs []error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes, c.calls, append([]error(nil), c.errs...)
}

// TestPebbleSyncIntervalAcksBeforeSync: with SyncInterval a write is
// acknowledged while the disk's syncs hang; once they go on, the syncer
// syncs every write (OnCommit is told of them all), and after Close every
// acknowledged write is there.
func TestPebbleSyncIntervalAcksBeforeSync(t *testing.T) {
	t.Parallel()
	fs := disktest.New()
	dir := t.TempDir()
	var seen commits
	s, err := Open(Config{Dir: dir, FS: fs, SyncInterval: time.Millisecond, OnCommit: seen.observe})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	fs.HoldSyncs()
	const n = 50
	for i := range n {
		id := fmt.Sprint("held", i)
		if err := outcome(t, func(done func(error)) { s.PutMapping(diskMapping(id), done) }); err != nil {
			t.Fatal(err)
		}
	}
	if w, _, _ := seen.get(); w != 0 {
		t.Fatalf("OnCommit told of %d synced writes while every sync hangs", w)
	}
	fs.ReleaseSyncs()
	eventually(t, "the syncer syncs every write", func() bool { w, _, _ := seen.get(); return w == n })
	if _, _, errs := seen.get(); len(errs) != 0 {
		t.Fatalf("syncs failed: %v", errs)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openPebble(t, dir, nil)
	for i := range n {
		id := fmt.Sprint("held", i)
		if r, ok, err := s.Get("u", id); err != nil || !ok || r.ClientID != "c"+id {
			t.Fatalf("acknowledged mapping %s after a reopen: %+v, %v, %v", id, r, ok, err)
		}
	}
}

// TestPebbleSyncIntervalCloseSyncs: Close syncs the writes the syncer has
// not reached yet.
func TestPebbleSyncIntervalCloseSyncs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var seen commits
	s, err := Open(Config{Dir: dir, SyncInterval: time.Hour, OnCommit: seen.observe})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := range n {
		id := fmt.Sprint("late", i)
		if err := outcome(t, func(done func(error)) { s.PutMapping(diskMapping(id), done) }); err != nil {
			t.Fatal(err)
		}
	}
	if w, calls, _ := seen.get(); w != 0 || calls != 0 {
		t.Fatalf("OnCommit called %d times (%d writes) before the first interval ended", calls, w)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if w, calls, errs := seen.get(); w != n || calls != 1 || len(errs) != 0 {
		t.Fatalf("Close: OnCommit called %d times for %d writes (errors %v), want once for %d", calls, w, errs, n)
	}
	s = openPebble(t, dir, nil)
	defer s.Close()
	for i := range n {
		if _, ok, err := s.Get("u", fmt.Sprint("late", i)); err != nil || !ok {
			t.Fatalf("mapping late%d after a reopen: %v, %v", i, ok, err)
		}
	}
}

// TestPebbleSyncIntervalFault: a sync of the syncer that fails marks the
// store unhealthy, as a failed commit does, and OnCommit is told; once
// the disk heals the store opens again and takes writes.
func TestPebbleSyncIntervalFault(t *testing.T) {
	t.Parallel()
	fs := disktest.New()
	dir := t.TempDir()
	var seen commits
	s, err := Open(Config{Dir: dir, FS: fs, SyncInterval: time.Millisecond, OnCommit: seen.observe,
		CheckEvery: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	if err := outcome(t, func(done func(error)) { s.PutMapping(diskMapping("first"), done) }); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the first write synced", func() bool { w, _, _ := seen.get(); return w == 1 })
	fs.FailSyncs(syscall.EIO)
	// The commit itself does not sync: it is acknowledged.
	if err := outcome(t, func(done func(error)) { s.PutMapping(diskMapping("second"), done) }); err != nil {
		t.Fatalf("write before the failed sync: %v", err)
	}
	eventually(t, "Health reports the failed sync", func() bool {
		err := s.Health()
		return err != nil && strings.Contains(err.Error(), "I/O error")
	})
	// The fence trips inside the sync, before the syncer tells OnCommit.
	eventually(t, "OnCommit told of the failed sync", func() bool { _, _, errs := seen.get(); return len(errs) > 0 })
	if err := outcome(t, func(done func(error)) { s.PutMapping(diskMapping("third"), done) }); err == nil {
		t.Fatal("write acknowledged by a store whose sync failed")
	}
	fs.Heal()
	waitHealthy(t, s, true, "Health nil once the disk heals")
	if err := outcome(t, func(done func(error)) { s.PutMapping(diskMapping("fourth"), done) }); err != nil {
		t.Fatalf("write after the disk healed: %v", err)
	}
}

// killChildEnv names the directory a child process of
// TestPebbleSyncIntervalSurvivesKill writes in.
const killChildEnv = "SMPPMUX_PEBBLE_KILL_CHILD_DIR"

// TestPebbleSyncIntervalSurvivesKill: a process that wrote with a sync
// interval longer than the test is killed with SIGKILL once its writes
// are acknowledged; every write whose callback ran is there when the
// store opens again: the WAL was written before the callback, and the
// page cache outlives the process. (Pebble's NoSync commits would lose
// the last block of the WAL, still in the process's memory.)
func TestPebbleSyncIntervalSurvivesKill(t *testing.T) {
	if dir := os.Getenv(killChildEnv); dir != "" {
		killChild(dir)
		return
	}
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestPebbleSyncIntervalSurvivesKill$", "-test.count=1")
	cmd.Env = append(os.Environ(), killChildEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	lines := bufio.NewScanner(out)
	killed := false
	for lines.Scan() {
		if lines.Text() == "all acked" && !killed {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
		if id, ok := strings.CutPrefix(lines.Text(), "acked "); ok {
			acked = append(acked, id)
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("the child ended before it was killed, after %d writes: %v", len(acked), err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, not by SIGKILL", cmd.ProcessState)
	}
	s := openPebble(t, dir, nil)
	defer s.Close()
	for _, id := range acked {
		if r, ok, err := s.Get("u", id); err != nil || !ok || r.ClientID != "c"+id {
			t.Fatalf("mapping %s, acknowledged before the kill, after a reopen: %+v, %v, %v (%d acknowledged)", id, r, ok, err, len(acked))
		}
	}
	if len(acked) != killWrites {
		t.Fatalf("%d writes acknowledged, want %d", len(acked), killWrites)
	}
	t.Logf("%d acknowledged writes, all there after SIGKILL", len(acked))
}

// killChild writes killWrites mappings in dir with an hour's sync
// interval, printing the id of each acknowledged one, then "all acked",
// and waits to be killed.
func killChild(dir string) {
	s, err := Open(Config{Dir: dir, SyncInterval: time.Hour})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range killWrites {
		id := fmt.Sprint("k", i)
		wg.Add(1)
		s.PutMapping(diskMapping(id), func(err error) {
			defer wg.Done()
			if err != nil {
				return
			}
			mu.Lock()
			fmt.Fprintln(w, "acked", id)
			w.Flush()
			mu.Unlock()
		})
	}
	wg.Wait()
	fmt.Fprintln(w, "all acked")
	w.Flush()
	select {}
}

// killWrites is how many writes the child makes: fewer than fill one
// block of the WAL (32 KiB), which NoSync commits would leave in memory.
const killWrites = 50
