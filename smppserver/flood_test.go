package smppserver_test

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smppconn"
	"github.com/smppmux/smppmux/smppserver"
)

// TestEnquireLinkFlood floods a bound session with enquire_link. The
// server reads no faster than it can write the answers, so what it holds
// per session is bounded: a client that reads gets every answer, one that
// does not is closed as a slow consumer once the socket buffers are full.
// Other sessions are served meanwhile.
func TestEnquireLinkFlood(t *testing.T) {
	t.Parallel()
	const n = 20000
	const first = 2

	// 20,000 written before reading: the socket buffers may hold them
	// all and their answers, or the writes stall both ways and the
	// server gives up after its write timeout.
	t.Run("read after", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		var reasons <-chan smppconn.Reason
		h := start(t, func(h *harness) {
			reasons = closeReasons(h, 8)
			h.srv.WriteTimeout = time.Second
		})
		flooder := bindRaw(t, ctx, h.addr, pdu.BindTransceiver)
		written := make(chan error, 1)
		go func() { written <- flooder.Send(enquireBurst(first, n)) }()
		other := serveOther(t, ctx, h.addr)
		// A write cut short means the server closed the session: the
		// reads below see it.
		recv(t, ctx, written, "flood written")
		enquire(t, ctx, other, 50)

		next := uint32(first)
		var err error
		for next < first+n {
			var f pdu.Frame
			if f, err = flooder.Read(ctx); err != nil {
				break
			}
			expect(t, f, pdu.EnquireLinkResp, pdu.StatusOK, next)
			next++
		}
		if next == first+n {
			enquire(t, ctx, flooder, first+n)
			none(t, reasons, "session close")
		} else {
			if !connEnded(err) {
				t.Fatalf("after %d answers: %v", next-first, err)
			}
			expectSlowConsumer(t, ctx, reasons)
		}
		enquire(t, ctx, other, 51)
	})

	// A client that pipelines 20,000 and reads as it goes is a fast
	// client, not a slow consumer: it gets every answer.
	t.Run("read meanwhile", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		var reasons <-chan smppconn.Reason
		h := start(t, func(h *harness) { reasons = closeReasons(h, 8) })
		flooder := bindRaw(t, ctx, h.addr, pdu.BindTransceiver)
		written := make(chan error, 1)
		go func() { written <- flooder.Send(enquireBurst(first, n)) }()
		other := serveOther(t, ctx, h.addr)
		for seq := uint32(first); seq < first+n; seq++ {
			expect(t, read(t, ctx, flooder), pdu.EnquireLinkResp, pdu.StatusOK, seq)
		}
		if err := recv(t, ctx, written, "flood written"); err != nil {
			t.Fatalf("flood: %v", err)
		}
		enquire(t, ctx, flooder, first+n)
		enquire(t, ctx, other, 50)
		none(t, reasons, "session close")
	})

	// A client that floods without end and never reads fills the socket
	// buffers both ways and is closed, having made the server buffer only
	// a bounded amount.
	t.Run("never read", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		var reasons <-chan smppconn.Reason
		h := start(t, func(h *harness) {
			reasons = closeReasons(h, 8)
			h.srv.WriteTimeout = 300 * time.Millisecond
		})
		flooder, s := boundSession(t, ctx, h, pdu.BindTransceiver)
		chunk := enquireBurst(first, 4096)
		// Kernel buffers on both sides absorb a few MiB at most; far more
		// means the server reads without bound.
		const limit = 64 << 20
		written := make(chan int, 1)
		go func() {
			total := 0
			for total < limit && flooder.Send(chunk) == nil {
				total += len(chunk)
			}
			written <- total
		}()
		serveOther(t, ctx, h.addr)
		recv(t, ctx, s.Done(), "flooded session closed")
		expectSlowConsumer(t, ctx, reasons)
		if total := recv(t, ctx, written, "flood stopped"); total >= limit {
			t.Fatalf("the server took %d octets from a client that does not read", total)
		}
	})
}

// TestRefusedSubmitFlood pipelines 5,000 malformed submit_sm that the
// Handler refuses at once, on the session's reader, while reading the
// answers: like enquire_link, they slow the client down rather than cut it
// off.
func TestRefusedSubmitFlood(t *testing.T) {
	t.Parallel()
	const n = 5000
	ctx := testCtx(t)
	var reasons <-chan smppconn.Reason
	h := start(t, func(h *harness) {
		reasons = closeReasons(h, 8)
		h.srv.Handler = parsingHandler{h.handler}
	})
	rc := bindRaw(t, ctx, h.addr, pdu.BindTransmitter)
	var b []byte
	for i := range n {
		b = append(b, pdu.Request(pdu.SubmitSM, uint32(2+i), []byte("x"))...)
	}
	written := make(chan error, 1)
	go func() { written <- rc.Send(b) }()
	for i := range n {
		expect(t, read(t, ctx, rc), pdu.SubmitSMResp, pdu.StatusInvMsgLen, uint32(2+i))
	}
	if err := recv(t, ctx, written, "flood written"); err != nil {
		t.Fatalf("flood: %v", err)
	}
	send(t, rc, submitPDU(2+n, "well formed"))
	expectMessageID(t, read(t, ctx, rc), pdu.SubmitSMResp, 2+n, fmt.Sprintf("m%d", 2+n))
	none(t, reasons, "session close")
}

// TestDeliverToNonReader delivers to a receiver that never reads: the
// deliver window (64) caps what the session holds, and once the client
// goes every delivery is failed and nothing is left running. It counts
// goroutines, so it does not run in parallel.
func TestDeliverToNonReader(t *testing.T) {
	const window = 64
	baseline := runtime.NumGoroutine()
	ctx := testCtx(t)
	fh := floodHandler{
		stubHandler: newStubHandler(),
		pushed:      make(chan pushResult, 1),
		done:        make(chan deliverResult, window),
	}
	h := start(t, func(h *harness) {
		h.srv.Handler = fh
		h.handler = fh.stubHandler
	})
	rc, s := boundSession(t, ctx, h, pdu.BindReceiver)

	r := recv(t, ctx, fh.pushed, "deliveries pushed")
	if r.n != window || !errors.Is(r.err, smppserver.ErrWindowFull) {
		t.Fatalf("pushed %d deliveries, then %v; want %d, then ErrWindowFull", r.n, r.err, window)
	}
	for range 10 * window {
		if err := s.Deliver(deliverPDU("more"), func(pdu.Frame, error) { t.Error("done called for a refused delivery") }); !errors.Is(err, smppserver.ErrWindowFull) {
			t.Fatalf("Deliver on a full window: %v, want ErrWindowFull", err)
		}
	}
	if n := s.DeliverWindowFree(); n != 0 {
		t.Fatalf("DeliverWindowFree = %d, want 0", n)
	}
	none(t, fh.done, "delivery answered by a client that does not read")

	rc.Close()
	for range window {
		if d := recv(t, ctx, fh.done, "delivery failed"); !errors.Is(d.err, smppserver.ErrClosed) {
			t.Fatalf("done: %v, want ErrClosed", d.err)
		}
	}
	if got := recv(t, ctx, h.handler.closed, "SessionClosed"); got != s {
		t.Fatalf("SessionClosed(%d), want %d", got.ID(), s.ID())
	}
	h.srv.Close()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	recv(t, ctx, h.served, "Serve to return")
	waitGoroutines(t, ctx, baseline)
}
