package smppconn

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
)

const waitLimit = 10 * time.Second

type closeEvent struct {
	r   Reason
	err error
}

// fixture is a Conn on one end of a loopback TCP connection and a raw
// peer on the other.
type fixture struct {
	c         *Conn
	nc        net.Conn // the Conn's end
	peer      net.Conn
	rd        *pdu.Reader
	handled   chan pdu.Frame
	closed    chan closeEvent
	unmatched chan pdu.Frame
}

// newFixture starts a Conn with cfg; handle, when not nil, replaces the
// handler that records requests.
func newFixture(t testing.TB, cfg Config, handle func(pdu.Frame)) *fixture {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, _ := l.Accept()
		accepted <- nc
	}()
	peer, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	nc := <-accepted
	if nc == nil {
		t.Fatal("accept failed")
	}
	fx := &fixture{
		nc:        nc,
		peer:      peer,
		rd:        pdu.NewReader(peer, 0),
		handled:   make(chan pdu.Frame, 64),
		closed:    make(chan closeEvent, 4),
		unmatched: make(chan pdu.Frame, 64),
	}
	cfg.OnClose = func(r Reason, err error) { fx.closed <- closeEvent{r, err} }
	cfg.OnUnmatched = func(f pdu.Frame) { fx.unmatched <- f }
	fx.c = New(nc, cfg)
	if handle == nil {
		handle = func(f pdu.Frame) { fx.handled <- f }
	}
	fx.c.Start(handle)
	t.Cleanup(func() {
		peer.Close()
		fx.c.Close(ReasonShutdown, nil)
		fx.c.Wait()
	})
	return fx
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("waiting for %s", what)
		panic("unreachable")
	}
}

func none[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("unexpected %s", what)
	default:
	}
}

func (fx *fixture) send(t *testing.T, b []byte) {
	t.Helper()
	if _, err := fx.peer.Write(b); err != nil {
		t.Fatalf("peer write: %v", err)
	}
}

func (fx *fixture) read(t *testing.T) pdu.Frame {
	t.Helper()
	fx.peer.SetReadDeadline(time.Now().Add(waitLimit))
	f, err := fx.rd.Read()
	if err != nil {
		t.Fatalf("peer read: %v", err)
	}
	return f
}

func (fx *fixture) expectEOF(t *testing.T) {
	t.Helper()
	fx.peer.SetReadDeadline(time.Now().Add(waitLimit))
	f, err := fx.rd.Read()
	if err == nil {
		t.Fatalf("peer got %s seq %d, want end of stream", pdu.IDName(f.ID), f.Seq)
	}
	if !errors.Is(err, io.EOF) {
		t.Fatalf("peer read: %v, want EOF", err)
	}
}

func (fx *fixture) expectClose(t *testing.T, want Reason) closeEvent {
	t.Helper()
	ev := recv(t, fx.closed, "OnClose")
	if ev.r != want {
		t.Fatalf("closed for %v (%v), want %v", ev.r, ev.err, want)
	}
	recv(t, fx.c.Done(), "Done")
	if got := fx.c.Reason(); got != want {
		t.Fatalf("Reason() = %v, want %v", got, want)
	}
	return ev
}

func expectHeader(t *testing.T, f pdu.Frame, id pdu.ID, st pdu.Status, seq uint32) {
	t.Helper()
	if f.ID != id || f.Status != st || f.Seq != seq {
		t.Fatalf("got %s 0x%08X seq %d, want %s 0x%08X seq %d",
			pdu.IDName(f.ID), uint32(f.Status), f.Seq, pdu.IDName(id), uint32(st), seq)
	}
}

type result struct {
	f   pdu.Frame
	err error
}

func collect(ch chan result) func(pdu.Frame, error) {
	return func(f pdu.Frame, err error) { ch <- result{f, err} }
}

func submit() []byte { return pdu.Request(pdu.SubmitSM, 0, []byte("body")) }

