package smppserver_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smppconn"
	"github.com/smppmux/smppmux/smppserver"
)

func TestSubmit(t *testing.T) {
	t.Parallel()
	for _, id := range []pdu.ID{pdu.BindTransmitter, pdu.BindTransceiver} {
		t.Run(pdu.IDName(id), func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			h := start(t, nil)
			rc, s := boundSession(t, ctx, h, id)

			sub := submitPDU(2, "hello")
			send(t, rc, sub)
			expectMessageID(t, read(t, ctx, rc), pdu.SubmitSMResp, 2, "m2")
			req := recv(t, ctx, h.handler.requests, "request")
			if req.s != s || req.f.ID != pdu.SubmitSM || req.f.Seq != 2 || !bytes.Equal(req.f.Raw, sub) {
				t.Fatalf("handler got %s seq %d from session %d", pdu.IDName(req.f.ID), req.f.Seq, req.s.ID())
			}

			// data_sm goes to the Handler too.
			send(t, rc, pdu.Request(pdu.DataSM, 3, []byte("\x00\x01\x01123\x00\x01\x01456\x00\x00\x00\x00")))
			expectMessageID(t, read(t, ctx, rc), pdu.DataSMResp, 3, "m3")
			if req := recv(t, ctx, h.handler.requests, "request"); req.f.ID != pdu.DataSM {
				t.Fatalf("handler got %s", pdu.IDName(req.f.ID))
			}
		})
	}
}

func TestSubmitClient(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, nil)
	c := esmetest.Bind(t, ctx, shop(h.addr, pdu.BindTransceiver))
	for i := range 5 {
		r, err := c.Submit(ctx, submitBody("hi"))
		want := fmt.Sprintf("m%d", i+2)
		if err != nil || r.Status != pdu.StatusOK || r.MessageID != want {
			t.Fatalf("submit %d: %+v %v, want %s", i, r, err, want)
		}
	}
}

func TestSubmitOnReceiver(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, nil)
	rc := bindRaw(t, ctx, h.addr, pdu.BindReceiver)
	cases := []struct {
		id, resp pdu.ID
		body     []byte
	}{
		{pdu.SubmitSM, pdu.SubmitSMResp, submitBody("no")},
		{pdu.DataSM, pdu.DataSMResp, nil},
		{pdu.SubmitMulti, pdu.SubmitMultiResp, nil},
		{pdu.QuerySM, pdu.QuerySMResp, []byte("m1\x00\x00\x00\x00")},
		{pdu.CancelSM, pdu.CancelSMResp, nil},
		{pdu.ReplaceSM, pdu.ReplaceSMResp, nil},
	}
	for i, tc := range cases {
		seq := uint32(10 + i)
		send(t, rc, pdu.Request(tc.id, seq, tc.body))
		expect(t, read(t, ctx, rc), tc.resp, pdu.StatusInvBndSts, seq)
	}
	enquire(t, ctx, rc, 99)
	none(t, h.handler.requests, "request on a receiver bind")
}

// TestClientSendsSMSCCommand checks that a command only an SMSC may send
// is refused with generic_nack and the session goes on.
func TestClientSendsSMSCCommand(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, nil)
	rc := bindRaw(t, ctx, h.addr, pdu.BindTransceiver)
	for i, id := range []pdu.ID{pdu.DeliverSM, pdu.Outbind, pdu.AlertNotification} {
		seq := uint32(20 + i)
		send(t, rc, pdu.Request(id, seq, submitBody("x")))
		expect(t, read(t, ctx, rc), pdu.GenericNack, pdu.StatusInvCmdID, seq)
	}
	// Stray responses are ignored.
	send(t, rc, pdu.Empty(pdu.DeliverSMResp, pdu.StatusOK, 1234))
	send(t, rc, pdu.Empty(pdu.GenericNack, pdu.StatusInvCmdID, 1235))
	enquire(t, ctx, rc, 30)
	none(t, h.handler.requests, "request")
}

func TestEnquireLink(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, nil)
	rc := bindRaw(t, ctx, h.addr, pdu.BindTransmitter)
	for _, seq := range []uint32{2, 77, pdu.MaxSeq} {
		enquire(t, ctx, rc, seq)
	}

	c := esmetest.Bind(t, ctx, shop(h.addr, pdu.BindReceiver))
	f, err := c.Send(ctx, pdu.EnquireLink, nil)
	if err != nil || f.ID != pdu.EnquireLinkResp || f.Status != pdu.StatusOK || f.Seq != 2 {
		t.Fatalf("enquire_link: %+v %v", f.Header, err)
	}
}

