package smppserver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smppconn"
	"github.com/smppmux/smppmux/smppserver"
)

const (
	testSystemID = "shop"
	testPassword = "secret"
	// waitLimit bounds every wait for an event: generous, as only a
	// failing test ever reaches it.
	waitLimit = 10 * time.Second
)

// stubAuth accepts system_id "shop" with password "secret" and refuses
// anything else with ESME_RINVSYSID or ESME_RINVPASWD.
type stubAuth struct {
	window   int
	maxBinds int
	// requests receives every bind presented, when it has room.
	requests chan smppserver.BindRequest
	// gate, when not nil, holds every Authenticate until it is closed.
	gate chan struct{}
}

func (a *stubAuth) Authenticate(_ context.Context, req smppserver.BindRequest) (smppserver.Account, smppserver.BindRefusal) {
	select {
	case a.requests <- req:
	default:
	}
	if a.gate != nil {
		<-a.gate
	}
	switch {
	case req.SystemID != testSystemID:
		return smppserver.Account{}, smppserver.RefusedUnknownSystemID
	case req.Password != testPassword:
		return smppserver.Account{}, smppserver.RefusedWrongPassword
	}
	return smppserver.Account{SystemID: req.SystemID, Window: a.window, MaxBinds: a.maxBinds}, smppserver.BindAccepted
}

// request is one call of Handler.HandleRequest.
type request struct {
	s *smppserver.Session
	f pdu.Frame
}

// stubHandler records its calls on channels. It answers every request at
// once with message id "m<seq>", unless hold is set: then the test answers
// the requests it takes from the requests channel (and must take them all). A request whose body
// contains "boom" panics.
type stubHandler struct {
	hold bool
	// boundGate, when not nil, holds every SessionBound until it is
	// closed.
	boundGate chan struct{}
	requests  chan request
	bound     chan *smppserver.Session
	closed    chan *smppserver.Session
}

func newStubHandler() *stubHandler {
	return &stubHandler{
		requests: make(chan request, 256),
		bound:    make(chan *smppserver.Session, 64),
		closed:   make(chan *smppserver.Session, 64),
	}
}

func (h *stubHandler) HandleRequest(s *smppserver.Session, f pdu.Frame) {
	if bytes.Contains(f.Body(), []byte("boom")) {
		panic("stub handler: boom")
	}
	if h.hold {
		h.requests <- request{s: s, f: f}
		return
	}
	select {
	case h.requests <- request{s: s, f: f}:
	default: // a long test that does not look at them
	}
	answer(s, f)
}

func (h *stubHandler) SessionBound(s *smppserver.Session) {
	h.bound <- s
	if h.boundGate != nil {
		<-h.boundGate
	}
}

func (h *stubHandler) SessionClosed(s *smppserver.Session) { h.closed <- s }

// answer responds to f with ESME_ROK and message id "m<seq>".
func answer(s *smppserver.Session, f pdu.Frame) {
	s.Respond(pdu.MessageIDResp(pdu.RespID(f.ID), pdu.StatusOK, f.Seq, fmt.Sprintf("m%d", f.Seq)))
}

// harness is one Server serving on 127.0.0.1 with its stubs.
type harness struct {
	srv     *smppserver.Server
	auth    *stubAuth
	handler *stubHandler
	addr    string

	served   chan struct{} // closed when Serve returned
	serveErr error         // what Serve returned, once served is closed
}

// start builds a Server with a stub Authenticator (window 2, max binds 2)
// and a stub Handler, lets setup adjust them, and serves on a fresh
// listener. The server is closed when the test ends.
func start(t *testing.T, setup func(*harness)) *harness {
	t.Helper()
	h := &harness{
		auth:    &stubAuth{window: 2, maxBinds: 2, requests: make(chan smppserver.BindRequest, 64)},
		handler: newStubHandler(),
		served:  make(chan struct{}),
	}
	h.srv = &smppserver.Server{Auth: h.auth, Handler: h.handler}
	if setup != nil {
		setup(h)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = l.Addr().String()
	go func() {
		h.serveErr = h.srv.Serve(l)
		close(h.served)
	}()
	t.Cleanup(func() {
		h.srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		// After Close, Shutdown only waits for the session goroutines.
		if err := h.srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown after Close: %v", err)
		}
		select {
		case <-h.served:
		case <-ctx.Done():
			t.Error("Serve did not return after Close")
		}
	})
	return h
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

// recv waits for a value on ch.
func recv[T any](t *testing.T, ctx context.Context, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatalf("waiting for %s: %v", what, ctx.Err())
		panic("unreachable")
	}
}

// none fails if ch holds a value.
func none[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("unexpected %s", what)
	default:
	}
}

// shop is the configuration of a client binding as "shop" to addr with
// bind command id.
func shop(addr string, id pdu.ID) esmetest.Config {
	return esmetest.Config{Addr: addr, SystemID: testSystemID, Password: testPassword, Bind: id}
}

