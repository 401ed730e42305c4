package daemon

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// receiptPDU is a deliver_sm receipt of message id in state stat.
func receiptPDU(id, stat string) []byte {
	body := smsctest.Receipt(id, nil, stat, time.Now())
	b := pdu.AppendHeader(make([]byte, 0, pdu.HeaderLen+len(body)), pdu.DeliverSM, pdu.StatusOK, 0, len(body))
	return append(b, body...)
}

// TestReceiptSentAgain: a receipt the carrier sends again (its
// deliver_sm_resp lost or late) is answered ESME_ROK and not relayed a
// second time, also after smppmux restarts; the message's mapping is gone
// once its final receipt was relayed.
func TestReceiptSentAgain(t *testing.T) {
	t.Parallel()
	smsc := smsctest.Start(t, smsctest.Config{})
	const yaml = `
listen: {smpp: "127.0.0.1:0"}
clients: [{system_id: shop, password: secret}]
upstreams: [{name: a, addr: "{{0}}", system_id: mux}]
groups: [{name: main, members: [{upstream: a}]}]
routes: [{group: main}]
`
	e := startYAML(t, yaml, smsc)
	ctx := deadline(t)
	c := e.dial(t, "shop", "secret", pdu.BindTransceiver, 10)
	n := 0
	// send submits one message and returns its id and the SMSC's, once its
	// receipt reached the client: the first receipt the client gets.
	send := func(c *esmetest.Client) (string, string) {
		t.Helper()
		n++
		r, err := c.Submit(ctx, esmetest.SubmitBody("Shop", fmt.Sprintf("44770090%04d", n), []byte("hi"), 1, nil))
		if err != nil || r.Status != pdu.StatusOK {
			t.Fatalf("submit: %v %v", r.Status, err)
		}
		select {
		case d := <-c.Deliveries():
			if d.ReceiptID != r.MessageID {
				t.Fatalf("receipt for %q first, before that of %q: relayed twice", d.ReceiptID, r.MessageID)
			}
		case <-ctx.Done():
			t.Fatal("no receipt")
		}
		recs := smsc.Records()
		return r.MessageID, recs[len(recs)-1].MessageID
	}
	first, smscID := send(c)
	pushes := 0
	again := func(d *Daemon) {
		t.Helper()
		pushes++
		if err := smsc.Push(receiptPDU(smscID, "DELIVRD")); err != nil {
			t.Fatal(err)
		}
		if err := smsc.WaitPushesAnswered(ctx, pushes); err != nil {
			t.Fatal(err)
		}
		if st := smsc.PushStatuses(); st[pdu.StatusOK] != pushes {
			t.Fatalf("the receipt sent again was answered %v, want ESME_ROK", st)
		}
	}
	again(e.d)
	// The next message's receipt is the next the client gets: the one
	// sent again, before it, was not relayed.
	send(c)
	if got := e.d.Relay.Stats.ReceiptsRepeated.Load(); got != 1 {
		t.Fatalf("%d receipts counted as sent again, want 1", got)
	}
	if _, ok, err := e.d.store.ByClient("shop", first); ok || err != nil {
		t.Fatalf("the mapping of a message whose final receipt was relayed is still kept (%v, %v)", ok, err)
	}

	// After a restart on the same store.
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := e.d.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	e2 := startYAML(t, e.yaml, smsc)
	c2 := e2.dial(t, "shop", "secret", pdu.BindTransceiver, 10)
	again(e2.d)
	send(c2)
	if got := e2.d.Relay.Stats.ReceiptsRepeated.Load(); got != 1 {
		t.Fatalf("after a restart, %d receipts counted as sent again, want 1", got)
	}
}