func TestWindow(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, func(h *harness) { h.handler.hold = true })
	rc := bindRaw(t, ctx, h.addr, pdu.BindTransceiver)

	send(t, rc, submitPDU(2, "one"))
	send(t, rc, submitPDU(3, "two"))
	a := recv(t, ctx, h.handler.requests, "request 2")
	b := recv(t, ctx, h.handler.requests, "request 3")
	if a.f.Seq != 2 || b.f.Seq != 3 {
		t.Fatalf("handler got seq %d, %d", a.f.Seq, b.f.Seq)
	}

	// The window of 2 is full: the third is refused at once, and so is a
	// data_sm.
	send(t, rc, submitPDU(4, "three"))
	expect(t, read(t, ctx, rc), pdu.SubmitSMResp, pdu.StatusMsgQFul, 4)
	send(t, rc, pdu.Request(pdu.DataSM, 5, nil))
	expect(t, read(t, ctx, rc), pdu.DataSMResp, pdu.StatusMsgQFul, 5)
	// enquire_link is not windowed.
	enquire(t, ctx, rc, 6)
	none(t, h.handler.requests, "request past the window")

	// Answers free the window, in any order.
	answer(b.s, b.f)
	expectMessageID(t, read(t, ctx, rc), pdu.SubmitSMResp, 3, "m3")
	send(t, rc, submitPDU(7, "four"))
	c := recv(t, ctx, h.handler.requests, "request 7")
	send(t, rc, submitPDU(8, "five"))
	expect(t, read(t, ctx, rc), pdu.SubmitSMResp, pdu.StatusMsgQFul, 8)

	answer(a.s, a.f)
	expectMessageID(t, read(t, ctx, rc), pdu.SubmitSMResp, 2, "m2")
	answer(c.s, c.f)
	expectMessageID(t, read(t, ctx, rc), pdu.SubmitSMResp, 7, "m7")

	send(t, rc, submitPDU(9, "six"))
	send(t, rc, submitPDU(10, "seven"))
	for _, seq := range []uint32{9, 10} {
		r := recv(t, ctx, h.handler.requests, "request")
		answer(r.s, r.f)
		expectMessageID(t, read(t, ctx, rc), pdu.SubmitSMResp, seq, fmt.Sprintf("m%d", seq))
	}
}

// TestWindowPerSession checks that each session has its own window.
func TestWindowPerSession(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, func(h *harness) { h.handler.hold = true })
	var conns [2]*esmetest.RawConn
	for i := range conns {
		conns[i] = esmetest.Connect(t, ctx, h.addr)
		rawBind(t, ctx, conns[i], pdu.BindTransmitter)
		send(t, conns[i], submitPDU(2, "a"))
		send(t, conns[i], submitPDU(3, "b"))
		recv(t, ctx, h.handler.requests, "request")
		recv(t, ctx, h.handler.requests, "request")
	}
	for _, rc := range conns {
		send(t, rc, submitPDU(4, "c"))
		expect(t, read(t, ctx, rc), pdu.SubmitSMResp, pdu.StatusMsgQFul, 4)
	}
}