func TestRequestResponse(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{}, nil)
	done := make(chan result, 1)
	b := submit()
	if err := fx.c.Request(ctxFor(t), b, waitLimit, collect(done)); err != nil {
		t.Fatal(err)
	}
	f := fx.read(t)
	expectHeader(t, f, pdu.SubmitSM, pdu.StatusOK, 1)
	if !bytes.Equal(f.Body(), []byte("body")) || pdu.ParseHeader(b).Seq != 1 {
		t.Fatalf("sent % x", f.Raw)
	}
	if n := fx.c.Pending(); n != 1 {
		t.Fatalf("Pending = %d", n)
	}

	// A response of another command with the same sequence does not match.
	fx.send(t, pdu.MessageIDResp(pdu.DeliverSMResp, pdu.StatusOK, 1, ""))
	u := recv(t, fx.unmatched, "unmatched response")
	expectHeader(t, u, pdu.DeliverSMResp, pdu.StatusOK, 1)
	none(t, done, "done call")

	fx.send(t, pdu.MessageIDResp(pdu.SubmitSMResp, pdu.StatusOK, 1, "abc"))
	r := recv(t, done, "done")
	if r.err != nil {
		t.Fatal(r.err)
	}
	expectHeader(t, r.f, pdu.SubmitSMResp, pdu.StatusOK, 1)
	if id, _ := pdu.ParseMessageIDResp(r.f.Body()); string(id) != "abc" {
		t.Fatalf("message_id %q", id)
	}
	if n := fx.c.Pending(); n != 0 {
		t.Fatalf("Pending = %d", n)
	}
	if fx.c.RemoteAddr().String() != fx.peer.LocalAddr().String() || fx.c.LocalAddr().String() != fx.peer.RemoteAddr().String() {
		t.Fatal("addresses mixed up")
	}
}

func TestGenericNackAnswersRequest(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{}, nil)
	done := make(chan result, 1)
	if err := fx.c.TryRequest(submit(), waitLimit, collect(done)); err != nil {
		t.Fatal(err)
	}
	f := fx.read(t)
	fx.send(t, pdu.Empty(pdu.GenericNack, pdu.StatusInvCmdID, f.Seq))
	r := recv(t, done, "done")
	if r.err != nil {
		t.Fatal(r.err)
	}
	expectHeader(t, r.f, pdu.GenericNack, pdu.StatusInvCmdID, f.Seq)
	if n := fx.c.WindowFree(); n != 10 {
		t.Fatalf("WindowFree = %d, want 10", n)
	}
}

func TestWindow(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{Window: 2}, nil)
	done := make(chan result, 4)
	for range 2 {
		if err := fx.c.TryRequest(submit(), waitLimit, collect(done)); err != nil {
			t.Fatal(err)
		}
	}
	if err := fx.c.TryRequest(submit(), waitLimit, collect(done)); !errors.Is(err, ErrWindowFull) {
		t.Fatalf("TryRequest past the window: %v", err)
	}
	if n := fx.c.WindowFree(); n != 0 {
		t.Fatalf("WindowFree = %d", n)
	}

	// Request waits for a slot until its context ends.
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := fx.c.Request(short, submit(), waitLimit, collect(done)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Request on a full window: %v", err)
	}

	// A waiting Request gets the slot a response frees.
	queued := make(chan error, 1)
	ctx := ctxFor(t)
	go func() { queued <- fx.c.Request(ctx, submit(), waitLimit, collect(done)) }()
	f := fx.read(t)
	fx.read(t)
	fx.send(t, pdu.Empty(pdu.SubmitSMResp, pdu.StatusSysErr, f.Seq))
	if r := recv(t, done, "done"); r.err != nil || r.f.Status != pdu.StatusSysErr {
		t.Fatalf("done: %+v %v", r.f.Header, r.err)
	}
	if err := recv(t, queued, "queued Request"); err != nil {
		t.Fatal(err)
	}
	expectHeader(t, fx.read(t), pdu.SubmitSM, pdu.StatusOK, 3)
	none(t, done, "done call")
}

