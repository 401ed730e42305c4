package smppserver_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/smppserver"
)

func TestShutdown(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, func(h *harness) { h.handler.hold = true })
	rc, s := boundSession(t, ctx, h, pdu.BindTransceiver)
	unbound := esmetest.Connect(t, ctx, h.addr)
	// Make sure the server accepted it: a connection still in the
	// listener's backlog is reset when the listener closes.
	send(t, unbound, pdu.Empty(pdu.EnquireLink, pdu.StatusOK, 1))
	expect(t, read(t, ctx, unbound), pdu.EnquireLinkResp, pdu.StatusInvBndSts, 1)
	send(t, rc, submitPDU(2, "in flight"))
	held := recv(t, ctx, h.handler.requests, "request")

	shutdown := make(chan error, 1)
	go func() { shutdown <- h.srv.Shutdown(ctx) }()

	// Serve returns as soon as the listener is closed.
	recv(t, ctx, h.served, "Serve to return")
	if !errors.Is(h.serveErr, smppserver.ErrServerClosed) {
		t.Fatalf("Serve: %v, want ErrServerClosed", h.serveErr)
	}
	// The connection that never bound is closed at once.
	expectEOF(t, ctx, unbound)
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	default:
	}

	answer(held.s, held.f)
	expectMessageID(t, read(t, ctx, rc), pdu.SubmitSMResp, 2, "m2")
	f := read(t, ctx, rc)
	expect(t, f, pdu.Unbind, pdu.StatusOK, f.Seq)
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned %v before unbind_resp", err)
	default:
	}
	// A request arriving while unbinding is refused.
	send(t, rc, submitPDU(3, "late"))
	expect(t, read(t, ctx, rc), pdu.SubmitSMResp, pdu.StatusInvBndSts, 3)
	none(t, h.handler.requests, "request handled while unbinding")
	send(t, rc, pdu.Empty(pdu.UnbindResp, pdu.StatusOK, f.Seq))
	if err := recv(t, ctx, shutdown, "Shutdown"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	expectEOF(t, ctx, rc)
	if got := recv(t, ctx, h.handler.closed, "SessionClosed"); got != s {
		t.Fatalf("SessionClosed(%d), want %d", got.ID(), s.ID())
	}
	if n := len(h.srv.Sessions()); n != 0 {
		t.Fatalf("%d sessions left after Shutdown", n)
	}
	if n := h.srv.Registry.Count(testSystemID); n != 0 {
		t.Fatalf("Registry.Count = %d after Shutdown", n)
	}
	if err := s.Deliver(pdu.Request(pdu.DeliverSM, 0, submitBody("x")), func(pdu.Frame, error) {}); !errors.Is(err, smppserver.ErrClosed) {
		t.Fatalf("Deliver after Shutdown: %v, want ErrClosed", err)
	}

	// A stopped server does not serve again.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := h.srv.Serve(l); !errors.Is(err, smppserver.ErrServerClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}

func TestShutdownClient(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, nil)
	clients := []*esmetest.Client{
		esmetest.Bind(t, ctx, shop(h.addr, pdu.BindTransmitter)),
		esmetest.Bind(t, ctx, shop(h.addr, pdu.BindReceiver)),
	}
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, c := range clients {
		recv(t, ctx, c.Done(), "client closed")
		// The client answers the unbind, then either closes itself or sees
		// the server close first.
		if err := c.Err(); !errors.Is(err, esmetest.ErrUnbound) && !errors.Is(err, esmetest.ErrPeerClosed) {
			t.Fatalf("client ended with %v, want an unbind", err)
		}
	}
	recv(t, ctx, h.served, "Serve to return")
	if !errors.Is(h.serveErr, smppserver.ErrServerClosed) {
		t.Fatalf("Serve: %v", h.serveErr)
	}
}

// TestShutdownDeadline checks that a client that never answers the unbind
// holds Shutdown only until its context ends.
func TestShutdownDeadline(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, nil)
	rc := bindRaw(t, ctx, h.addr, pdu.BindTransceiver)
	recv(t, ctx, h.handler.bound, "SessionBound")

	sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := h.srv.Shutdown(sctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want context.DeadlineExceeded", err)
	}
	f := read(t, ctx, rc)
	expect(t, f, pdu.Unbind, pdu.StatusOK, f.Seq)
	expectEOF(t, ctx, rc)
	recv(t, ctx, h.handler.closed, "SessionClosed")
}

// TestShutdownIdle checks Shutdown of a server that never served.
func TestShutdownIdle(t *testing.T) {
	t.Parallel()
	srv := &smppserver.Server{Auth: &stubAuth{}, Handler: newStubHandler()}
	if err := srv.Shutdown(testCtx(t)); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := srv.Serve(l); !errors.Is(err, smppserver.ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
}