func TestKeepalive(t *testing.T) {
	t.Parallel()

	t.Run("answered", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		// Answers may come late on a busy machine (150 ms was too short
		// for one): the response timeout allows it, and the inactivity
		// timeout is still crossed several times over.
		const inactivity = 400 * time.Millisecond
		h := start(t, func(h *harness) {
			h.srv.EnquireLinkInterval = 30 * time.Millisecond
			h.srv.ResponseTimeout = 2 * time.Second
			h.srv.InactivityTimeout = inactivity
		})
		rc := bindRaw(t, ctx, h.addr, pdu.BindTransceiver)
		began := time.Now()
		var last uint32
		for n := 0; n < 5 || time.Since(began) < 3*inactivity; n++ {
			f := read(t, ctx, rc)
			expect(t, f, pdu.EnquireLink, pdu.StatusOK, f.Seq)
			if f.Seq <= last {
				t.Fatalf("enquire_link seq %d after %d", f.Seq, last)
			}
			last = f.Seq
			send(t, rc, pdu.Empty(pdu.EnquireLinkResp, pdu.StatusOK, f.Seq))
		}
		// Still open, well past the inactivity timeout.
		send(t, rc, submitPDU(2, "alive"))
		for {
			f := read(t, ctx, rc)
			if f.ID == pdu.EnquireLink {
				send(t, rc, pdu.Empty(pdu.EnquireLinkResp, pdu.StatusOK, f.Seq))
				continue
			}
			expectMessageID(t, f, pdu.SubmitSMResp, 2, "m2")
			break
		}
		none(t, h.handler.closed, "SessionClosed")
	})

	t.Run("enquire_link unanswered", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		const respTimeout = 100 * time.Millisecond
		h := start(t, func(h *harness) {
			h.srv.EnquireLinkInterval = 50 * time.Millisecond
			h.srv.ResponseTimeout = respTimeout
		})
		rc, s := boundSession(t, ctx, h, pdu.BindTransceiver)
		f := read(t, ctx, rc)
		expect(t, f, pdu.EnquireLink, pdu.StatusOK, f.Seq)
		sent := time.Now()
		expectEOF(t, ctx, rc)
		if d := time.Since(sent); d < respTimeout/2 {
			t.Fatalf("closed %v after the enquire_link, response timeout %v", d, respTimeout)
		}
		if got := recv(t, ctx, h.handler.closed, "SessionClosed"); got != s {
			t.Fatalf("SessionClosed(%d), want %d", got.ID(), s.ID())
		}
		if n := h.srv.Registry.Count(testSystemID); n != 0 {
			t.Fatalf("Registry.Count = %d", n)
		}
	})

	t.Run("inactivity", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		const inactivity = 150 * time.Millisecond
		h := start(t, func(h *harness) {
			h.srv.EnquireLinkInterval = time.Minute
			h.srv.InactivityTimeout = inactivity
		})
		rc := bindRaw(t, ctx, h.addr, pdu.BindTransceiver)
		bound := time.Now()
		expectEOF(t, ctx, rc)
		if d := time.Since(bound); d < inactivity/2 {
			t.Fatalf("closed %v after bind, inactivity timeout %v", d, inactivity)
		}
		recv(t, ctx, h.handler.closed, "SessionClosed")
	})

	t.Run("client traffic keeps it open", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		const inactivity = 150 * time.Millisecond
		h := start(t, func(h *harness) {
			h.srv.EnquireLinkInterval = time.Minute
			h.srv.InactivityTimeout = inactivity
		})
		// The client's own enquire_link every 20ms keeps the session alive.
		cfg := shop(h.addr, pdu.BindTransceiver)
		cfg.EnquireLinkInterval = 20 * time.Millisecond
		c := esmetest.Bind(t, ctx, cfg)
		began := time.Now()
		for seq := 2; time.Since(began) < 3*inactivity; seq++ {
			r, err := c.Submit(ctx, submitBody("tick"))
			if err != nil || r.Status != pdu.StatusOK {
				t.Fatalf("submit after %v: %+v %v", time.Since(began), r, err)
			}
			// Pace on the client's enquire_link round trips, not on a sleep.
			if _, err := c.Send(ctx, pdu.EnquireLink, nil); err != nil {
				t.Fatal(err)
			}
		}
		none(t, h.handler.closed, "SessionClosed")
	})
}

func deliverPDU(text string) []byte {
	return pdu.Request(pdu.DeliverSM, 0, esmetest.SubmitBody("447700900001", "1234", []byte(text), 0, nil))
}

type deliverResult struct {
	f   pdu.Frame
	err error
}

func TestDeliver(t *testing.T) {
	t.Parallel()
	for _, id := range []pdu.ID{pdu.BindReceiver, pdu.BindTransceiver} {
		t.Run(pdu.IDName(id), func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			h := start(t, nil)
			c := esmetest.Bind(t, ctx, shop(h.addr, id))
			s := recv(t, ctx, h.handler.bound, "SessionBound")

			done := make(chan deliverResult, 1)
			if err := s.Deliver(deliverPDU("hello"), func(f pdu.Frame, err error) { done <- deliverResult{f, err} }); err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			d := recv(t, ctx, c.Deliveries(), "delivery")
			if string(d.SM.ShortMessage) != "hello" || string(d.SM.SourceAddr) != "447700900001" || d.Frame.ID != pdu.DeliverSM {
				t.Fatalf("delivered %s %q from %q", pdu.IDName(d.Frame.ID), d.SM.ShortMessage, d.SM.SourceAddr)
			}
			r := recv(t, ctx, done, "deliver done")
			if r.err != nil {
				t.Fatalf("done: %v", r.err)
			}
			expect(t, r.f, pdu.DeliverSMResp, pdu.StatusOK, d.Frame.Seq)
			if n := s.DeliverWindowFree(); n != 64 {
				t.Fatalf("DeliverWindowFree = %d after the response, want 64", n)
			}
		})
	}
}

