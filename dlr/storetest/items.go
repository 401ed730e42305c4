package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/pdu"
)

// ReceiptPDU returns a receipt deliver_sm whose text carries id n, in six
// digits.
func ReceiptPDU(n int) []byte {
	text := fmt.Sprintf("id:%06d sub:001 dlvrd:001 submit date:2601010000 done date:2601010000 stat:DELIVRD err:000 text:", n)
	return pdu.Request(pdu.DeliverSM, 0, pdu.AppendSM(nil, &pdu.SM{ESMClass: 4, ShortMessage: []byte(text)}))
}

// CheckItemsAndPurge: a client without a session keeps its items; Items
// pages through them in order, with text only when asked; Purge deletes
// one, then the rest, and the store forgets them: stored counts what it
// holds. o is an Outbox on the store, with no receiving session.
func CheckItemsAndPurge(t *testing.T, o *dlr.Outbox, stored func() int) {
	for i := range 5 {
		errc := make(chan error, 1)
		o.Enqueue("shop", &dlr.Item{Raw: ReceiptPDU(i), At: time.Now()}, func(err error) { errc <- err })
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	page, err := o.Items("shop", 0, 3, false)
	if err != nil || len(page) != 3 {
		t.Fatalf("first page: %d items, %v", len(page), err)
	}
	rest, err := o.Items("shop", page[2].Seq, 10, true)
	if err != nil || len(rest) != 2 {
		t.Fatalf("second page: %d items, %v", len(rest), err)
	}
	all := append(page, rest...)
	var ids []string
	for i, it := range all {
		ids = append(ids, it.MessageID)
		if i > 0 && it.Seq <= all[i-1].Seq {
			t.Fatalf("not in order: %d after %d", it.Seq, all[i-1].Seq)
		}
		if it.State != "DELIVRD" || it.Arrived.IsZero() {
			t.Errorf("item %d: %+v", i, it)
		}
		if (i < 3) != (it.Text == nil) {
			t.Errorf("item %d: text %q, asked for %v", i, it.Text, i >= 3)
		}
	}
	if want := []string{"000000", "000001", "000002", "000003", "000004"}; !slices.Equal(ids, want) {
		t.Fatalf("ids %v, want %v", ids, want)
	}
	if n, err := o.Purge("shop", all[1].Seq); err != nil || n != 1 {
		t.Fatalf("purge one: %d %v", n, err)
	}
	if n, err := o.Purge("shop", all[1].Seq); err != nil || n != 0 {
		t.Fatalf("purge it again: %d %v, want 0", n, err)
	}
	if left, _ := o.Items("shop", 0, 10, false); len(left) != 4 || left[1].MessageID != "000002" {
		t.Fatalf("after purging one: %+v", left)
	}
	if n, err := o.Purge("shop", 0); err != nil || n != 4 {
		t.Fatalf("purge all: %d %v, want 4", n, err)
	}
	if left, _ := o.Items("shop", 0, 10, false); len(left) != 0 || o.Depth("shop") != 0 {
		t.Fatalf("after purge: %d listed, depth %d", len(left), o.Depth("shop"))
	}
	if n := stored(); n != 0 {
		t.Fatalf("the store still holds %d items", n)
	}
	if n, err := o.Purge("nobody", 0); err != nil || n != 0 {
		t.Fatalf("purge of an unknown client: %d %v", n, err)
	}
}
