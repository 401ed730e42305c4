package smppconn

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
)

// listen returns a listener on a loopback port, closed by the test's end.
func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// pollerConn is a Conn using p, on one end of a loopback TCP connection.
type pollerConn struct {
	c       *Conn
	peer    net.Conn
	handled chan pdu.Frame
	checks  chan idleCheck
	stopped chan struct{}
}

// idleCheck is what the reader decided when its idle deadline passed,
// and how long it waited before that.
type idleCheck struct {
	handedOver bool
	after      time.Duration
}

func newPollerConn(t *testing.T, l net.Listener, p *Poller) *pollerConn {
	t.Helper()
	peer, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	nc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	pc := &pollerConn{peer: peer, handled: make(chan pdu.Frame, 8), checks: make(chan idleCheck, 64), stopped: make(chan struct{})}
	pc.c = New(nc, Config{Poller: p, OnStop: func() { close(pc.stopped) }})
	pc.c.idleChecked = func(handedOver bool) { pc.checks <- idleCheck{handedOver, pc.c.idleAfter} }
	pc.c.Start(func(f pdu.Frame) { pc.handled <- f })
	t.Cleanup(func() {
		pc.c.Close(ReasonShutdown, nil)
		pc.c.Wait()
	})
	return pc
}

// request sends a request from the peer, sees it handled and waits until
// the reader went idle again, and returns after how long.
func (pc *pollerConn) request(t *testing.T, seq uint32) time.Duration {
	t.Helper()
	req := pdu.Request(pdu.SubmitSM, seq, []byte("body"))
	if _, err := pc.peer.Write(req); err != nil {
		t.Fatal(err)
	}
	if f := recv(t, pc.handled, "the request"); !bytes.Equal(f.Raw, req) {
		t.Fatalf("read % x, want % x", f.Raw, req)
	}
	return pc.handedOver(t)
}

// handedOver waits until the reader went idle, and returns after how
// long.
func (pc *pollerConn) handedOver(t *testing.T) time.Duration {
	t.Helper()
	for {
		if ck := recv(t, pc.checks, "the idle check"); ck.handedOver {
			return ck.after
		}
	}
}

// waitParked waits until p holds n connections. The reader registers
// right after its idle check and signals nothing more, so this polls.
func waitParked(t *testing.T, p *Poller, n int) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitLimit)
	for p.parkedCount() != n {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%d connections registered with the poller, want %d", p.parkedCount(), n)
		}
	}
}

// TestPoller: idle connections wait on the Poller, with no goroutine of
// their own, and read on when their peer sends; closing a connection, its
// peer closing and closing the Poller each wake what waits.
func TestPoller(t *testing.T) {
	t.Parallel()
	l := listen(t)
	p := new(Poller)
	a, b, c := newPollerConn(t, l, p), newPollerConn(t, l, p), newPollerConn(t, l, p)
	if a.c.raw == nil {
		t.Skip("no socket to wait for on this system")
	}
	for _, pc := range []*pollerConn{a, b, c} {
		pc.request(t, 1)
	}
	waitParked(t, p, 3)
	for seq := range uint32(3) {
		a.request(t, seq+2)
		waitParked(t, p, 3)
	}

	// Closed here while waiting: the reader wakes to stop.
	b.c.Close(ReasonShutdown, nil)
	recv(t, b.stopped, "OnStop of the connection closed")
	waitParked(t, p, 2)

	// Closed by the peer while waiting: epoll says so.
	a.peer.Close()
	recv(t, a.stopped, "OnStop of the connection its peer closed")
	if r := a.c.Reason(); r != ReasonPeerClosed {
		t.Fatalf("reason %v, want %v", r, ReasonPeerClosed)
	}
	waitParked(t, p, 1)

	// The Poller closed: c waits on a goroutine of its own and still
	// reads.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if n := p.parkedCount(); n != 0 {
		t.Fatalf("%d connections registered after Close", n)
	}
	c.request(t, 2)
	c.request(t, 3)
	if n := p.parkedCount(); n != 0 {
		t.Fatalf("%d connections registered after Close", n)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
