package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/pdu"
)

// Bury makes the outbox item it a dead letter of systemID.
func Bury(s dlr.Store, systemID string, it *dlr.Item, reason dlr.DeadReason) (*dlr.DeadLetter, error) {
	d := &dlr.DeadLetter{SystemID: systemID, Raw: it.Raw, Origin: it.Origin, Arrived: it.At,
		Attempts: 4, Refusals: 3, LastStatus: pdu.StatusXTAppn, Reason: reason}
	errc := make(chan error, 1)
	s.PutDeadLetter(d, it.Seq, func(err error) { errc <- err })
	return d, <-errc
}

// CheckDeadLetters is the conformance test of a DeadLetterStore, outbox
// listing the items of a client's outbox (nil for a store that keeps
// none): dead
// letters replace outbox items atomically, are listed in order with
// everything recorded, counted, purged one or all, and put back at the
// end of the outbox.
func CheckDeadLetters(t *testing.T, s dlr.Store, outbox func(t *testing.T, systemID string) []*dlr.Item) {
	var items []*dlr.Item
	for _, text := range []string{"a", "b", "c", "d"} {
		it, err := AddSync(t, s, "shop", text)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	arrived := items[1].At
	db, err := Bury(s, "shop", items[1], dlr.ReasonRefused)
	if err != nil {
		t.Fatal(err)
	}
	dd, err := Bury(s, "shop", items[3], dlr.ReasonNever)
	if err != nil {
		t.Fatal(err)
	}
	if db.Seq == 0 || dd.Seq <= db.Seq || db.DeadAt.IsZero() {
		t.Fatalf("dead letters numbered %d then %d, dead at %v", db.Seq, dd.Seq, db.DeadAt)
	}
	// One with no outbox item behind it, for another client.
	other := &dlr.DeadLetter{SystemID: "bank", Raw: pdu.Request(pdu.DeliverSM, 0, []byte("x")), Arrived: time.Now(), Reason: dlr.ReasonNever}
	errc := make(chan error, 1)
	s.PutDeadLetter(other, 0, func(err error) { errc <- err })
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if outbox != nil {
		if got := Bodies(outbox(t, "shop")); fmt.Sprint(got) != "[a c]" {
			t.Fatalf("outbox after two dead letters: %q, want a and c", got)
		}
		// Gone from the outbox: a second dead letter of it would keep
		// it twice.
		if _, err := Bury(s, "shop", items[1], dlr.ReasonRefused); !errors.Is(err, dlr.ErrNotInOutbox) {
			t.Fatalf("dead letter of an item no longer in the outbox: %v, want dlr.ErrNotInOutbox", err)
		}
	}

	list, err := s.DeadLetters("shop", 0, 10)
	if err != nil || len(list) != 2 {
		t.Fatalf("DeadLetters = %d, %v", len(list), err)
	}
	got := list[0]
	if got.SystemID != "shop" || got.Seq != db.Seq || string(got.Raw[pdu.HeaderLen:]) != "b" || got.Origin != 3 ||
		!got.Arrived.Equal(arrived) || !got.DeadAt.Equal(db.DeadAt) || got.Attempts != 4 || got.Refusals != 3 ||
		got.LastStatus != pdu.StatusXTAppn || got.Reason != dlr.ReasonRefused {
		t.Fatalf("dead letter read back %+v,\nwritten %+v", got, *db)
	}
	if list[1].Reason != dlr.ReasonNever || string(list[1].Raw[pdu.HeaderLen:]) != "d" {
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
	if outbox != nil {
		if got := Bodies(outbox(t, "shop")); fmt.Sprint(got) != "[a c b]" {
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
