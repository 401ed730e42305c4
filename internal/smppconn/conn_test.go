package smppconn

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
)

func TestClose(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{Window: 1}, nil)
	done := make(chan result, 2)
	if err := fx.c.TryRequest(submit(), waitLimit, collect(done)); err != nil {
		t.Fatal(err)
	}
	fx.read(t)
	calls := make(chan result, 1)
	ctx := ctxFor(t)
	go func() {
		f, err := fx.c.Call(ctx, pdu.Empty(pdu.EnquireLink, pdu.StatusOK, 0), waitLimit)
		calls <- result{f, err}
	}()
	expectHeader(t, fx.read(t), pdu.EnquireLink, pdu.StatusOK, 2)

	fx.c.Close(ReasonShutdown, nil)
	fx.c.Close(ReasonPanic, nil) // no effect
	fx.expectClose(t, ReasonShutdown)
	if r := recv(t, done, "done"); !errors.Is(r.err, ErrClosed) {
		t.Fatalf("pending request: %v, want ErrClosed", r.err)
	}
	if r := recv(t, calls, "Call"); !errors.Is(r.err, ErrClosed) {
		t.Fatalf("Call: %v, want ErrClosed", r.err)
	}
	fx.expectEOF(t)
	none(t, fx.closed, "second OnClose")

	// Everything fails at once afterwards, even with the window full.
	if err := fx.c.TryRequest(submit(), waitLimit, collect(done)); !errors.Is(err, ErrClosed) {
		t.Fatalf("TryRequest after Close: %v, want ErrClosed", err)
	}
	if err := fx.c.Request(ctxFor(t), submit(), waitLimit, collect(done)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Request after Close: %v, want ErrClosed", err)
	}
	if _, err := fx.c.Call(ctxFor(t), pdu.Empty(pdu.EnquireLink, pdu.StatusOK, 0), waitLimit); !errors.Is(err, ErrClosed) {
		t.Fatalf("Call after Close: %v, want ErrClosed", err)
	}
	if err := fx.c.Send(pdu.Empty(pdu.EnquireLinkResp, pdu.StatusOK, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close: %v, want ErrClosed", err)
	}
	fx.c.Wait()
	none(t, done, "done call")
}

// TestCloseBeforeWriting: requests still queued when the connection closes
// fail with ErrNotSent, and none of them reaches the peer; those the writer
// took fail with ErrClosed.
func TestCloseBeforeWriting(t *testing.T) {
	t.Parallel()
	const n = 512
	fx := newFixture(t, Config{Window: n, WriteTimeout: waitLimit}, nil)
	// 32 MiB of requests: far more than the socket buffers hold while the
	// peer reads nothing, so most stay queued.
	body := make([]byte, pdu.DefaultMaxLen-pdu.HeaderLen)
	done := make(chan result, n)
	for range n {
		if err := fx.c.TryRequest(pdu.Request(pdu.SubmitSM, 0, body), waitLimit, collect(done)); err != nil {
			t.Fatal(err)
		}
	}
	fx.c.Close(ReasonReadError, nil)
	notSent, closed := 0, 0
	for range n {
		switch r := recv(t, done, "done"); {
		case errors.Is(r.err, ErrNotSent):
			notSent++
		case errors.Is(r.err, ErrClosed):
			closed++
		default:
			t.Fatalf("request ended with %v", r.err)
		}
	}
	if notSent == 0 || closed == 0 {
		t.Fatalf("%d not sent, %d closed; want both", notSent, closed)
	}
	var ns interface{ NotSent() bool }
	if !errors.As(ErrNotSent, &ns) || !ns.NotSent() {
		t.Fatal("ErrNotSent does not say NotSent")
	}
	// A request never written also failed because the connection closed:
	// callers asking only that see ErrClosed.
	if !errors.Is(ErrNotSent, ErrClosed) || errors.Is(ErrClosed, ErrNotSent) {
		t.Fatal("ErrNotSent is not ErrClosed, or ErrClosed is ErrNotSent")
	}
	// The peer gets at most the requests the writer took.
	fx.peer.SetReadDeadline(time.Now().Add(waitLimit))
	got := 0
	for {
		if _, err := fx.rd.Read(); err != nil {
			break
		}
		got++
	}
	if got > closed {
		t.Fatalf("peer read %d requests, but only %d were taken by the writer", got, closed)
	}
	t.Logf("%d taken (%d reached the peer), %d never written", closed, got, notSent)
}

