package smppserver_test

import (
	"testing"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smppconn"
)

// TestUnbindKeepsItsReason: a session unbound for a reason closes with
// that reason whether the client answers the unbind and closes the
// connection itself, as many do, or closes it without an answer; the
// client's close is not taken for the reason.
func TestUnbindKeepsItsReason(t *testing.T) {
	t.Parallel()
	for _, answer := range []bool{true, false} {
		ctx := testCtx(t)
		reasons := make(chan smppconn.Reason, 1)
		h := start(t, func(h *harness) { h.srv.OnSessionClosed = func(r smppconn.Reason) { reasons <- r } })
		rc, s := boundSession(t, ctx, h, pdu.BindTransceiver)
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.Unbind(ctx, smppconn.ReasonKicked)
		}()
		f := read(t, ctx, rc)
		expect(t, f, pdu.Unbind, pdu.StatusOK, f.Seq)
		if answer {
			send(t, rc, pdu.Empty(pdu.UnbindResp, pdu.StatusOK, f.Seq))
		}
		rc.Close()
		if r := recv(t, ctx, reasons, "the close"); r != smppconn.ReasonKicked {
			t.Errorf("answered %v: closed for %v, want kicked", answer, r)
		}
		recv(t, ctx, done, "Unbind's return")
	}
}

func TestUnbind(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, nil)
	rc, s := boundSession(t, ctx, h, pdu.BindTransceiver)
	if n := len(h.srv.Registry.Receivers(testSystemID)); n != 1 {
		t.Fatalf("%d receivers, want 1", n)
	}

	send(t, rc, pdu.Empty(pdu.Unbind, pdu.StatusOK, 5))
	expect(t, read(t, ctx, rc), pdu.UnbindResp, pdu.StatusOK, 5)
	expectEOF(t, ctx, rc)

	if got := recv(t, ctx, h.handler.closed, "SessionClosed"); got != s {
		t.Fatalf("SessionClosed(%d), want session %d", got.ID(), s.ID())
	}
	recv(t, ctx, s.Done(), "session done")
	if n := h.srv.Registry.Count(testSystemID); n != 0 {
		t.Fatalf("Registry.Count = %d after unbind", n)
	}
	if n := len(h.srv.Registry.Receivers(testSystemID)); n != 0 {
		t.Fatalf("%d receivers after unbind", n)
	}
	none(t, h.handler.closed, "second SessionClosed")
}

func TestUnbindClient(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, nil)
	c := esmetest.Bind(t, ctx, shop(h.addr, pdu.BindReceiver))
	recv(t, ctx, h.handler.bound, "SessionBound")
	if err := c.Unbind(ctx); err != nil {
		t.Fatalf("Unbind: %v", err)
	}
	recv(t, ctx, h.handler.closed, "SessionClosed")
	if n := h.srv.Registry.Count(testSystemID); n != 0 {
		t.Fatalf("Registry.Count = %d after unbind", n)
	}
}

// TestPeerClosed checks that a bound client dropping the TCP connection
// ends its session like an unbind does.
func TestPeerClosed(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, nil)
	c := esmetest.Bind(t, ctx, shop(h.addr, pdu.BindTransceiver))
	s := recv(t, ctx, h.handler.bound, "SessionBound")
	c.Close()
	if got := recv(t, ctx, h.handler.closed, "SessionClosed"); got != s {
		t.Fatalf("SessionClosed(%d), want %d", got.ID(), s.ID())
	}
	if n := h.srv.Registry.Count(testSystemID); n != 0 {
		t.Fatalf("Registry.Count = %d", n)
	}
}

// TestUnbindAnswersWhatIsUnderWay: a client unbinds with a submit of its
// own unanswered and a deliver_sm of ours unanswered (they crossed on the
// wire). The submit gets its response and the deliver_sm the client's
// answer before unbind_resp comes; no new delivery is taken meanwhile.
func TestUnbindAnswersWhatIsUnderWay(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, func(h *harness) { h.handler.hold = true })
	rc, s := boundSession(t, ctx, h, pdu.BindTransceiver)

	delivered := make(chan pdu.Frame, 1)
	if err := s.Deliver(pdu.Request(pdu.DeliverSM, 0, []byte("receipt")), func(f pdu.Frame, err error) {
		if err != nil {
			t.Errorf("delivery: %v", err)
		}
		delivered <- f
	}); err != nil {
		t.Fatal(err)
	}
	dsm := read(t, ctx, rc)
	if dsm.ID != pdu.DeliverSM {
		t.Fatalf("read %s, want deliver_sm", pdu.IDName(dsm.ID))
	}
	send(t, rc, submitPDU(7, "hello"))
	req := recv(t, ctx, h.handler.requests, "submit")
	send(t, rc, pdu.Empty(pdu.Unbind, pdu.StatusOK, 8))
	// Its answer tells that the unbind before it was read.
	enquire(t, ctx, rc, 9)
	// Unbinding: no receiver for new deliveries, and Deliver refuses.
	if n := len(h.srv.Registry.Receivers(testSystemID)); n != 0 {
		t.Fatalf("%d receivers while unbinding", n)
	}
	if err := s.Deliver(pdu.Request(pdu.DeliverSM, 0, []byte("late")), func(pdu.Frame, error) {}); err == nil {
		t.Fatal("a session unbinding took a new delivery")
	}

	answer(req.s, req.f)
	expect(t, read(t, ctx, rc), pdu.SubmitSMResp, pdu.StatusOK, 7)
	send(t, rc, pdu.Empty(pdu.DeliverSMResp, pdu.StatusOK, dsm.Seq))
	if f := recv(t, ctx, delivered, "the delivery's answer"); f.Status != pdu.StatusOK {
		t.Fatalf("delivery answered 0x%08x", uint32(f.Status))
	}
	expect(t, read(t, ctx, rc), pdu.UnbindResp, pdu.StatusOK, 8)
	expectEOF(t, ctx, rc)
}
