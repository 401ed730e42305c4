package upstream

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smppconn"
	"github.com/smppmux/smppmux/internal/smsctest"
)

func TestEnquireLinkFromSMSC(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, w := newSMSC(t, smsctest.Config{EnquireLinkInterval: 20 * time.Millisecond})
	u, l := startBound(t, ctx, srv, Config{EnquireLinkInterval: time.Minute}, nil)

	resps, err := w.waitN(ctx, 5, ofID(pdu.EnquireLinkResp))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range resps {
		if p.conn != 0 || p.f.Status != pdu.StatusOK {
			t.Errorf("enquire_link_resp on connection %d status 0x%x", p.conn, uint32(p.f.Status))
		}
	}
	checkStillBound(t, ctx, srv, u, l)
}

func TestEnquireLinkFromBind(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, w := newSMSC(t, smsctest.Config{})
	// Inactivity closes the bind after three intervals without a PDU, so
	// five enquire_link later the SMSC's answers kept it alive.
	u, l := startBound(t, ctx, srv, Config{EnquireLinkInterval: 100 * time.Millisecond}, nil)

	els, err := w.waitN(ctx, 5, ofID(pdu.EnquireLink))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range els {
		if p.conn != 0 {
			t.Errorf("enquire_link on connection %d: the bind was replaced", p.conn)
		}
	}
	checkStillBound(t, ctx, srv, u, l)
}

func TestDeadSMSCDetected(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	gate := make(chan struct{})
	var seen atomic.Int32
	srv := smsctest.Start(t, smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
		if seen.Add(1) == 1 {
			<-gate // the SMSC stops reading this connection
		}
		return smsctest.Reply{}
	}})
	u, l := start(t, Config{
		Addr: srv.Addr(), EnquireLinkInterval: 100 * time.Millisecond,
		ResponseTimeout: time.Minute, ReconnectMin: 10 * time.Millisecond,
	}, nil)
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(gate) }) })
	waitBound(t, ctx, u, l, 1)

	raw, _ := submitSM(1, "447700900123", "into the void", 0)
	if r := await(t, ctx, submit(t, ctx, u, raw)); !errors.Is(r.err, smppconn.ErrClosed) {
		t.Fatalf("submit to a dead SMSC: %v, want ErrClosed", r.err)
	}
	waitBound(t, ctx, u, l, 2)
	raw, _ = submitSM(2, "447700900123", "alive", 0)
	if r := await(t, ctx, submit(t, ctx, u, raw)); r.err != nil {
		t.Fatalf("submit after reconnecting: %v", r.err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.entries {
		if e.msg == "upstream bind lost" && e.fields["reason"] != smppconn.ReasonDeadPeer.String() {
			t.Errorf("bind lost for %v, want %s", e.fields["reason"], smppconn.ReasonDeadPeer)
		}
	}
}

// TestHungSMSCFoundQuickly: when an SMSC hangs (its connection up, nothing
// answered), the first request that times out sends an enquire_link at
// once; while it is out the bind takes no submit, and when it goes
// unanswered the bind is closed as a dead peer and redialled, long before
// the keepalive would have noticed.
func TestHungSMSCFoundQuickly(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, w := newSMSC(t, smsctest.Config{})
	const timeout = 300 * time.Millisecond
	u, l := start(t, Config{Addr: srv.Addr(), ResponseTimeout: timeout, EnquireLinkInterval: time.Hour,
		ReconnectMin: 10 * time.Millisecond, ReconnectMax: 20 * time.Millisecond}, nil)
	waitBound(t, ctx, u, l, 1)
	srv.SetHung(true)
	raw, _ := submitSM(1, "447700900123", "lost", 0)
	if r := await(t, ctx, submit(t, ctx, u, raw)); !errors.Is(r.err, smppconn.ErrTimeout) {
		t.Fatalf("submit to a hung SMSC: %v, want ErrTimeout", r.err)
	}
	if u.Healthy() {
		t.Fatal("the bind takes submits while its link is being checked")
	}
	raw, _ = submitSM(2, "447700900123", "held back", 0)
	if err := u.Submit(ctx, raw, func(pdu.Frame, error) {}); !errors.Is(err, ErrNotBound) {
		t.Fatalf("submit to a suspect bind: %v, want ErrNotBound", err)
	}
	if _, err := w.waitN(ctx, 1, ofID(pdu.EnquireLink)); err != nil {
		t.Fatalf("no enquire_link after the timeout: %v", err)
	}
	if err := l.wait(ctx, func(es []logEntry) bool {
		for _, e := range es {
			if e.msg == "upstream bind lost" && e.fields["reason"] == "dead_peer" {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("the bind was not closed as a dead peer: %v", err)
	}
	srv.SetHung(false)
	waitBound(t, ctx, u, l, 2)
	if n := len(w.snapshot(ofID(pdu.SubmitSM))); n != 1 {
		t.Fatalf("%d submit_sm written, want only the first: none into the suspect bind", n)
	}
}
