package pebblestore

import (
	"fmt"
	"testing"
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/storetest"
	"github.com/smppmux/smppmux/internal/pdu"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) dlr.Store {
		s := openPebble(t, t.TempDir(), nil)
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestPebbleStoreIDs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Now()
	s := openPebble(t, dir, nil)
	for _, m := range storetest.IDMappings(now) {
		storetest.PutSync(t, s, m)
	}
	storetest.CheckIDs(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// From the tables, not from the ring of recent mappings.
	s = openPebble(t, dir, nil)
	defer s.Close()
	if s.old.Load() {
		t.Fatal("a store of this layout looks for the earlier one")
	}
	storetest.CheckIDs(t, s)
}

// TestPebbleOldLayout: a database an earlier version wrote, with mappings
// under folded ids, is still read after an upgrade (by any case of the
// id, as then), beside mappings of this version; once its last old
// mapping is swept, lookups no longer look for the earlier layout.
func TestPebbleOldLayout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := storetest.NewClock(time.Unix(100_000, 0))
	s := openPebble(t, dir, clock.Now)
	exp := clock.Now().Add(time.Hour)
	// What the earlier version wrote for a message the SMSC called ABC1,
	// its client c1.
	val := u64(nil, uint64(exp.UnixNano()))
	val = u64(val, 9)
	val = u64(val, 77)
	val = append(append(val, byte(len("shop"))), "shopc1"...)
	writeAndClose(t, s, [][2][]byte{
		{oldMappingKey("u", "abc1"), val},
		{append(u64([]byte{kindOldExpiry}, uint64(exp.UnixNano())), "u\x00abc1"...), []byte("shop\x00c1")},
		{clientKeyBytes("shop", "c1"), append(append(u64(nil, uint64(exp.UnixNano())), 1), "uabc1"...)},
	})

	s = openPebble(t, dir, clock.Now)
	defer s.Close()
	if !s.old.Load() {
		t.Fatal("the earlier layout was not noticed")
	}
	want := dlr.Origin{SystemID: "shop", ClientID: "c1", Session: 9, Submitted: 77}
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
	storetest.PutSync(t, s, dlr.Mapping{Upstream: "u", UpstreamID: "aBc1", Origin: dlr.Origin{SystemID: "shop", ClientID: "c2"}, Expires: exp.Add(time.Hour)})
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

// writeAndClose writes the keys and values of kvs to s's database, as
// an earlier version did, and closes s.
func writeAndClose(t *testing.T, s *Store, kvs [][2][]byte) {
	t.Helper()
	b := s.cur.Load().NewBatch()
	for _, kv := range kvs {
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
}

// TestFoldedLookupWaitsForWrites: a folded lookup waits for the write of
// a mapping of its form under way (held by the writer's lock).
func TestFoldedLookupWaitsForWrites(t *testing.T) {
	t.Parallel()
	s := openPebble(t, t.TempDir(), nil)
	defer s.Close()
	storetest.CheckFoldedLookupWaits(t, s, s.mu.Lock, s.mu.Unlock)
}

func TestPebbleStoreMarks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Now()
	s := openPebble(t, dir, nil)
	storetest.CheckMarks(t, s, now)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Marks survive a restart, and the sweep forgets them in their time.
	later := now
	s = openPebble(t, dir, func() time.Time { return later })
	defer s.Close()
	m := dlr.Mark{Upstream: "u", ID: "aB7", State: dlr.StateDelivered}
	if !storetest.Relayed(t, s, m) {
		t.Fatal("a mark lost across a restart")
	}
	later = now.Add(2 * time.Hour)
	if _, err := s.Sweep(); err != nil {
		t.Fatal(err)
	}
	later = now
	if storetest.Relayed(t, s, m) {
		t.Fatal("the sweep left a mark past its time")
	}
}

// TestPebbleDeadLettersSurviveReopen: dead letters, their count and the
// numbering are there after the store is closed and opened again.
func TestPebbleDeadLettersSurviveReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openPebble(t, dir, nil)
	var dead []*dlr.DeadLetter
	for _, text := range []string{"a", "b", "c"} {
		it, err := storetest.AddSync(t, s, "shop", text)
		if err != nil {
			t.Fatal(err)
		}
		if text == "c" {
			break
		}
		d, err := storetest.Bury(s, "shop", it, dlr.ReasonRefused)
		if err != nil {
			t.Fatal(err)
		}
		dead = append(dead, d)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openPebble(t, dir, nil)
	defer s.Close()
	if got := storetest.Bodies(storetest.Lister(s)(t, "shop")); fmt.Sprint(got) != "[c]" {
		t.Fatalf("outbox after reopen: %q, want c", got)
	}
	list, err := s.DeadLetters("shop", 0, 10)
	if err != nil || len(list) != 2 || list[0].Seq != dead[0].Seq || string(list[1].Raw[pdu.HeaderLen:]) != "b" ||
		!list[1].DeadAt.Equal(dead[1].DeadAt) {
		t.Fatalf("dead letters after reopen: %+v, %v", list, err)
	}
	if st, _ := s.DeadLetterStats([]string{"shop"}); st[0].Count != 2 || !st[0].Oldest.Equal(dead[0].DeadAt) {
		t.Fatalf("DeadLetterStats after reopen = %+v", st)
	}
	// Numbers go on after the dead letters, outbox items' too.
	it, err := storetest.AddSync(t, s, "shop", "d")
	if err != nil {
		t.Fatal(err)
	}
	if it.Seq <= dead[1].Seq {
		t.Fatalf("item numbered %d after dead letter %d", it.Seq, dead[1].Seq)
	}
}

// TestOutboxItemsAndPurge: a client without a session keeps its items;
// Items pages through them in order, with text only when asked; Purge
// deletes one, then the rest, and the store forgets them.
func TestOutboxItemsAndPurge(t *testing.T) {
	t.Parallel()
	store := openPebble(t, t.TempDir(), nil)
	defer store.Close()
	o := dlr.NewOutbox(dlr.OutboxConfig{Store: store, Receivers: func(string) []dlr.Receiver { return nil }})
	defer o.Close()
	storetest.CheckItemsAndPurge(t, o, func() int {
		n := 0
		if err := store.LoadOutbox(func(string, *dlr.Item) { n++ }); err != nil {
			t.Fatal(err)
		}
		return n
	})
}

// TestDeadLetterCountedWhenVisible: a dead letter is counted by
// DeadLetterStats as soon as a reader can see it, so an operator's retry,
// which takes as many as are counted, never finds none right after the
// listing showed one (it was counted only after its writer was told).
func TestDeadLetterCountedWhenVisible(t *testing.T) {
	s := openPebble(t, t.TempDir(), nil)
	defer s.Close()
	it, err := storetest.AddSync(t, s, "shop", "a")
	if err != nil {
		t.Fatal(err)
	}
	var listed, counted int
	var checked bool
	testHookCommitted = func() {
		if checked {
			return
		}
		list, err := s.DeadLetters("shop", 0, 10)
		if err != nil || len(list) == 0 {
			return
		}
		checked = true
		st, err := s.DeadLetterStats([]string{"shop"})
		if err != nil {
			t.Error(err)
			return
		}
		listed, counted = len(list), st[0].Count
	}
	defer func() { testHookCommitted = nil }()
	if _, err := storetest.Bury(s, "shop", it, dlr.ReasonRefused); err != nil {
		t.Fatal(err)
	}
	if !checked || counted < listed {
		t.Fatalf("after the commit %d dead letters listed, %d counted (checked %v)", listed, counted, checked)
	}
}
