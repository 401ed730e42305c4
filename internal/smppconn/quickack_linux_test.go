package smppconn

import (
	"runtime"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/quickack"
)

// TestQuickAckAfterRead: once the Conn has answered a request, Linux
// holds back the ACK of what it reads next, hoping to carry it on a
// reply; a peer with Nagle's algorithm on then waits for it. Each time
// its reader waits for the peer the Conn puts its socket back in quick-ACK
// mode, here seen once it has read a response it will never reply to. (Without that the kernel
// leaves the mode by itself only when its delayed ACK fires, 40 ms or
// more later.)
func TestQuickAckAfterRead(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{}, nil)
	// A few exchanges: a reply sent soon after a read makes the kernel
	// delay its ACKs (pingpong mode).
	for seq := uint32(1); seq <= 3; seq++ {
		fx.send(t, pdu.Empty(pdu.EnquireLink, pdu.StatusOK, seq))
		f := recv(t, fx.handled, "enquire_link")
		fx.c.Send(pdu.Empty(pdu.EnquireLinkResp, pdu.StatusOK, f.Seq))
		expectHeader(t, fx.read(t), pdu.EnquireLinkResp, pdu.StatusOK, seq)
	}
	on, err := quickack.Armed(fx.nc)
	if err != nil {
		t.Fatal(err)
	}
	if on {
		t.Fatal("the socket acknowledges at once after replying: the kernel never delays ACKs here, nothing to check")
	}
	fx.send(t, pdu.MessageIDResp(pdu.DeliverSMResp, pdu.StatusOK, 99, ""))
	recv(t, fx.unmatched, "the unmatched response")
	// The reader arms the socket as it goes back to wait for the next
	// PDU, just after it handed this one on.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if on, err = quickack.Armed(fx.nc); err != nil {
			t.Fatal(err)
		}
		if on {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("after reading a PDU the socket still delays its ACK as the reader waits")
		}
		runtime.Gosched()
	}
}
