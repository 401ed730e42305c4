package smppconn

import (
	"bytes"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
)

// TestIdleHandover: a connection with no Poller that reads nothing for a
// while hands its reading over to a goroutine waiting for the socket,
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
	// Woken soon after each hand-over, it waits twice as long before
	// the next.
	for i, want := range []time.Duration{idleAfterMin, 2 * idleAfterMin} {
		if got := pc.request(t, uint32(i+1)); got != want {
			t.Fatalf("request %d: idle after %v, want %v", i+1, got, want)
		}
	}

	// Half a PDU, then the idle deadline passes twice (no hand-over: a
	// PDU is under way), then the rest.
	req := pdu.Request(pdu.SubmitSM, 9, bytes.Repeat([]byte{7}, 300))
	if _, err := pc.peer.Write(req[:150]); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if recv(t, pc.checks, "the idle check").handedOver {
			t.Fatal("handed over in the middle of a PDU")
		}
	}
	if _, err := pc.peer.Write(req[150:]); err != nil {
		t.Fatal(err)
	}
	if f := recv(t, pc.handled, "the request cut by deadlines"); !bytes.Equal(f.Raw, req) {
		t.Fatalf("request cut by deadlines: read % x, want % x", f.Raw, req)
	}
	if after := pc.handedOver(t); after != 4*idleAfterMin {
		t.Fatalf("after the cut request: idle after %v, want %v", after, 4*idleAfterMin)
	}

	// Busy: woken soon after going idle (800 ms), then the deadline
	// passing finds PDUs read just before, and the reader waits twice as
	// long again (1.6 s).
	busy := time.After(waitLimit)
busyLoop:
	for seq := uint32(100); ; seq++ {
		select {
		case ck := <-pc.checks:
			if ck.handedOver || ck.after != 16*idleAfterMin {
				t.Fatalf("busy connection: handed over %v, idle after %v; want false, %v", ck.handedOver, ck.after, 16*idleAfterMin)
			}
			break busyLoop
		case <-busy:
			t.Fatal("no idle check on a busy connection")
		default:
		}
		if _, err := pc.peer.Write(pdu.Request(pdu.SubmitSM, seq, nil)); err != nil {
			t.Fatal(err)
		}
		recv(t, pc.handled, "a request")
	}

	// A peer closing ends the connection.
	pc.peer.Close()
	recv(t, pc.stopped, "OnStop")
	if r := pc.c.Reason(); r != ReasonPeerClosed {
		t.Fatalf("reason %v, want %v", r, ReasonPeerClosed)
	}
	pc.c.Wait()
}

func TestNextIdleAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cur, waited, want time.Duration
	}{
		{idleAfterMin, time.Millisecond, 2 * idleAfterMin},
		{idleAfterMin, idleAfterMax - 1, 2 * idleAfterMin},
		{idleAfterMin, idleAfterMax, idleAfterMin},
		{idleAfterMax / 2, time.Second, idleAfterMax},
		{idleAfterMax, time.Second, idleAfterMax},
		{idleAfterMax, time.Hour, idleAfterMin},
	}
	for _, tt := range tests {
		if got := nextIdleAfter(tt.cur, tt.waited); got != tt.want {
			t.Errorf("nextIdleAfter(%v, %v) = %v, want %v", tt.cur, tt.waited, got, tt.want)
		}
	}
}
