package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/pdu"
)

// Lister returns a function listing the items of a client's outbox in s
// as the store keeps them: read with Pending from a shared store, whose
// lease on the client it takes; loaded with LoadOutbox from another; nil
// for a store that keeps none (Volatile).
func (su suite) lister(s dlr.Store) func(t *testing.T, systemID string) []*dlr.Item {
	if su.volatile {
		return nil
	}
	return Lister(s)
}

// Lister is the lister of a store that keeps its outbox items (see
// Volatile): Pending, after taking the client's lease, for a shared
// store; LoadOutbox for another.
func Lister(s dlr.Store) func(t *testing.T, systemID string) []*dlr.Item {
	if sh, ok := s.(dlr.SharedStore); ok {
		return func(t *testing.T, systemID string) []*dlr.Item {
			t.Helper()
			if g, err := sh.Lease(systemID); !g.Ours() || err != nil {
				t.Fatalf("Lease(%s) = %v, %v", systemID, g, err)
			}
			items, err := sh.Pending(systemID, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			return items
		}
	}
	return func(t *testing.T, systemID string) []*dlr.Item {
		t.Helper()
		var out []*dlr.Item
		if err := s.LoadOutbox(func(id string, it *dlr.Item) {
			if id == systemID {
				out = append(out, it)
			}
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
}

// checkOutbox: items are numbered in the order added, listed per client
// in that order with their origin and arrival, and an item deleted is no
// longer listed once a synced write has followed the delete.
func (su suite) checkOutbox(t *testing.T, s dlr.Store) {
	list := su.lister(s)
	var items []*dlr.Item
	for _, text := range []string{"a", "b", "c", "d"} {
		it, err := AddSync(t, s, "shop", text)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) > 0 && it.Seq <= items[len(items)-1].Seq {
			t.Fatalf("item %s numbered %d after %d", text, it.Seq, items[len(items)-1].Seq)
		}
		items = append(items, it)
	}
	if _, err := AddSync(t, s, "bank", "x"); err != nil {
		t.Fatal(err)
	}
	if list != nil {
		got := list(t, "shop")
		if fmt.Sprint(Bodies(got)) != "[a b c d]" {
			t.Fatalf("outbox of shop: %q, want a, b, c, d", Bodies(got))
		}
		for i, it := range got {
			if it.Seq != items[i].Seq || it.Origin != 3 || !it.At.Equal(items[i].At) {
				t.Fatalf("item %d read back %+v, written %+v", i, *it, *items[i])
			}
		}
		if got := Bodies(list(t, "bank")); fmt.Sprint(got) != "[x]" {
			t.Fatalf("outbox of bank: %q, want x", got)
		}
	}
	if err := s.DeleteOutbox("shop", items[1].Seq); err != nil {
		t.Fatal(err)
	}
	// Deletes are not synced, but later reads see them once a synced
	// write has followed.
	if _, err := AddSync(t, s, "shop", "e"); err != nil {
		t.Fatal(err)
	}
	if list != nil {
		if got := Bodies(list(t, "shop")); fmt.Sprint(got) != "[a c d e]" {
			t.Fatalf("outbox of shop after a delete: %q, want a, c, d, e", got)
		}
	}
}

// CheckWaiting: waiting receipts are numbered, loaded with all they were
// written with, and one deleted is no longer loaded once a synced write
// has followed the delete.
func CheckWaiting(t *testing.T, s dlr.MappingStore, now time.Time) {
	t.Helper()
	put := func(upstream, text string) *dlr.Waiting {
		t.Helper()
		w := &dlr.Waiting{Upstream: upstream, Arrived: now, Raw: pdu.Request(pdu.DeliverSM, 0, []byte(text))}
		Wait(t, func(done func(error)) { s.PutWaiting(w, done) })
		return w
	}
	ws := []*dlr.Waiting{put("u", "r1"), put("u", "r2"), put("v", "r3")}
	load := func() map[uint64]*dlr.Waiting {
		t.Helper()
		got := make(map[uint64]*dlr.Waiting)
		if err := s.LoadWaiting(func(w *dlr.Waiting) { got[w.Seq] = w }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	got := load()
	if len(got) != len(ws) {
		t.Fatalf("loaded %d waiting receipts, want %d", len(got), len(ws))
	}
	for _, w := range ws {
		g := got[w.Seq]
		if w.Seq == 0 || g == nil || g.Upstream != w.Upstream || !g.Arrived.Equal(w.Arrived) || string(g.Raw) != string(w.Raw) {
			t.Fatalf("waiting receipt %d read back %+v, written %+v", w.Seq, g, *w)
		}
	}
	s.DeleteWaiting(ws[1].Upstream, ws[1].Seq)
	last := put("v", "r4")
	got = load()
	if _, ok := got[ws[1].Seq]; ok || len(got) != 3 || got[last.Seq] == nil {
		t.Fatalf("after a delete and a put: %d waiting receipts, the deleted one there: %v", len(got), ok)
	}
}