// TestDeliverStatus checks that done gets the ESME's own status.
func TestDeliverStatus(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, nil)
	cfg := shop(h.addr, pdu.BindReceiver)
	cfg.DeliverStatus = func(pdu.Frame) pdu.Status { return pdu.StatusXTAppn }
	esmetest.Bind(t, ctx, cfg)
	s := recv(t, ctx, h.handler.bound, "SessionBound")
	done := make(chan deliverResult, 1)
	for i := range 3 {
		if err := s.Deliver(deliverPDU("x"), func(f pdu.Frame, err error) { done <- deliverResult{f, err} }); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		r := recv(t, ctx, done, "deliver done")
		if r.err != nil {
			t.Fatalf("done: %v", r.err)
		}
		// The server numbers its deliveries from 1.
		expect(t, r.f, pdu.DeliverSMResp, pdu.StatusXTAppn, uint32(i+1))
	}
}

func TestDeliverOnTransmitter(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, nil)
	c := esmetest.Bind(t, ctx, shop(h.addr, pdu.BindTransmitter))
	s := recv(t, ctx, h.handler.bound, "SessionBound")
	called := make(chan struct{}, 1)
	err := s.Deliver(deliverPDU("x"), func(pdu.Frame, error) { called <- struct{}{} })
	if !errors.Is(err, smppserver.ErrNotReceiver) {
		t.Fatalf("Deliver on a transmitter: %v, want ErrNotReceiver", err)
	}
	// The session is unharmed and done was never called.
	if r, err := c.Submit(ctx, submitBody("x")); err != nil || r.Status != pdu.StatusOK {
		t.Fatalf("submit: %+v %v", r, err)
	}
	none(t, called, "done call")
}

func TestDeliverTimeout(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, func(h *harness) { h.srv.ResponseTimeout = 100 * time.Millisecond })
	rc, s := boundSession(t, ctx, h, pdu.BindReceiver)
	done := make(chan deliverResult, 1)
	if err := s.Deliver(deliverPDU("x"), func(f pdu.Frame, err error) { done <- deliverResult{f, err} }); err != nil {
		t.Fatal(err)
	}
	f := read(t, ctx, rc)
	expect(t, f, pdu.DeliverSM, pdu.StatusOK, 1)
	if r := recv(t, ctx, done, "deliver done"); !errors.Is(r.err, smppconn.ErrTimeout) {
		t.Fatalf("done: %v, want ErrTimeout", r.err)
	}
	if n := s.DeliverWindowFree(); n != 64 {
		t.Fatalf("DeliverWindowFree = %d after the timeout, want 64", n)
	}
	// A late response is dropped and the session goes on.
	send(t, rc, pdu.MessageIDResp(pdu.DeliverSMResp, pdu.StatusOK, f.Seq, ""))
	enquire(t, ctx, rc, 2)
	none(t, done, "second done call")
}

func TestDeliverWindow(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, nil)
	rc, s := boundSession(t, ctx, h, pdu.BindTransceiver)

	const window = 64
	done := make(chan deliverResult, window+1)
	cb := func(f pdu.Frame, err error) { done <- deliverResult{f, err} }
	for i := range window {
		if err := s.Deliver(deliverPDU("x"), cb); err != nil {
			t.Fatalf("Deliver %d: %v", i, err)
		}
	}
	if n := s.DeliverWindowFree(); n != 0 {
		t.Fatalf("DeliverWindowFree = %d, want 0", n)
	}
	if err := s.Deliver(deliverPDU("x"), cb); !errors.Is(err, smppserver.ErrWindowFull) {
		t.Fatalf("Deliver past the window: %v, want ErrWindowFull", err)
	}
	first := read(t, ctx, rc)
	expect(t, first, pdu.DeliverSM, pdu.StatusOK, 1)
	send(t, rc, pdu.MessageIDResp(pdu.DeliverSMResp, pdu.StatusOK, first.Seq, ""))
	r := recv(t, ctx, done, "deliver done")
	if r.err != nil || r.f.Seq != first.Seq {
		t.Fatalf("done: seq %d %v", r.f.Seq, r.err)
	}
	if err := s.Deliver(deliverPDU("x"), cb); err != nil {
		t.Fatalf("Deliver after a response: %v", err)
	}

	// Closing fails every delivery still waiting, and later ones fail at
	// once with ErrClosed, not ErrWindowFull.
	rc.Close()
	for range window {
		if r := recv(t, ctx, done, "deliver done"); !errors.Is(r.err, smppserver.ErrClosed) {
			t.Fatalf("done: %v, want ErrClosed", r.err)
		}
	}
	recv(t, ctx, h.handler.closed, "SessionClosed")
	if err := s.Deliver(deliverPDU("x"), cb); !errors.Is(err, smppserver.ErrClosed) {
		t.Fatalf("Deliver on a closed session: %v, want ErrClosed", err)
	}
	none(t, done, "done call")
}