// TestReceiptWaitsDurably: a receipt whose message has no mapping is
// answered ESME_ROK after a short hold, long before wait_for_mapping ends,
// and kept: when its message's mapping lands, also after a restart, it
// reaches the client; one whose mapping never comes becomes a dead letter
// of its upstream.
func TestReceiptWaitsDurably(t *testing.T) {
	t.Parallel()
	ids := []string{"W1", "W2", "W3"}
	smsc := smsctest.Start(t, smsctest.Config{IDFormat: func(n uint64) string { return ids[(n-1)%uint64(len(ids))] }})
	const yaml = `
listen: {smpp: "127.0.0.1:0"}
receipts: {wait_for_mapping: 1h, unmatched_hold: 50ms}
clients: [{system_id: shop, password: secret}]
upstreams: [{name: a, addr: "{{0}}", system_id: mux}]
groups: [{name: main, members: [{upstream: a}]}]
routes: [{group: main}]
`
	e := startYAML(t, yaml, smsc)
	ctx := deadline(t)
	c := e.dial(t, "shop", "secret", pdu.BindTransceiver, 10)
	pushes := 0
	push := func(id string) {
		t.Helper()
		pushes++
		if err := smsc.Push(receiptPDU(id, "DELIVRD")); err != nil {
			t.Fatal(err)
		}
		// Within the test's deadline, far before the hour of
		// wait_for_mapping: the hold, not the wait, answers it.
		if err := smsc.WaitPushesAnswered(ctx, pushes); err != nil {
			t.Fatalf("a receipt without its mapping was not answered before wait_for_mapping: %v", err)
		}
		if st := smsc.PushStatuses(); st[pdu.StatusOK] != pushes {
			t.Fatalf("receipts answered %v, want ESME_ROK", st)
		}
	}
	// submit sends a message without asking for a receipt (the SMSC
	// sends none of its own) and returns its id.
	submit := func(c *esmetest.Client) string {
		t.Helper()
		r, err := c.Submit(ctx, esmetest.SubmitBody("Shop", "447700900001", []byte("hi"), 0, nil))
		if err != nil || r.Status != pdu.StatusOK {
			t.Fatalf("submit: %v %v", r.Status, err)
		}
		return r.MessageID
	}
	receipt := func(c *esmetest.Client, want string) {
		t.Helper()
		select {
		case d := <-c.Deliveries():
			if d.ReceiptID != want {
				t.Fatalf("receipt for %q, want %q", d.ReceiptID, want)
			}
		case <-ctx.Done():
			t.Fatalf("the waiting receipt of %s never reached the client", want)
		}
	}
	push("W1")
	receipt(c, submit(c)) // the SMSC issues W1

	push("W2")
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := e.d.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	e2 := startYAML(t, e.yaml, smsc)
	c2 := e2.dial(t, "shop", "secret", pdu.BindTransceiver, 10)
	receipt(c2, submit(c2)) // W2, whose receipt waited across the restart

	// One whose mapping never comes: a dead letter of upstream a once the
	// wait is over.
	sctx2, cancel2 := context.WithTimeout(ctx, 10*time.Second)
	defer cancel2()
	if err := e2.d.Shutdown(sctx2); err != nil {
		t.Fatal(err)
	}
	e3 := startYAML(t, strings.Replace(e.yaml, "wait_for_mapping: 1h", "wait_for_mapping: 300ms", 1), smsc)
	push("NEVER")
	// The relay counts the dead letter, and signals, once it is durable.
	e3.waitRelay(t, ctx, "the receipt that matched nothing a dead letter", func() bool {
		dl, err := e3.d.DeadLetters("@a", 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(dl) == 1 && dl[0].Reason != "unmatched" {
			t.Fatalf("dead letter %+v, want reason unmatched", dl[0])
		}
		return len(dl) == 1
	})
	// Its waiting record goes in the dead letter's callback, which runs
	// once the dead letter is durable, so possibly after it shows.
	for {
		var waiting int
		err := e3.d.store.LoadWaiting(func(*dlr.Waiting) { waiting++ })
		if err != nil {
			t.Fatal(err)
		}
		if waiting == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d receipts still kept waiting after the dead letter, want none", waiting)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
