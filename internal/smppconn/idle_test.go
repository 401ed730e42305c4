package smppconn

import (
	"bytes"
	"testing"

	"github.com/smppmux/smppmux/internal/pdu"
)

// TestIdleHandover: a connection with no Poller that reads nothing for
// idleAfter hands its reading over to a goroutine waiting for the socket,
// which reads on when the peer sends; a read deadline passing mid-PDU
// loses nothing; and OnStop follows the close once the last reader has
// stopped.
func TestIdleHandover(t *testing.T) {
	t.Parallel()
	l := listen(t)
	pc := newPollerConn(t, l, nil)
	if pc.c.raw == nil {
		t.Skip("no socket to wait for on this system")
	}
	for seq := range uint32(3) {
		pc.request(t, seq+1)
	}

	// Half a PDU, then the idle deadline passes twice (no hand-over: a
	// PDU is under way), then the rest.
	req := pdu.Request(pdu.SubmitSM, 9, bytes.Repeat([]byte{7}, 300))
	if _, err := pc.peer.Write(req[:150]); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if recv(t, pc.checks, "the idle check") {
			t.Fatal("handed over in the middle of a PDU")
		}
	}
	if _, err := pc.peer.Write(req[150:]); err != nil {
		t.Fatal(err)
	}
	if f := recv(t, pc.handled, "the request cut by deadlines"); !bytes.Equal(f.Raw, req) {
		t.Fatalf("request cut by deadlines: read % x, want % x", f.Raw, req)
	}
	for !recv(t, pc.checks, "the idle check") {
	}

	// A peer closing while the reader waits ends the connection.
	pc.peer.Close()
	recv(t, pc.stopped, "OnStop")
	if r := pc.c.Reason(); r != ReasonPeerClosed {
		t.Fatalf("reason %v, want %v", r, ReasonPeerClosed)
	}
	pc.c.Wait()
}