func TestRegistryReceivers(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, func(h *harness) { h.auth.maxBinds = 3 })
	byType := make(map[pdu.ID]*smppserver.Session)
	clients := make(map[pdu.ID]*esmetest.Client)
	for _, id := range bindIDs {
		clients[id] = esmetest.Bind(t, ctx, shop(h.addr, id))
		byType[id] = recv(t, ctx, h.handler.bound, "SessionBound")
	}
	if n := h.srv.Registry.Count(testSystemID); n != 3 {
		t.Fatalf("Registry.Count = %d, want 3", n)
	}
	got := h.srv.Registry.Receivers(testSystemID)
	if len(got) != 2 || !has(got, byType[pdu.BindReceiver]) || !has(got, byType[pdu.BindTransceiver]) {
		t.Fatalf("Receivers = %v, want the receiver and transceiver sessions", ids(got))
	}
	if has(got, byType[pdu.BindTransmitter]) {
		t.Fatal("Receivers lists the transmitter")
	}
	if got := h.srv.Registry.Receivers("other"); len(got) != 0 {
		t.Fatalf("Receivers(other) = %v", ids(got))
	}
	if n := h.srv.Registry.Count("other"); n != 0 {
		t.Fatalf("Count(other) = %d", n)
	}

	if err := clients[pdu.BindReceiver].Unbind(ctx); err != nil {
		t.Fatal(err)
	}
	recv(t, ctx, h.handler.closed, "SessionClosed")
	got = h.srv.Registry.Receivers(testSystemID)
	if len(got) != 1 || got[0] != byType[pdu.BindTransceiver] {
		t.Fatalf("Receivers after unbind = %v, want the transceiver %d", ids(got), byType[pdu.BindTransceiver].ID())
	}
	if n := h.srv.Registry.Count(testSystemID); n != 2 {
		t.Fatalf("Registry.Count = %d, want 2", n)
	}
}

// TestRegistryShared checks that two servers can share one Registry, with
// max binds counted across both.
func TestRegistryShared(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	reg := smppserver.NewRegistry()
	a := start(t, func(h *harness) { h.srv.Registry = reg })
	b := start(t, func(h *harness) { h.srv.Registry = reg })
	esmetest.Bind(t, ctx, shop(a.addr, pdu.BindReceiver))
	esmetest.Bind(t, ctx, shop(b.addr, pdu.BindReceiver))
	if n := len(reg.Receivers(testSystemID)); n != 2 {
		t.Fatalf("%d receivers, want 2", n)
	}
	rc := esmetest.Connect(t, ctx, a.addr)
	send(t, rc, bindPDU(pdu.BindReceiver, 1, testSystemID, testPassword))
	expect(t, read(t, ctx, rc), pdu.BindReceiverResp, pdu.StatusBindFail, 1)
}

func has(list []*smppserver.Session, s *smppserver.Session) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func ids(list []*smppserver.Session) []uint64 {
	out := make([]uint64, 0, len(list))
	for _, s := range list {
		out = append(out, s.ID())
	}
	return out
}

// TestWindowFreedWithAnswer: a client whose window equals its account's
// sends its next request as soon as an answer arrives; that request must
// find the window free, even though the answer came from another
// goroutine than the session's reader.
func TestWindowFreedWithAnswer(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, func(h *harness) {
		h.handler.hold = true
		h.auth.window = 1
	})
	go func() {
		for {
			select {
			case r := <-h.handler.requests:
				answer(r.s, r.f)
			case <-ctx.Done():
				return
			}
		}
	}()
	rc := bindRaw(t, ctx, h.addr, pdu.BindTransceiver)
	for seq := uint32(2); seq < 3000; seq++ {
		send(t, rc, submitPDU(seq, "one at a time"))
		expectMessageID(t, read(t, ctx, rc), pdu.SubmitSMResp, seq, fmt.Sprintf("m%d", seq))
	}
}
