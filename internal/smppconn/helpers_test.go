package smppconn

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

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
