package dlr

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/redistest"
)

// deadStore is a store under the dead letter conformance test, with what
// the test needs to see of its outbox.
type deadStore struct {
	Store
	// outbox returns the items of systemID's outbox; nil for a store
	// that keeps none (MemStore).
	outbox func(t *testing.T, systemID string) []*Item
}

// bury makes the outbox item it a dead letter of systemID.
func bury(s Store, systemID string, it *Item, reason DeadReason) (*DeadLetter, error) {
	d := &DeadLetter{SystemID: systemID, Raw: it.Raw, Origin: it.Origin, Arrived: it.At,
		Attempts: 4, Refusals: 3, LastStatus: pdu.StatusXTAppn, Reason: reason}
	errc := make(chan error, 1)
	s.PutDeadLetter(d, it.Seq, func(err error) { errc <- err })
	return d, <-errc
}

func bodies(items []*Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = string(it.Raw[pdu.HeaderLen:])
	}
	return out
}

// testDeadLetters is the conformance test of a DeadLetterStore: dead
// letters replace outbox items atomically, are listed in order with
// everything recorded, counted, purged one or all, and put back at the
// end of the outbox.
func testDeadLetters(t *testing.T, s deadStore) {
	var items []*Item
	for _, text := range []string{"a", "b", "c", "d"} {
		it, err := addSync(t, s, "shop", text)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	arrived := items[1].At
	db, err := bury(s, "shop", items[1], ReasonRefused)
	if err != nil {
		t.Fatal(err)
	}
	dd, err := bury(s, "shop", items[3], ReasonNever)
	if err != nil {
		t.Fatal(err)
	}
	if db.Seq == 0 || dd.Seq <= db.Seq || db.DeadAt.IsZero() {
		t.Fatalf("dead letters numbered %d then %d, dead at %v", db.Seq, dd.Seq, db.DeadAt)
	}
	// One with no outbox item behind it, for another client.
	other := &DeadLetter{SystemID: "bank", Raw: pdu.Request(pdu.DeliverSM, 0, []byte("x")), Arrived: time.Now(), Reason: ReasonNever}
	errc := make(chan error, 1)
	s.PutDeadLetter(other, 0, func(err error) { errc <- err })
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if s.outbox != nil {
		if got := bodies(s.outbox(t, "shop")); fmt.Sprint(got) != "[a c]" {
			t.Fatalf("outbox after two dead letters: %q, want a and c", got)
		}
		// Gone from the outbox: a second dead letter of it would keep
		// it twice.
		if _, err := bury(s, "shop", items[1], ReasonRefused); !errors.Is(err, ErrNotInOutbox) {
			t.Fatalf("dead letter of an item no longer in the outbox: %v, want ErrNotInOutbox", err)
		}
	}

	list, err := s.DeadLetters("shop", 0, 10)
	if err != nil || len(list) != 2 {
		t.Fatalf("DeadLetters = %d, %v", len(list), err)
	}
	got := list[0]
	if got.SystemID != "shop" || got.Seq != db.Seq || string(got.Raw[pdu.HeaderLen:]) != "b" || got.Origin != 3 ||
		!got.Arrived.Equal(arrived) || !got.DeadAt.Equal(db.DeadAt) || got.Attempts != 4 || got.Refusals != 3 ||
		got.LastStatus != pdu.StatusXTAppn || got.Reason != ReasonRefused {
		t.Fatalf("dead letter read back %+v,\nwritten %+v", got, *db)
	}
	if list[1].Reason != ReasonNever || string(list[1].Raw[pdu.HeaderLen:]) != "d" {
		t.Fatalf("second dead letter %+v", list[1])
	}
	if page, _ := s.DeadLetters("shop", db.Seq, 10); len(page) != 1 || page[0].Seq != dd.Seq {
		t.Fatalf("DeadLetters after the first = %+v", page)
	}
	if page, _ := s.DeadLetters("shop", 0, 1); len(page) != 1 || page[0].Seq != db.Seq {
		t.Fatalf("DeadLetters, one = %+v", page)
	}
	st, err := s.DeadLetterStats([]string{"shop", "bank", "nobody"})
	if err != nil || len(st) != 3 || st[0].Count != 2 || !st[0].Oldest.Equal(db.DeadAt) ||
		st[1].Count != 1 || st[2].Count != 0 || !st[2].Oldest.IsZero() {
		t.Fatalf("DeadLetterStats = %+v, %v", st, err)
	}

	if n, err := s.PurgeDeadLetters("shop", dd.Seq); n != 1 || err != nil {
		t.Fatalf("purge of one = %d, %v", n, err)
	}
	if n, err := s.PurgeDeadLetters("shop", dd.Seq); n != 0 || err != nil {
		t.Fatalf("purge of one already purged = %d, %v", n, err)
	}
	back, err := s.RequeueDeadLetters("shop", 10)
	if err != nil || len(back) != 1 || string(back[0].Raw[pdu.HeaderLen:]) != "b" || back[0].Origin != 3 {
		t.Fatalf("RequeueDeadLetters = %+v, %v", back, err)
	}
	if back[0].Seq <= items[3].Seq || time.Since(back[0].At) > time.Minute {
		t.Fatalf("requeued item numbered %d (last before %d), arrived %v: want it at the end, arrived now",
			back[0].Seq, items[3].Seq, back[0].At)
	}
	if s.outbox != nil {
		if got := bodies(s.outbox(t, "shop")); fmt.Sprint(got) != "[a c b]" {
			t.Fatalf("outbox after the requeue: %q, want a, c, then b", got)
		}
	}
	if list, _ := s.DeadLetters("shop", 0, 10); len(list) != 0 {
		t.Fatalf("%d dead letters left after the requeue", len(list))
	}
	if n, err := s.PurgeDeadLetters("bank", 0); n != 1 || err != nil {
		t.Fatalf("purge of all = %d, %v", n, err)
	}
	if st, _ := s.DeadLetterStats([]string{"shop", "bank"}); st[0].Count != 0 || st[1].Count != 0 {
		t.Fatalf("DeadLetterStats after all is gone = %+v", st)
	}
}

func TestMemStoreDeadLetters(t *testing.T) {
	t.Parallel()
	testDeadLetters(t, deadStore{Store: NewMemStore(nil)})
}

func pebbleOutbox(s *PebbleStore) func(*testing.T, string) []*Item {
	return func(t *testing.T, systemID string) []*Item {
		var out []*Item
		if err := s.LoadOutbox(func(id string, it *Item) {
			if id == systemID {
				out = append(out, it)
			}
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
}

func TestPebbleDeadLetters(t *testing.T) {
	t.Parallel()
	s := openPebble(t, t.TempDir(), nil)
	defer s.Close()
	testDeadLetters(t, deadStore{Store: s, outbox: pebbleOutbox(s)})
}

// TestPebbleDeadLettersSurviveReopen: dead letters, their count and the
// numbering are there after the store is closed and opened again.
func TestPebbleDeadLettersSurviveReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openPebble(t, dir, nil)
	var dead []*DeadLetter
	for _, text := range []string{"a", "b", "c"} {
		it, err := addSync(t, s, "shop", text)
		if err != nil {
			t.Fatal(err)
		}
		if text == "c" {
			break
		}
		d, err := bury(s, "shop", it, ReasonRefused)
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
	if got := bodies(pebbleOutbox(s)(t, "shop")); fmt.Sprint(got) != "[c]" {
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
	it, err := addSync(t, s, "shop", "d")
	if err != nil {
		t.Fatal(err)
	}
	if it.Seq <= dead[1].Seq {
		t.Fatalf("item numbered %d after dead letter %d", it.Seq, dead[1].Seq)
	}
}

func TestRedisDeadLetters(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	s := openRedis(t, r.Addr, 1, nil)
	if g, err := s.Lease("shop"); !g.Ours() || err != nil {
		t.Fatalf("Lease = %v, %v", g, err)
	}
	testDeadLetters(t, deadStore{Store: s, outbox: func(t *testing.T, systemID string) []*Item {
		items, err := s.Pending(systemID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		return items
	}})
}

// TestRedisDeadLetterNeedsLease: an instance that does not hold the
// client's lease cannot move its items: the holder may be delivering
// them.
func TestRedisDeadLetterNeedsLease(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	a := openRedis(t, r.Addr, 1, nil)
	b := openRedis(t, r.Addr, 2, nil)
	it, err := addSync(t, a, "shop", "a")
	if err != nil {
		t.Fatal(err)
	}
	if g, err := b.Lease("shop"); !g.Ours() || err != nil {
		t.Fatalf("b.Lease = %v, %v", g, err)
	}
	if _, err := bury(a, "shop", it, ReasonRefused); !errors.Is(err, ErrNotLeased) {
		t.Fatalf("dead letter without the lease: %v, want ErrNotLeased", err)
	}
	if items, _ := a.Pending("shop", 0, 10); len(items) != 1 {
		t.Fatalf("outbox holds %d items, want the one", len(items))
	}
	if list, _ := a.DeadLetters("shop", 0, 10); len(list) != 0 {
		t.Fatalf("%d dead letters written without the lease", len(list))
	}
	if _, err := bury(b, "shop", it, ReasonRefused); err != nil {
		t.Fatalf("dead letter by the lease holder: %v", err)
	}
}
