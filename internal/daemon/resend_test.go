package daemon

import (
	"context"
	"fmt"
	"testing"
	"time"

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
	smsc := newSMSC(t, smsctest.Config{})
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
