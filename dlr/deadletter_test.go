package dlr

import (
	"errors"
	"fmt"
	"testing"

	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/redistest"
)

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
