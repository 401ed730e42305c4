package upstream

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

func TestDeliverAckedOnlyByHandler(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, w := newSMSC(t, smsctest.Config{})
	h := make(handler, 4)
	u, _ := startBound(t, ctx, srv, Config{}, h)

	raw, body := deliverSM("447700900001", "hello from a handset")
	if err := srv.Push(raw); err != nil {
		t.Fatal(err)
	}
	d := h.next(t, ctx)
	if d.u != u || d.f.ID != pdu.DeliverSM || !bytes.Equal(d.f.Body(), body) {
		t.Fatalf("handler got %s body %x from %p, want deliver_sm %x from %p", pdu.IDName(d.f.ID), d.f.Body(), d.u, body, u)
	}

	// A submit round trip on the same connection, queued after anything
	// the bind could have answered, proves no deliver_sm_resp went out
	// while the handler holds the ack.
	rawS, _ := submitSM(1, "447700900123", "ping", 0)
	if r := await(t, ctx, submit(t, ctx, u, rawS)); r.err != nil {
		t.Fatal(r.err)
	}
	if got := w.snapshot(ofID(pdu.DeliverSMResp)); len(got) != 0 || srv.PushesAcked() != 0 {
		t.Fatalf("SMSC answered before ack: %d deliver_sm_resp, %d acked", len(got), srv.PushesAcked())
	}

	d.ack(pdu.StatusXTAppn)
	d.ack(pdu.StatusOK) // a second ack is ignored
	resps, err := w.waitN(ctx, 1, ofID(pdu.DeliverSMResp))
	if err != nil {
		t.Fatal(err)
	}
	if resps[0].f.Status != pdu.StatusXTAppn || resps[0].f.Seq != d.f.Seq {
		t.Errorf("deliver_sm_resp status 0x%x seq %d, want 0x64 seq %d", uint32(resps[0].f.Status), resps[0].f.Seq, d.f.Seq)
	}
	if err := srv.WaitPushesAnswered(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got := srv.PushStatuses(); got[pdu.StatusXTAppn] != 1 || len(got) != 1 {
		t.Errorf("SMSC push statuses %v, want one 0x64", got)
	}
	rawS, _ = submitSM(1, "447700900123", "ping", 0)
	if r := await(t, ctx, submit(t, ctx, u, rawS)); r.err != nil {
		t.Fatal(r.err)
	}
	if got := w.snapshot(ofID(pdu.DeliverSMResp)); len(got) != 1 || srv.PushesAcked() != 0 {
		t.Fatalf("after a double ack: %d deliver_sm_resp, %d acked OK, want 1 and 0", len(got), srv.PushesAcked())
	}

	// ack may come from another goroutine.
	raw, _ = deliverSM("447700900002", "second")
	if err := srv.Push(raw); err != nil {
		t.Fatal(err)
	}
	d = h.next(t, ctx)
	go d.ack(pdu.StatusOK)
	if err := srv.WaitPushesAcked(ctx, 1); err != nil {
		t.Fatal(err)
	}
}

func TestDeliverWithoutHandler(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv := smsctest.Start(t, smsctest.Config{})
	u, l := startBound(t, ctx, srv, Config{}, nil)
	for i := range 2 {
		raw, _ := deliverSM("447700900001", fmt.Sprint("nobody listens ", i))
		if err := srv.Push(raw); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.WaitPushesAnswered(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if got := srv.PushStatuses(); got[pdu.StatusXTAppn] != 2 || len(got) != 1 {
		t.Errorf("SMSC push statuses %v, want two 0x64", got)
	}
	checkStillBound(t, ctx, srv, u, l)
}

func TestDataSMFromSMSC(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, w := newSMSC(t, smsctest.Config{})
	h := make(handler, 1)
	startBound(t, ctx, srv, Config{}, h)

	body := dataSMBody("447700900001", 0, "12345", "mo as data_sm")
	raw := pdu.Request(pdu.DataSM, 0, body)
	if err := srv.Push(raw); err != nil {
		t.Fatal(err)
	}
	d := h.next(t, ctx)
	if d.f.ID != pdu.DataSM || !bytes.Equal(d.f.Body(), body) {
		t.Fatalf("handler got %s %x", pdu.IDName(d.f.ID), d.f.Body())
	}
	d.ack(pdu.StatusOK)
	resps, err := w.waitN(ctx, 1, ofID(pdu.DataSMResp))
	if err != nil {
		t.Fatal(err)
	}
	if resps[0].f.Status != pdu.StatusOK || resps[0].f.Seq != d.f.Seq {
		t.Errorf("data_sm_resp status 0x%x seq %d, want 0 seq %d", uint32(resps[0].f.Status), resps[0].f.Seq, d.f.Seq)
	}
	if err := srv.WaitPushesAcked(ctx, 1); err != nil {
		t.Fatal(err)
	}
}

func TestReceiptAckStatusReachesSMSC(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv := smsctest.Start(t, smsctest.Config{})
	h := make(handler, 4)
	u, _ := startBound(t, ctx, srv, Config{}, h)

	raw, _ := submitSM(1, "447700900123", "receipt please", 1)
	r := await(t, ctx, submit(t, ctx, u, raw))
	if r.err != nil {
		t.Fatal(r.err)
	}
	d := h.next(t, ctx)
	sm := new(pdu.SM)
	if err := pdu.ParseSM(d.f.Body(), sm); err != nil || !pdu.IsReceipt(sm.ESMClass) {
		t.Fatalf("handler got esm_class 0x%x (%v), want a receipt", sm.ESMClass, err)
	}
	if id := messageID(t, r.f); !bytes.Contains(sm.ShortMessage, []byte("id:"+id)) {
		t.Errorf("receipt %q does not name message %q", sm.ShortMessage, id)
	}
	d.ack(pdu.StatusXTAppn)
	// The next submit's response comes after the SMSC read the ack.
	raw, _ = submitSM(2, "447700900123", "no receipt", 0)
	if r := await(t, ctx, submit(t, ctx, u, raw)); r.err != nil {
		t.Fatal(r.err)
	}
	if got := srv.ReceiptStatuses(); got[pdu.StatusXTAppn] != 1 || len(got) != 1 {
		t.Errorf("SMSC saw receipt acks %v, want one 0x64", got)
	}
}

// TestDeliverRightAfterBind pushes a deliver_sm as soon as the SMSC has
// answered the bind, as an SMSC with queued messages does, in the same
// TCP segment as the bind_resp: it must reach the handler, not be refused
// as arriving before the bind.
func TestDeliverRightAfterBind(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, w := newSMSCWire(t, smsctest.Config{}, &wire{holdBindResp: true})
	h := make(handler, 1)
	_, _ = start(t, Config{Addr: srv.Addr(), ReconnectMin: time.Millisecond, ReconnectMax: 2 * time.Millisecond}, h)
	go func() {
		for {
			select {
			case d := <-h:
				d.ack(pdu.StatusOK)
			case <-ctx.Done():
				return
			}
		}
	}()
	const rounds = 20
	for i := range rounds {
		if err := srv.WaitBinds(ctx, 1); err != nil {
			t.Fatal(err)
		}
		raw, _ := deliverSM("447700900001", fmt.Sprint("queued ", i))
		if err := srv.Push(raw); err != nil {
			t.Fatal(err)
		}
		resps, err := w.waitN(ctx, i+1, ofID(pdu.DeliverSMResp))
		if err != nil {
			t.Fatal(err)
		}
		if st := resps[i].f.Status; st != pdu.StatusOK {
			t.Fatalf("round %d: deliver_sm right after bind_resp answered 0x%x", i, uint32(st))
		}
		srv.DisconnectAll()
	}
}

// TestDeliverAckBurst: receipts are acked as they become durable, many at
// once under group commit. A burst of acks far above the bind's window
// goes out without the bind being taken for a slow consumer.
func TestDeliverAckBurst(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv := smsctest.Start(t, smsctest.Config{})
	const n = 2000
	h := make(handler, n)
	_, l := startBound(t, ctx, srv, Config{Window: 10}, h)
	raw, _ := deliverSM("447700900001", "burst")
	for range n {
		if err := srv.Push(raw); err != nil {
			t.Fatal(err)
		}
	}
	acks := make([]func(pdu.Status), 0, n)
	for range n {
		acks = append(acks, h.next(t, ctx).ack)
	}
	for _, ack := range acks {
		ack(pdu.StatusOK)
	}
	if err := srv.WaitPushesAcked(ctx, n); err != nil {
		t.Fatalf("%d of %d deliver_sm acked: %v", srv.PushesAcked(), n, err)
	}
	if lost := l.count("upstream bind lost"); len(lost) != 0 {
		t.Fatalf("bind lost during the burst: %v", lost)
	}
}