func TestResponseTimeout(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{Window: 1}, nil)
	done := make(chan result, 1)
	if err := fx.c.TryRequest(submit(), 50*time.Millisecond, collect(done)); err != nil {
		t.Fatal(err)
	}
	f := fx.read(t)
	if r := recv(t, done, "done"); !errors.Is(r.err, ErrTimeout) {
		t.Fatalf("done: %v, want ErrTimeout", r.err)
	}
	if n := fx.c.WindowFree(); n != 1 {
		t.Fatalf("WindowFree = %d after the timeout", n)
	}
	// The late response is unmatched; the connection goes on.
	fx.send(t, pdu.Empty(pdu.SubmitSMResp, pdu.StatusOK, f.Seq))
	expectHeader(t, recv(t, fx.unmatched, "unmatched"), pdu.SubmitSMResp, pdu.StatusOK, f.Seq)
	none(t, done, "second done call")
	if fx.c.Reason() != ReasonNone {
		t.Fatalf("closed: %v", fx.c.Reason())
	}
}

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

func TestCallContext(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{}, nil)
	ctx, cancel := context.WithTimeout(ctxFor(t), 50*time.Millisecond)
	defer cancel()
	if _, err := fx.c.Call(ctx, pdu.Empty(pdu.EnquireLink, pdu.StatusOK, 0), waitLimit); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Call: %v", err)
	}
	ctx = ctxFor(t)
	res := make(chan result, 1)
	go func() {
		f, err := fx.c.Call(ctx, pdu.Empty(pdu.EnquireLink, pdu.StatusOK, 0), waitLimit)
		res <- result{f, err}
	}()
	expectHeader(t, fx.read(t), pdu.EnquireLink, pdu.StatusOK, 1)
	expectHeader(t, fx.read(t), pdu.EnquireLink, pdu.StatusOK, 2)
	fx.send(t, pdu.Empty(pdu.EnquireLinkResp, pdu.StatusOK, 2))
	r := recv(t, res, "Call")
	if r.err != nil {
		t.Fatal(r.err)
	}
	expectHeader(t, r.f, pdu.EnquireLinkResp, pdu.StatusOK, 2)
	// The abandoned call still takes its late response quietly.
	fx.send(t, pdu.Empty(pdu.EnquireLinkResp, pdu.StatusOK, 1))
	none(t, fx.unmatched, "unmatched response")
}

func TestSequenceWraps(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{}, nil)
	fx.c.mu.Lock()
	fx.c.seq = pdu.MaxSeq - 1
	fx.c.mu.Unlock()
	done := make(chan result, 3)
	for _, want := range []uint32{pdu.MaxSeq, 1, 2} {
		if err := fx.c.TryRequest(submit(), waitLimit, collect(done)); err != nil {
			t.Fatal(err)
		}
		expectHeader(t, fx.read(t), pdu.SubmitSM, pdu.StatusOK, want)
	}
}

func TestHandleAndUnknownCommand(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{}, nil)
	var in []byte
	in = append(in, pdu.Empty(pdu.EnquireLink, pdu.StatusOK, 1)...)
	in = append(in, pdu.AppendHeader(nil, pdu.ID(0x99), pdu.StatusOK, 2, 2)...)
	in = append(in, 'x', 'y')
	in = append(in, pdu.Request(pdu.SubmitSM, 3, []byte("z"))...)
	fx.send(t, in)
	expectHeader(t, recv(t, fx.handled, "request"), pdu.EnquireLink, pdu.StatusOK, 1)
	f := recv(t, fx.handled, "request")
	expectHeader(t, f, pdu.SubmitSM, pdu.StatusOK, 3)
	if string(f.Body()) != "z" {
		t.Fatalf("body %q", f.Body())
	}
	expectHeader(t, fx.read(t), pdu.GenericNack, pdu.StatusInvCmdID, 2)
	none(t, fx.handled, "request")
}

// TestStrayResponses: a response that matches no request, of a known
// command or of one SMPP does not define, is dropped and never answered:
// the next PDU the peer reads answers its next request.
func TestStrayResponses(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{}, nil)
	fx.send(t, append(esmetest.StrayResponses(40), pdu.Empty(pdu.EnquireLink, pdu.StatusOK, 45)...))
	for _, want := range []pdu.ID{pdu.SubmitSMResp, pdu.DeliverSMResp, 0x80000099, 0x8000FFFF, pdu.GenericNack} {
		u := recv(t, fx.unmatched, "unmatched response")
		if u.ID != want {
			t.Fatalf("unmatched %s 0x%08X seq %d, want 0x%08X", pdu.IDName(u.ID), uint32(u.ID), u.Seq, uint32(want))
		}
	}
	f := recv(t, fx.handled, "request")
	expectHeader(t, f, pdu.EnquireLink, pdu.StatusOK, 45)
	fx.c.Send(pdu.Empty(pdu.EnquireLinkResp, pdu.StatusOK, f.Seq))
	expectHeader(t, fx.read(t), pdu.EnquireLinkResp, pdu.StatusOK, 45)
}

