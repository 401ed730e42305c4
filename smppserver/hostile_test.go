package smppserver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smppconn"
	"github.com/smppmux/smppmux/smppserver"
)

// Hostile clients: floods, stalls, clients that never read or never bind,
// malformed bodies. Each must cost the server a bounded amount and end or
// leave only its own session.

// parsingHandler answers like a relay that decodes before it forwards:
// submit_sm through pdu.ParseSM and data_sm through pdu.ParseDataSM, a
// malformed body refused with the FieldError's status, a well-formed one
// accepted with message id "m<seq>". query_sm, cancel_sm, replace_sm and
// submit_multi get ESME_RSYSERR. With a stubHandler it also records the
// calls; without one it records nothing.
type parsingHandler struct{ *stubHandler }

func (h parsingHandler) HandleRequest(s *smppserver.Session, f pdu.Frame) {
	if h.stubHandler != nil {
		select {
		case h.requests <- request{s: s, f: f}:
		default:
		}
	}
	s.Respond(parsedAnswer(f))
}

func (h parsingHandler) SessionBound(s *smppserver.Session) {
	if h.stubHandler != nil {
		h.stubHandler.SessionBound(s)
	}
}

func (h parsingHandler) SessionClosed(s *smppserver.Session) {
	if h.stubHandler != nil {
		h.stubHandler.SessionClosed(s)
	}
}

// parsedAnswer is parsingHandler's response to the request f.
func parsedAnswer(f pdu.Frame) []byte {
	var err error
	switch f.ID {
	case pdu.SubmitSM:
		var sm pdu.SM
		err = pdu.ParseSM(f.Body(), &sm)
	case pdu.DataSM:
		var sm pdu.SM
		err = pdu.ParseDataSM(f.Body(), &sm)
	default:
		return pdu.Empty(pdu.RespID(f.ID), pdu.StatusSysErr, f.Seq)
	}
	if err != nil {
		st := pdu.StatusSysErr
		var fe *pdu.FieldError
		if errors.As(err, &fe) {
			st = fe.Status
		}
		return pdu.Empty(pdu.RespID(f.ID), st, f.Seq)
	}
	return pdu.MessageIDResp(pdu.RespID(f.ID), pdu.StatusOK, f.Seq, fmt.Sprintf("m%d", f.Seq))
}

// closeReasons makes h's server report why each session ended, as long
// as the returned channel, of capacity n, has room.
func closeReasons(h *harness, n int) <-chan smppconn.Reason {
	ch := make(chan smppconn.Reason, n)
	h.srv.OnSessionClosed = func(r smppconn.Reason) {
		select {
		case ch <- r:
		default:
		}
	}
	return ch
}

func expectReason(t *testing.T, ctx context.Context, reasons <-chan smppconn.Reason, want smppconn.Reason) {
	t.Helper()
	if r := recv(t, ctx, reasons, "session close"); r != want {
		t.Fatalf("session closed with reason %v, want %v", r, want)
	}
}

// expectSlowConsumer waits for a session closed as a slow consumer: by
// pending PDUs (the output queue full) or by write deadline, whichever
// the client's socket buffers let happen first.
func expectSlowConsumer(t *testing.T, ctx context.Context, reasons <-chan smppconn.Reason) {
	t.Helper()
	switch r := recv(t, ctx, reasons, "session close"); r {
	case smppconn.ReasonSlowPending, smppconn.ReasonSlowDeadline:
	default:
		t.Fatalf("session closed with reason %v, want a slow consumer's", r)
	}
}