func send(t *testing.T, rc *esmetest.RawConn, b []byte) {
	t.Helper()
	if err := rc.Send(b); err != nil {
		t.Fatalf("send: %v", err)
	}
}

func read(t *testing.T, ctx context.Context, rc *esmetest.RawConn) pdu.Frame {
	t.Helper()
	f, err := rc.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return f
}

// expect checks the header of f. A response with an error status must
// carry no body (SMPP 3.4 errata).
func expect(t *testing.T, f pdu.Frame, id pdu.ID, st pdu.Status, seq uint32) {
	t.Helper()
	if f.ID != id || f.Status != st || f.Seq != seq {
		t.Fatalf("got %s status 0x%08X seq %d, want %s status 0x%08X seq %d",
			pdu.IDName(f.ID), uint32(f.Status), f.Seq, pdu.IDName(id), uint32(st), seq)
	}
	if st != pdu.StatusOK && f.Len != pdu.HeaderLen {
		t.Fatalf("%s with status 0x%08X has command_length %d, want %d (no body)",
			pdu.IDName(f.ID), uint32(st), f.Len, pdu.HeaderLen)
	}
}

// expectEOF reads until the server closes the connection; no PDU may come
// first.
func expectEOF(t *testing.T, ctx context.Context, rc *esmetest.RawConn) {
	t.Helper()
	f, err := rc.Read(ctx)
	if err == nil {
		t.Fatalf("got %s seq %d, want the connection closed", pdu.IDName(f.ID), f.Seq)
	}
	if !errors.Is(err, io.EOF) {
		t.Fatalf("read: %v, want EOF", err)
	}
}

func bindPDU(id pdu.ID, seq uint32, systemID, password string) []byte {
	return pdu.Bind(id, seq, pdu.BindFields{SystemID: systemID, Password: password, Version: pdu.InterfaceVersion})
}

// rawBind binds rc as "shop" with sequence 1.
func rawBind(t *testing.T, ctx context.Context, rc *esmetest.RawConn, id pdu.ID) {
	t.Helper()
	send(t, rc, bindPDU(id, 1, testSystemID, testPassword))
	expect(t, read(t, ctx, rc), pdu.RespID(id), pdu.StatusOK, 1)
}

// bindRaw connects to addr and binds as "shop" with sequence 1.
func bindRaw(t *testing.T, ctx context.Context, addr string, id pdu.ID) *esmetest.RawConn {
	t.Helper()
	rc := esmetest.Connect(t, ctx, addr)
	rawBind(t, ctx, rc, id)
	return rc
}

// boundSession is bindRaw to h, returning the session its handler saw
// bound too.
func boundSession(t *testing.T, ctx context.Context, h *harness, id pdu.ID) (*esmetest.RawConn, *smppserver.Session) {
	t.Helper()
	rc := bindRaw(t, ctx, h.addr, id)
	return rc, recv(t, ctx, h.handler.bound, "SessionBound")
}

// enquire sends an enquire_link with seq and expects its response.
func enquire(t *testing.T, ctx context.Context, rc *esmetest.RawConn, seq uint32) {
	t.Helper()
	send(t, rc, pdu.Empty(pdu.EnquireLink, pdu.StatusOK, seq))
	expect(t, read(t, ctx, rc), pdu.EnquireLinkResp, pdu.StatusOK, seq)
}

func submitBody(text string) []byte {
	return esmetest.SubmitBody("Shop", "447700900001", []byte(text), 0, nil)
}

func submitPDU(seq uint32, text string) []byte {
	return pdu.Request(pdu.SubmitSM, seq, submitBody(text))
}

// expectMessageID checks a successful response carrying message id want.
func expectMessageID(t *testing.T, f pdu.Frame, id pdu.ID, seq uint32, want string) {
	t.Helper()
	expect(t, f, id, pdu.StatusOK, seq)
	got, err := pdu.ParseMessageIDResp(f.Body())
	if err != nil || string(got) != want {
		t.Fatalf("message_id %q (%v), want %q", got, err, want)
	}
}

var bindIDs = []pdu.ID{pdu.BindTransmitter, pdu.BindReceiver, pdu.BindTransceiver}

// waitNoSessions waits until srv has no session left. A session leaves
// Server.Sessions only when its goroutines are done, which nothing else
// signals, so this polls.
func waitNoSessions(t *testing.T, ctx context.Context, srv *smppserver.Server) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for len(srv.Sessions()) > 0 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("sessions still open: %v", ctx.Err())
		}
	}
}

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
	other := bindRaw(t, ctx, addr, pdu.BindTransmitter)
	for seq := uint32(2); seq < 12; seq++ {
		enquire(t, ctx, other, seq)
		send(t, other, submitPDU(100+seq, "during the flood"))
		expectMessageID(t, read(t, ctx, other), pdu.SubmitSMResp, 100+seq, fmt.Sprintf("m%d", 100+seq))
	}
	return other
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