func TestSendAndClose(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{}, nil)
	for i := range 3 {
		if err := fx.c.Send(pdu.Empty(pdu.EnquireLinkResp, pdu.StatusOK, uint32(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	fx.c.SendAndClose(pdu.Empty(pdu.UnbindResp, pdu.StatusOK, 4), ReasonUnbind, nil)
	for i := range 3 {
		expectHeader(t, fx.read(t), pdu.EnquireLinkResp, pdu.StatusOK, uint32(i+1))
	}
	expectHeader(t, fx.read(t), pdu.UnbindResp, pdu.StatusOK, 4)
	fx.expectEOF(t)
	fx.expectClose(t, ReasonUnbind)
	// Once closed, SendAndClose neither writes nor panics.
	fx.c.SendAndClose(pdu.Empty(pdu.UnbindResp, pdu.StatusOK, 5), ReasonUnbind, nil)
}

func TestPeerClosed(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{}, nil)
	done := make(chan result, 1)
	if err := fx.c.TryRequest(submit(), waitLimit, collect(done)); err != nil {
		t.Fatal(err)
	}
	fx.read(t)
	fx.peer.Close()
	fx.expectClose(t, ReasonPeerClosed)
	if r := recv(t, done, "done"); !errors.Is(r.err, ErrClosed) {
		t.Fatalf("done: %v", r.err)
	}
}

// TestUnbind: Unbind sends unbind, waits for its unbind_resp and then
// closes with the reason given; a peer that never answers is closed once
// ctx is done, before UnbindTimeout.
func TestUnbind(t *testing.T) {
	t.Parallel()
	t.Run("answered", func(t *testing.T) {
		t.Parallel()
		fx := newFixture(t, Config{}, nil)
		done, f := startUnbind(t, fx, context.Background(), ReasonRemoved)
		select {
		case <-done:
			t.Fatal("Unbind returned before its unbind_resp")
		case <-fx.c.Done():
			t.Fatal("closed before the unbind_resp")
		default:
		}
		fx.send(t, pdu.Empty(pdu.UnbindResp, pdu.StatusOK, f.Seq))
		recv(t, done, "Unbind")
		fx.expectClose(t, ReasonRemoved)
		fx.expectEOF(t)
	})
	t.Run("unanswered", func(t *testing.T) {
		t.Parallel()
		fx := newFixture(t, Config{}, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done, _ := startUnbind(t, fx, ctx, ReasonShutdown)
		start := time.Now()
		cancel()
		recv(t, done, "Unbind after ctx")
		if d := time.Since(start); d >= UnbindTimeout {
			t.Fatalf("Unbind took %v after ctx was done", d)
		}
		fx.expectClose(t, ReasonShutdown)
	})
	t.Run("closed already", func(t *testing.T) {
		t.Parallel()
		fx := newFixture(t, Config{}, nil)
		fx.c.Close(ReasonPeerClosed, nil)
		fx.expectClose(t, ReasonPeerClosed)
		fx.c.Unbind(context.Background(), ReasonShutdown)
		if got := fx.c.Reason(); got != ReasonPeerClosed {
			t.Fatalf("Reason() = %v after Unbind of a closed connection, want peer_closed", got)
		}
	})
}

// TestUnbindPeerClosesFirst: a peer that answers our unbind and closes at
// once, before Unbind closes, ends the connection for Unbind's reason,
// not peer_closed.
func TestUnbindPeerClosesFirst(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{}, nil)
	done, f := startUnbind(t, fx, context.Background(), ReasonRemoved)
	fx.send(t, pdu.Empty(pdu.UnbindResp, pdu.StatusOK, f.Seq))
	if err := fx.peer.Close(); err != nil {
		t.Fatal(err)
	}
	recv(t, done, "Unbind")
	fx.expectClose(t, ReasonRemoved)
}

// TestUnbindWritesCrossingAnswers: the answer to a request that crossed
// the unbind on the wire, queued before the unbind_resp was read, is
// written in full before Unbind closes the connection. The answer is
// larger than the sockets' buffers and the peer reads only once it has
// sent its unbind_resp, so a close that did not wait for it cuts it short.
func TestUnbindWritesCrossingAnswers(t *testing.T) {
	t.Parallel()
	body := make([]byte, 256<<10)
	for i := range body {
		body[i] = byte(i % 253)
	}
	var fx *fixture
	fx = newFixture(t, Config{}, func(f pdu.Frame) {
		_ = fx.c.Send(pdu.Request(pdu.GenericNack, f.Seq, body))
	})
	if err := fx.nc.(*net.TCPConn).SetWriteBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	if err := fx.peer.(*net.TCPConn).SetReadBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	done, f := startUnbind(t, fx, context.Background(), ReasonRemoved)
	crossing := pdu.Request(pdu.SubmitSM, 9, []byte("body"))
	fx.send(t, append(crossing, pdu.Empty(pdu.UnbindResp, pdu.StatusOK, f.Seq)...))
	if err := fx.peer.SetReadDeadline(time.Now().Add(waitLimit)); err != nil {
		t.Fatal(err)
	}
	rd := pdu.NewReader(fx.peer, 1<<20)
	a, err := rd.Read()
	if err != nil {
		t.Fatalf("reading the answer to the crossing request: %v", err)
	}
	if a.Seq != 9 || !bytes.Equal(a.Body(), body) {
		t.Fatalf("answer seq %d, %d octets of body, intact %v", a.Seq, len(a.Body()), bytes.Equal(a.Body(), body))
	}
	recv(t, done, "Unbind")
	fx.expectClose(t, ReasonRemoved)
}