// connEnded reports whether err is how a read sees a connection the
// server closed: end of stream, a frame cut by the close, or a reset
// because the server closed with input left unread.
func connEnded(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// expectEnded reads until the server closes rc, failing on any PDU.
func expectEnded(t *testing.T, ctx context.Context, rc *esmetest.RawConn) {
	t.Helper()
	f, err := rc.Read(ctx)
	if err == nil {
		t.Fatalf("got %s seq %d, want the connection closed", pdu.IDName(f.ID), f.Seq)
	}
	if !connEnded(err) {
		t.Fatalf("read: %v, want the connection closed", err)
	}
}

// enquireBurst returns n enquire_link numbered from first.
func enquireBurst(first uint32, n int) []byte {
	b := make([]byte, 0, n*pdu.HeaderLen)
	for i := range n {
		b = append(b, pdu.Empty(pdu.EnquireLink, pdu.StatusOK, first+uint32(i))...)
	}
	return b
}

// serveOther binds a second client and checks it is served while another
// session is flooded.
func serveOther(t *testing.T, ctx context.Context, addr string) *esmetest.RawConn {
	t.Helper()
	other := dialRaw(t, ctx, addr)
	rawBind(t, ctx, other, pdu.BindTransmitter)
	for seq := uint32(2); seq < 12; seq++ {
		enquire(t, ctx, other, seq)
		send(t, other, submitPDU(100+seq, "during the flood"))
		expectMessageID(t, read(t, ctx, other), pdu.SubmitSMResp, 100+seq, fmt.Sprintf("m%d", 100+seq))
	}
	return other
}

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
		flooder := dialRaw(t, ctx, h.addr)
		rawBind(t, ctx, flooder, pdu.BindTransceiver)
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
		flooder := dialRaw(t, ctx, h.addr)
		rawBind(t, ctx, flooder, pdu.BindTransceiver)
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
		flooder := dialRaw(t, ctx, h.addr)
		rawBind(t, ctx, flooder, pdu.BindTransceiver)
		s := recv(t, ctx, h.handler.bound, "SessionBound")
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
	rc := dialRaw(t, ctx, h.addr)
	rawBind(t, ctx, rc, pdu.BindTransmitter)
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

// floodHandler delivers to each session it sees bound until the deliver
// window refuses, and reports how far it got.
type floodHandler struct {
	*stubHandler
	pushed chan pushResult
	done   chan deliverResult
}

type pushResult struct {
	n   int
	err error
}

func (h floodHandler) SessionBound(s *smppserver.Session) {
	h.stubHandler.SessionBound(s)
	var r pushResult
	for {
		r.err = s.Deliver(deliverPDU("never read"), func(f pdu.Frame, err error) { h.done <- deliverResult{f, err} })
		if r.err != nil {
			break
		}
		r.n++
	}
	h.pushed <- r
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
	rc := dialRaw(t, ctx, h.addr)
	rawBind(t, ctx, rc, pdu.BindReceiver)
	s := recv(t, ctx, h.handler.bound, "SessionBound")

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

// waitGoroutines waits until no more than n goroutines run. Goroutines end
// a moment after what they signal, and nothing signals the very end, so
// this polls.
func waitGoroutines(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for runtime.NumGoroutine() > n {
		select {
		case <-tick.C:
		case <-ctx.Done():
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), n, buf)
		}
	}
}

// TestStall sends part of a PDU and stops, or trickles a body that never
// completes: only whole PDUs count as activity, so the bind timeout closes
// such a connection before bind and the inactivity timeout after it.
func TestStall(t *testing.T) {
	t.Parallel()
	const (
		bindTimeout = 150 * time.Millisecond
		inactivity  = 300 * time.Millisecond
		announced   = 60 * 1024
	)
	bigHeader := pdu.AppendHeader(nil, pdu.SubmitSM, pdu.StatusOK, 2, announced-pdu.HeaderLen)
	cases := []struct {
		name    string
		bound   bool
		partial []byte // sent at once
		trickle bool   // then one more body octet every 10ms
	}{
		{"half header", false, bigHeader[:8], false},
		{"half header after bind", true, bigHeader[:8], false},
		{"60KiB announced, body stalls", false, append(bigHeader, make([]byte, 1000)...), false},
		{"60KiB announced, body stalls after bind", true, append(bigHeader, make([]byte, 1000)...), false},
		{"60KiB announced, body trickles", false, bigHeader, true},
		{"60KiB announced, body trickles after bind", true, bigHeader, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			var reasons <-chan smppconn.Reason
			h := start(t, func(h *harness) {
				reasons = closeReasons(h, 4)
				h.srv.BindTimeout = bindTimeout
				h.srv.InactivityTimeout = inactivity
				h.srv.EnquireLinkInterval = time.Minute
			})
			// The server cannot have read a whole PDU from the client
			// before this.
			began := time.Now()
			rc := dialRaw(t, ctx, h.addr)
			limit, reason := bindTimeout, smppconn.ReasonBindTimeout
			if tc.bound {
				rawBind(t, ctx, rc, pdu.BindTransceiver)
				limit, reason = inactivity, smppconn.ReasonDeadPeer
			}
			send(t, rc, tc.partial)
			if tc.trickle {
				stop := make(chan struct{})
				stopped := make(chan struct{})
				defer func() {
					close(stop)
					<-stopped
				}()
				go func() {
					defer close(stopped)
					tick := time.NewTicker(10 * time.Millisecond)
					defer tick.Stop()
					for {
						select {
						case <-tick.C:
						case <-stop:
							return
						}
						if rc.Send([]byte{'x'}) != nil {
							return
						}
					}
				}()
			}
			expectEnded(t, ctx, rc)
			if d := time.Since(began); d < limit {
				t.Fatalf("closed after %v, before the %v timeout", d, limit)
			}
			expectReason(t, ctx, reasons, reason)
			if tc.bound {
				recv(t, ctx, h.handler.closed, "SessionClosed")
			}
			none(t, h.handler.requests, "request")
		})
	}
}