func TestBadLength(t *testing.T) {
	t.Parallel()
	for _, n := range []uint32{0, 4, 15, pdu.DefaultMaxLen + 1} {
		fx := newFixture(t, Config{}, nil)
		hdr := pdu.AppendHeader(nil, pdu.SubmitSM, pdu.StatusOK, 9, 0)
		binary.BigEndian.PutUint32(hdr, n)
		fx.send(t, hdr)
		expectHeader(t, fx.read(t), pdu.GenericNack, pdu.StatusInvCmdLen, 9)
		fx.expectEOF(t)
		ev := fx.expectClose(t, ReasonBadLength)
		if !errors.Is(ev.err, pdu.ErrLength) {
			t.Fatalf("close error %v", ev.err)
		}
	}
}

func TestMaxPDU(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{MaxPDU: 32}, nil)
	fx.send(t, pdu.Request(pdu.SubmitSM, 1, make([]byte, 16)))
	expectHeader(t, recv(t, fx.handled, "request"), pdu.SubmitSM, pdu.StatusOK, 1)
	fx.send(t, pdu.Request(pdu.SubmitSM, 2, make([]byte, 17)))
	expectHeader(t, fx.read(t), pdu.GenericNack, pdu.StatusInvCmdLen, 2)
	fx.expectClose(t, ReasonBadLength)
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

func TestTruncatedFrame(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{}, nil)
	fx.send(t, pdu.Request(pdu.SubmitSM, 1, []byte("whole body"))[:20])
	fx.peer.(*net.TCPConn).CloseWrite()
	fx.expectClose(t, ReasonReadError)
	none(t, fx.handled, "request")
}

func TestPanicInHandler(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{}, func(f pdu.Frame) {
		if f.ID == pdu.SubmitSM {
			panic("handler bug")
		}
	})
	fx.send(t, pdu.Request(pdu.SubmitSM, 1, nil))
	ev := fx.expectClose(t, ReasonPanic)
	if ev.err == nil {
		t.Fatal("no error with the panic")
	}
	fx.expectEOF(t)
	fx.c.Wait()
}

func TestKeepalive(t *testing.T) {
	t.Parallel()
	// The response timeout leaves room for a test goroutine held up on a
	// busy machine: an answer 100 ms late closed the connection.
	fx := newFixture(t, Config{EnquireLinkInterval: 30 * time.Millisecond, ResponseTimeout: time.Second}, nil)
	var last uint32
	for range 3 {
		f := fx.read(t)
		expectHeader(t, f, pdu.EnquireLink, pdu.StatusOK, f.Seq)
		if f.Seq <= last {
			t.Fatalf("enquire_link seq %d after %d", f.Seq, last)
		}
		last = f.Seq
		fx.send(t, pdu.Empty(pdu.EnquireLinkResp, pdu.StatusOK, f.Seq))
	}
	// Unanswered, the next one closes the connection.
	expectHeader(t, fx.read(t), pdu.EnquireLink, pdu.StatusOK, last+1)
	sent := time.Now()
	fx.expectEOF(t)
	fx.expectClose(t, ReasonDeadPeer)
	if d := time.Since(sent); d < 500*time.Millisecond {
		t.Fatalf("closed %v after the enquire_link, before its response timeout", d)
	}
	none(t, fx.unmatched, "unmatched response")
}

func TestInactivity(t *testing.T) {
	t.Parallel()
	start := time.Now()
	fx := newFixture(t, Config{InactivityTimeout: 100 * time.Millisecond}, nil)
	fx.expectEOF(t)
	fx.expectClose(t, ReasonDeadPeer)
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("closed after %v", d)
	}
}

