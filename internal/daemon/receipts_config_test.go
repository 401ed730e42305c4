package daemon

import (
	"fmt"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// receiptsYAML is a configuration of one client, upstream and group, with
// the receipts section a test gives.
const receiptsYAML = `
listen: {smpp: "127.0.0.1:0"}
receipts: %s
clients: [{system_id: shop, password: secret}]
upstreams: [{name: a, addr: "{{0}}", system_id: mux}]
groups: [{name: main, members: [{upstream: a}]}]
routes: [{group: main}]
`

// TestResendWindowApplies: receipts.resend_window reaches the relay. With
// a window of 1ns a receipt the carrier sends again is not recognised as
// relayed already (its mark has expired): it goes on as a receipt whose
// message is gone, kept waiting for its mapping.
func TestResendWindowApplies(t *testing.T) {
	t.Parallel()
	smsc := smsctest.Start(t, smsctest.Config{})
	e := startYAML(t, fmt.Sprintf(receiptsYAML, "{resend_window: 1ns}"), smsc)
	ctx := deadline(t)
	c := e.dial(t, "shop", "secret", pdu.BindTransceiver, 10)
	r, err := c.Submit(ctx, esmetest.SubmitBody("Shop", "447700900001", []byte("hi"), 1, nil))
	if err != nil || r.Status != pdu.StatusOK {
		t.Fatalf("submit: %v %v", r.Status, err)
	}
	select {
	case <-c.Deliveries():
	case <-ctx.Done():
		t.Fatal("no receipt")
	}
	recs := smsc.Records()
	id := recs[len(recs)-1].MessageID
	// The mapping's delete after the final receipt is not synced with
	// the delivery: a copy sent before it lands still finds the message.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		_, ok, err := e.d.store.Get("a", id)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("the mapping outlived its final receipt")
		}
	}
	if err := smsc.Push(receiptPDU(id, "DELIVRD")); err != nil {
		t.Fatal(err)
	}
	if err := smsc.WaitPushesAnswered(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if st := smsc.PushStatuses(); st[pdu.StatusOK] != 1 {
		t.Fatalf("the receipt sent again was answered %v, want ESME_ROK", st)
	}
	if got := e.d.Relay.Stats.ReceiptsRepeated.Load(); got != 0 {
		t.Errorf("%d receipts recognised as sent again past a resend window of 1ns, want 0", got)
	}
	if got := e.d.Relay.Stats.ReceiptsWaiting.Load(); got != 1 {
		t.Errorf("%d receipts kept waiting for their mapping, want 1", got)
	}
}

// TestUnmatchedHoldApplies: receipts.unmatched_hold reaches the relay.
// With a hold longer than wait_for_mapping a receipt that matches nothing
// is never kept waiting: it waits unanswered until wait_for_mapping ends
// and then becomes a dead letter.
func TestUnmatchedHoldApplies(t *testing.T) {
	t.Parallel()
	smsc := smsctest.Start(t, smsctest.Config{})
	e := startYAML(t, fmt.Sprintf(receiptsYAML, "{unmatched_hold: 1h, wait_for_mapping: 1s}"), smsc)
	ctx := deadline(t)
	if err := smsc.Push(receiptPDU("NEVER", "DELIVRD")); err != nil {
		t.Fatal(err)
	}
	if err := smsc.WaitPushesAnswered(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got := e.d.Relay.Stats.ReceiptsWaiting.Load(); got != 0 {
		t.Errorf("%d receipts kept waiting for their mapping under a hold of 1h, want 0", got)
	}
	if got := e.d.Relay.Stats.ReceiptsUnmatched.Load(); got != 1 {
		t.Errorf("%d receipts unmatched, want 1", got)
	}
}