// TestNeverBind opens 1,000 connections that never bind: the bind timeout
// closes every one, the server forgets them all and binds as usual after.
func TestNeverBind(t *testing.T) {
	t.Parallel()
	const (
		conns       = 1000
		bindTimeout = 200 * time.Millisecond
	)
	ctx := testCtx(t)
	var reasons <-chan smppconn.Reason
	h := start(t, func(h *harness) {
		reasons = closeReasons(h, conns+8)
		h.srv.BindTimeout = bindTimeout
	})
	idle := make([]*esmetest.RawConn, conns)
	dialed := make([]time.Time, conns)
	for i := range idle {
		dialed[i] = time.Now()
		idle[i] = dialRaw(t, ctx, h.addr)
	}
	for i, rc := range idle {
		expectEOF(t, ctx, rc)
		if d := time.Since(dialed[i]); d < bindTimeout {
			t.Fatalf("connection %d closed after %v, before the bind timeout", i, d)
		}
		rc.Close()
	}
	for range conns {
		expectReason(t, ctx, reasons, smppconn.ReasonBindTimeout)
	}
	waitNoSessions(t, ctx, h.srv)

	c := dial(t, ctx, h.addr, pdu.BindTransceiver)
	if r, err := c.Submit(ctx, submitBody("after")); err != nil || r.Status != pdu.StatusOK {
		t.Fatalf("submit after the idle connections: %+v %v", r, err)
	}
	none(t, h.handler.closed, "SessionClosed")
}

// TestTruncatedSubmit sends submit_sm frames whose body is cut inside a
// field: each is answered with an error status from the body decoder and
// the session carries on.
func TestTruncatedSubmit(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, func(h *harness) { h.srv.Handler = parsingHandler{h.handler} })
	rc := dialRaw(t, ctx, h.addr)
	rawBind(t, ctx, rc, pdu.BindTransmitter)

	body := esmetest.SubmitBody("Shop", "447700900001", []byte("truncated here"), 1, nil)
	dest := bytes.Index(body, []byte("4477"))
	text := bytes.Index(body, []byte("truncated"))
	tlv := pdu.AppendTLV(nil, pdu.TagSarMsgRefNum, []byte{0, 7})
	named := []struct {
		name string
		body []byte
		want pdu.Status
	}{
		{"empty", nil, pdu.StatusInvMsgLen},
		{"inside destination_addr", body[:dest+4], pdu.StatusInvMsgLen},
		{"before sm_length", body[:text-1], pdu.StatusInvMsgLen},
		{"inside short_message", body[:text+3], pdu.StatusInvMsgLen},
		{"inside a TLV header", append(bytes.Clone(body), tlv[:3]...), pdu.StatusInvOptParStream},
		{"inside a TLV value", append(bytes.Clone(body), tlv[:5]...), pdu.StatusInvParLen},
	}
	seq := uint32(2)
	for _, tc := range named {
		send(t, rc, pdu.Request(pdu.SubmitSM, seq, tc.body))
		f := read(t, ctx, rc)
		if f.Status != tc.want {
			t.Errorf("%s: status 0x%08X, want 0x%08X", tc.name, uint32(f.Status), uint32(tc.want))
		}
		expect(t, f, pdu.SubmitSMResp, f.Status, seq)
		seq++
	}
	// Every cut, not only those.
	for cut := range len(body) {
		send(t, rc, pdu.Request(pdu.SubmitSM, seq, body[:cut]))
		f := read(t, ctx, rc)
		if f.Status == pdu.StatusOK {
			t.Fatalf("submit_sm cut after %d of %d octets accepted", cut, len(body))
		}
		expect(t, f, pdu.SubmitSMResp, f.Status, seq)
		seq++
	}
	send(t, rc, pdu.Request(pdu.SubmitSM, seq, body))
	expectMessageID(t, read(t, ctx, rc), pdu.SubmitSMResp, seq, fmt.Sprintf("m%d", seq))
	enquire(t, ctx, rc, seq+1)
	none(t, h.handler.closed, "SessionClosed")
}

