package smppserver_test

import (
	"sync"
	"testing"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smppconn"
)

func TestHandlerPanic(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, nil)
	victim := esmetest.Bind(t, ctx, shop(h.addr, pdu.BindTransceiver))
	vs := recv(t, ctx, h.handler.bound, "SessionBound")
	other := esmetest.Bind(t, ctx, shop(h.addr, pdu.BindTransceiver))
	recv(t, ctx, h.handler.bound, "SessionBound")

	if r, err := victim.Submit(ctx, submitBody("boom")); err == nil {
		t.Fatalf("submit that panics the handler answered %+v", r)
	}
	recv(t, ctx, victim.Done(), "victim closed")
	if got := recv(t, ctx, h.handler.closed, "SessionClosed"); got != vs {
		t.Fatalf("SessionClosed(%d), want %d", got.ID(), vs.ID())
	}

	// The other session and the server carry on.
	r, err := other.Submit(ctx, submitBody("fine"))
	if err != nil || r.Status != pdu.StatusOK || r.MessageID != "m2" {
		t.Fatalf("submit on the other session: %+v %v", r, err)
	}
	third := esmetest.Bind(t, ctx, shop(h.addr, pdu.BindTransmitter))
	r, err = third.Submit(ctx, submitBody("fine"))
	if err != nil || r.Status != pdu.StatusOK || r.MessageID != "m2" {
		t.Fatalf("submit on a new session: %+v %v", r, err)
	}
	if n := h.srv.Registry.Count(testSystemID); n != 2 {
		t.Fatalf("Registry.Count = %d, want 2", n)
	}
}

// TestCloseDuringSessionBound closes a session while Handler.SessionBound
// runs: SessionClosed must wait for SessionBound to return.
func TestCloseDuringSessionBound(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	gate := make(chan struct{})
	release := sync.OnceFunc(func() { close(gate) })
	defer release()
	h := start(t, func(h *harness) { h.handler.boundGate = gate })
	rc, s := boundSession(t, ctx, h, pdu.BindTransceiver)
	s.Close(smppconn.ReasonShutdown)
	recv(t, ctx, s.Done(), "session done")
	if n := h.srv.Registry.Count(testSystemID); n != 0 {
		t.Fatalf("Registry.Count = %d after Close", n)
	}
	none(t, h.handler.closed, "SessionClosed while SessionBound runs")
	release()
	if got := recv(t, ctx, h.handler.closed, "SessionClosed"); got != s {
		t.Fatalf("SessionClosed(%d), want %d", got.ID(), s.ID())
	}
	expectEOF(t, ctx, rc)
}
