package dlr

import (
	"slices"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/redistest"
)

// TestSummarize: a receipt's id, state and addresses; its text only
// through summarize; an MO message is not a receipt.
func TestSummarize(t *testing.T) {
	t.Parallel()
	sum, text := summarize(receiptPDU(42))
	if !sum.Receipt || sum.MessageID != "000042" || sum.State != "DELIVRD" || sum.Command != "deliver_sm" {
		t.Fatalf("receipt summary %+v", sum)
	}
	if len(text) == 0 {
		t.Fatal("no text")
	}
	withTLV := pdu.Request(pdu.DeliverSM, 0, pdu.AppendSM(nil, &pdu.SM{ESMClass: 4,
		SourceAddr: []byte("447700900123"), DestAddr: []byte("shop"),
		ShortMessage: []byte("id:7 stat:DELIVRD"),
		TLVs:         pdu.AppendTLV(pdu.AppendTLV(nil, pdu.TagMessageState, []byte{5}), pdu.TagReceiptedMessageID, []byte("7\x00"))}))
	if sum := Summarize(withTLV); sum.State != "UNDELIV" || sum.MessageID != "7" || sum.Source != "447700900123" {
		t.Fatalf("message_state TLV first: %+v", sum)
	}
	mo := pdu.Request(pdu.DeliverSM, 0, pdu.AppendSM(nil, &pdu.SM{SourceAddr: []byte("1"), ShortMessage: []byte("secret")}))
	if sum := Summarize(mo); sum.Receipt || sum.MessageID != "" || sum.State != "" {
		t.Fatalf("MO summary %+v", sum)
	}
	if sum := Summarize([]byte{1, 2}); sum != (DeadLetterSummary{}) {
		t.Fatalf("short PDU: %+v", sum)
	}
}

// TestOutboxItemsAndPurge: a client without a session keeps its items;
// Items pages through them in order, with text only when asked; Purge
// deletes one, then the rest, and the store forgets them.
func TestOutboxItemsAndPurge(t *testing.T) {
	t.Parallel()
	store, err := OpenPebble(PebbleConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	o := NewOutbox(OutboxConfig{Store: store, Receivers: func(string) []Receiver { return nil }})
	defer o.Close()
	testItemsAndPurge(t, o, func() int {
		n := 0
		if err := store.LoadOutbox(func(string, *Item) { n++ }); err != nil {
			t.Fatal(err)
		}
		return n
	})
}

// TestRedisOutboxItemsAndPurge is TestOutboxItemsAndPurge with the
// shared outbox in Redis.
func TestRedisOutboxItemsAndPurge(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	store := openRedis(t, r.Addr, 1, nil)
	o := NewOutbox(OutboxConfig{Store: store, Receivers: func(string) []Receiver { return nil }})
	defer o.Close()
	testItemsAndPurge(t, o, func() int {
		n, _, err := store.OutboxLen("shop")
		if err != nil {
			t.Fatal(err)
		}
		return n
	})
}

func testItemsAndPurge(t *testing.T, o *Outbox, stored func() int) {
	for i := range 5 {
		errc := make(chan error, 1)
		o.Enqueue("shop", &Item{Raw: receiptPDU(i), At: time.Now()}, func(err error) { errc <- err })
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