// TestHalfClose has the client shut its sending side, cleanly or in the
// middle of a PDU: the server still writes the answers to what came
// before, then closes.
func TestHalfClose(t *testing.T) {
	t.Parallel()
	for _, cut := range []bool{false, true} {
		t.Run(fmt.Sprintf("mid-PDU=%v", cut), func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			var reasons <-chan smppconn.Reason
			h := start(t, func(h *harness) { reasons = closeReasons(h, 4) })
			rc := dialRaw(t, ctx, h.addr)
			b := bindPDU(pdu.BindTransceiver, 1, testSystemID, testPassword)
			for seq := uint32(2); seq < 5; seq++ {
				b = append(b, pdu.Empty(pdu.EnquireLink, pdu.StatusOK, seq)...)
			}
			b = append(b, submitPDU(5, "last")...)
			want := smppconn.ReasonPeerClosed
			if cut {
				b = append(b, submitPDU(6, "cut")[:20]...)
				want = smppconn.ReasonReadError
			}
			send(t, rc, b)
			if err := rc.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			expect(t, read(t, ctx, rc), pdu.BindTransceiverResp, pdu.StatusOK, 1)
			for seq := uint32(2); seq < 5; seq++ {
				expect(t, read(t, ctx, rc), pdu.EnquireLinkResp, pdu.StatusOK, seq)
			}
			expectMessageID(t, read(t, ctx, rc), pdu.SubmitSMResp, 5, "m5")
			expectEOF(t, ctx, rc)
			expectReason(t, ctx, reasons, want)
			recv(t, ctx, h.handler.closed, "SessionClosed")
		})
	}
}

// TestRequestsAfterUnbind pipelines requests behind an unbind: they must
// not reach the Handler, whose answers could never be written.
func TestRequestsAfterUnbind(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, nil)
	rc := dialRaw(t, ctx, h.addr)
	rawBind(t, ctx, rc, pdu.BindTransceiver)
	s := recv(t, ctx, h.handler.bound, "SessionBound")
	var b []byte
	b = append(b, pdu.Empty(pdu.Unbind, pdu.StatusOK, 2)...)
	b = append(b, submitPDU(3, "after unbind")...)
	b = append(b, pdu.Empty(pdu.EnquireLink, pdu.StatusOK, 4)...)
	send(t, rc, b)
	expect(t, read(t, ctx, rc), pdu.UnbindResp, pdu.StatusOK, 2)
	expectEnded(t, ctx, rc)
	// SessionClosed follows the reader's end: no request can come after.
	if got := recv(t, ctx, h.handler.closed, "SessionClosed"); got != s {
		t.Fatalf("SessionClosed(%d), want %d", got.ID(), s.ID())
	}
	none(t, h.handler.requests, "request after unbind")
}

// TestBindAfterRefusedBind pipelines a good bind behind a refused one: the
// refusal ends the connection, so the second bind must not bind it.
func TestBindAfterRefusedBind(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, nil)
	rc := dialRaw(t, ctx, h.addr)
	var b []byte
	b = append(b, bindPDU(pdu.BindTransceiver, 1, testSystemID, "wrong")...)
	b = append(b, bindPDU(pdu.BindTransceiver, 2, testSystemID, testPassword)...)
	send(t, rc, b)
	expect(t, read(t, ctx, rc), pdu.BindTransceiverResp, pdu.StatusInvPaswd, 1)
	expectEnded(t, ctx, rc)
	// Once no session is left, its reader has stopped.
	waitNoSessions(t, ctx, h.srv)
	none(t, h.handler.bound, "SessionBound after a refused bind")
	if n := h.srv.Registry.Count(testSystemID); n != 0 {
		t.Fatalf("Registry.Count = %d", n)
	}
}