func TestNoKeepalive(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{}, nil)
	if fx.c.keepaliveDelay(0) != 0 {
		t.Fatal("keepalive on without interval or timeout")
	}
	fx.send(t, pdu.Empty(pdu.EnquireLink, pdu.StatusOK, 1))
	recv(t, fx.handled, "request")
}

func TestKeepaliveDelay(t *testing.T) {
	t.Parallel()
	cases := []struct {
		iv, it, idle, want time.Duration
	}{
		{0, 0, 0, 0},
		{30 * time.Second, 0, 0, 30 * time.Second},
		{30 * time.Second, 0, 10 * time.Second, 20 * time.Second},
		{30 * time.Second, 0, 35 * time.Second, 25 * time.Second},
		{0, 90 * time.Second, 0, 90 * time.Second},
		{0, 90 * time.Second, 80 * time.Second, 10 * time.Second},
		{30 * time.Second, 90 * time.Second, 0, 30 * time.Second},
		{30 * time.Second, 40 * time.Second, 35 * time.Second, 5 * time.Second},
		{30 * time.Second, 90 * time.Second, 89999 * time.Millisecond, 10 * time.Millisecond},
	}
	for _, tc := range cases {
		c := &Conn{cfg: Config{EnquireLinkInterval: tc.iv, InactivityTimeout: tc.it}}
		if got := c.keepaliveDelay(tc.idle); got != tc.want {
			t.Errorf("interval %v timeout %v idle %v: delay %v, want %v", tc.iv, tc.it, tc.idle, got, tc.want)
		}
	}
}

func TestSlowConsumer(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{QueueLen: 1, WriteTimeout: waitLimit}, nil)
	big := pdu.Request(pdu.GenericNack, 0, make([]byte, pdu.DefaultMaxLen-pdu.HeaderLen))
	var err error
	for i := 0; i < 1<<20 && err == nil; i++ {
		err = fx.c.Send(big)
	}
	if !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("Send to a peer that does not read: %v, want ErrSlowConsumer", err)
	}
	ev := fx.expectClose(t, ReasonSlowPending)
	if !errors.Is(ev.err, ErrSlowConsumer) {
		t.Fatalf("close error %v", ev.err)
	}
	fx.c.Wait()
}

func TestWriteTimeout(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{WriteTimeout: 100 * time.Millisecond, QueueLen: 1 << 12}, nil)
	big := pdu.Request(pdu.GenericNack, 0, make([]byte, pdu.DefaultMaxLen-pdu.HeaderLen))
	// 64 MiB is more than the socket buffers hold and less than the queue:
	// the writer misses its deadline before the queue overflows.
	for range 1 << 10 {
		if err := fx.c.Send(big); errors.Is(err, ErrClosed) {
			break // the deadline already passed
		} else if err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	ev := fx.expectClose(t, ReasonSlowDeadline)
	if !errors.Is(ev.err, os.ErrDeadlineExceeded) {
		t.Fatalf("close error %v, want a write deadline", ev.err)
	}
}

func TestReasonString(t *testing.T) {
	t.Parallel()
	for r, want := range map[Reason]string{
		ReasonNone: "none", ReasonPeerClosed: "peer_closed", ReasonUnbind: "unbind",
		ReasonReadError: "read_error", ReasonWriteError: "write_error", ReasonBadLength: "bad_length",
		ReasonBindTimeout: "bind_timeout", ReasonBindFailed: "bind_failed", ReasonDeadPeer: "dead_peer",
		ReasonShutdown: "shutdown", ReasonPanic: "panic", ReasonProtocol: "protocol_error",
		ReasonKicked: "kicked", ReasonSuspended: "suspended",
		ReasonSlowPending: "slow_consumer_pending", ReasonSlowDeadline: "slow_consumer_deadline",
		ReasonRemoved: "removed",
		Reason(-1):    "unknown", Reason(99): "unknown",
	} {
		if got := r.String(); got != want {
			t.Errorf("Reason(%d).String() = %q, want %q", int(r), got, want)
		}
	}
}

