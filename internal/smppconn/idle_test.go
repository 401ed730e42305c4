package smppconn

import (
	"bytes"
	"net"
	"testing"

	"github.com/smppmux/smppmux/internal/pdu"
)

// TestIdleHandover: a connection that reads nothing for idleAfter hands
// its reading over to a goroutine waiting for the socket, which reads on
// when the peer sends; a read deadline passing mid-PDU loses nothing; and
// OnStop follows the close once the last reader has stopped.
func TestIdleHandover(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	peer, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	nc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	handled := make(chan pdu.Frame, 8)
	checks := make(chan bool, 64)
	stopped := make(chan struct{})
	c := New(nc, Config{OnStop: func() { close(stopped) }})
	if c.raw == nil {
		t.Skip("no socket to wait for on this system")
	}
	c.idleChecked = func(handedOver bool) { checks <- handedOver }
	c.Start(func(f pdu.Frame) { handled <- f })

	// waitHandover waits until the reader handed over; fewer checks
	// than that mean nothing was read for idleAfter yet.
	waitHandover := func() {
		t.Helper()
		for !recv(t, checks, "the idle check") {
		}
	}
	for i := range 3 {
		req := pdu.Request(pdu.SubmitSM, uint32(i+1), []byte("body"))
		if _, err := peer.Write(req); err != nil {
			t.Fatal(err)
		}
		if f := recv(t, handled, "the request"); !bytes.Equal(f.Raw, req) {
			t.Fatalf("request %d: read % x, want % x", i, f.Raw, req)
		}
		waitHandover()
	}

	// Half a PDU, then the idle deadline passes twice (no hand-over: a
	// PDU is under way), then the rest.
	req := pdu.Request(pdu.SubmitSM, 9, bytes.Repeat([]byte{7}, 300))
	if _, err := peer.Write(req[:150]); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if recv(t, checks, "the idle check") {
			t.Fatal("handed over in the middle of a PDU")
		}
	}
	if _, err := peer.Write(req[150:]); err != nil {
		t.Fatal(err)
	}
	if f := recv(t, handled, "the request cut by deadlines"); !bytes.Equal(f.Raw, req) {
		t.Fatalf("request cut by deadlines: read % x, want % x", f.Raw, req)
	}
	waitHandover()

	// A peer closing while the reader waits ends the connection.
	peer.Close()
	recv(t, stopped, "OnStop")
	if r := c.Reason(); r != ReasonPeerClosed {
		t.Fatalf("reason %v, want %v", r, ReasonPeerClosed)
	}
	c.Wait()
}