// TestResponseTimeoutsInDeadlineOrder: requests of different timeouts
// share the connection's one timer, each failing at its own deadline and
// not before; an answered one never times out, and the window slots of
// the expired ones come back.
func TestResponseTimeoutsInDeadlineOrder(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		local, peer := net.Pipe()
		c := New(local, Config{Window: 4})
		c.Start(func(pdu.Frame) {})
		frames := make(chan pdu.Frame, 8)
		go func() {
			rd := pdu.NewReader(peer, 0)
			for {
				f, err := rd.Read()
				if err != nil {
					close(frames)
					return
				}
				frames <- f
			}
		}()
		start := time.Now()
		type outcome struct {
			name  string
			after time.Duration
			err   error
		}
		outcomes := make(chan outcome, 4)
		request := func(name string, timeout time.Duration) {
			t.Helper()
			err := c.TryRequest(submit(), timeout, func(_ pdu.Frame, err error) {
				outcomes <- outcome{name, time.Since(start), err}
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		request("a", 10*time.Second)
		request("b", 5*time.Second)
		request("c", 10*time.Second)
		request("d", 2*time.Second)
		a := <-frames
		for range 3 {
			<-frames
		}
		if _, err := peer.Write(pdu.Empty(pdu.SubmitSMResp, pdu.StatusOK, a.Seq)); err != nil {
			t.Fatal(err)
		}
		want := []outcome{{"a", 0, nil}, {"d", 2 * time.Second, ErrTimeout},
			{"b", 5 * time.Second, ErrTimeout}, {"c", 10 * time.Second, ErrTimeout}}
		for _, w := range want {
			got := <-outcomes
			if got.name != w.name || got.after != w.after || !errors.Is(got.err, w.err) {
				t.Fatalf("got %s after %v (%v), want %s after %v (%v)", got.name, got.after, got.err, w.name, w.after, w.err)
			}
		}
		if n := c.WindowFree(); n != 4 || c.Pending() != 0 {
			t.Fatalf("WindowFree = %d, Pending = %d after every call ended", n, c.Pending())
		}
		// The timer, idle now, serves a later request too.
		request("e", time.Second)
		<-frames
		if got := <-outcomes; got.name != "e" || got.after != 11*time.Second || !errors.Is(got.err, ErrTimeout) {
			t.Fatalf("got %s after %v (%v), want e after 11s (timeout)", got.name, got.after, got.err)
		}
		c.Close(ReasonShutdown, nil)
		c.Wait()
		_ = peer.Close()
		for range frames {
		}
	})
}

// BenchmarkRequestResponse relays submit_sm and submit_sm_resp between
// two Conns over loopback TCP with 100 requests outstanding, as an
// upstream bind under load: allocations per round trip, both sides.
func BenchmarkRequestResponse(b *testing.B) {
	fx := newFixture(b, Config{Window: 100}, nil)
	peer := New(fx.peer, Config{Window: 100})
	resp := pdu.MessageIDResp(pdu.SubmitSMResp, pdu.StatusOK, 0, "19a3c5e2f0b14")
	peer.Start(func(f pdu.Frame) {
		r := slices.Clone(resp)
		pdu.SetSeq(r, f.Seq)
		_ = peer.Send(r)
	})
	b.Cleanup(func() {
		peer.Close(ReasonShutdown, nil)
		peer.Wait()
	})
	ctx := ctxFor(b)
	var wg sync.WaitGroup
	done := func(_ pdu.Frame, err error) {
		if err != nil {
			b.Error(err)
		}
		wg.Done()
	}
	body := submit()[pdu.HeaderLen:]
	b.ReportAllocs()
	for b.Loop() {
		wg.Add(1)
		if err := fx.c.Request(ctx, pdu.Request(pdu.SubmitSM, 0, body), time.Minute, done); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
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

// startUnbind runs Unbind(ctx, r) in a goroutine and returns the channel
// closed when it returns, with the unbind the peer read.
func startUnbind(t *testing.T, fx *fixture, ctx context.Context, r Reason) (<-chan struct{}, pdu.Frame) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fx.c.Unbind(ctx, r)
	}()
	f := fx.read(t)
	if f.ID != pdu.Unbind {
		t.Fatalf("peer got %s, want unbind", pdu.IDName(f.ID))
	}
	return done, f
}
