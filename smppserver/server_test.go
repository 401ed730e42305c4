package smppserver_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
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

// dial binds an esmetest.Client as "shop" with bind command id.
func dial(t *testing.T, ctx context.Context, addr string, id pdu.ID) *esmetest.Client {
	t.Helper()
	return dialCfg(t, ctx, esmetest.Config{Addr: addr, Bind: id})
}

func dialCfg(t *testing.T, ctx context.Context, cfg esmetest.Config) *esmetest.Client {
	t.Helper()
	if cfg.SystemID == "" {
		cfg.SystemID, cfg.Password = testSystemID, testPassword
	}
	c, err := esmetest.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("bind %s: %v", pdu.IDName(cfg.Bind), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func dialRaw(t *testing.T, ctx context.Context, addr string) *esmetest.RawConn {
	t.Helper()
	rc, err := esmetest.DialRaw(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	return rc
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

func TestBind(t *testing.T) {
	t.Parallel()
	for _, id := range bindIDs {
		t.Run(pdu.IDName(id), func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			h := start(t, nil)
			rc := dialRaw(t, ctx, h.addr)
			send(t, rc, pdu.Bind(id, 42, pdu.BindFields{
				SystemID: testSystemID, Password: testPassword, SystemType: "VMS",
				Version: pdu.InterfaceVersion,
			}))
			f := read(t, ctx, rc)
			expect(t, f, pdu.RespID(id), pdu.StatusOK, 42)
			want := append([]byte("smppmux\x00"), 0x02, 0x10, 0x00, 0x01, 0x34)
			if !bytes.Equal(f.Body(), want) {
				t.Fatalf("bind_resp body % x, want % x", f.Body(), want)
			}

			req := recv(t, ctx, h.auth.requests, "bind request")
			if req.Type != id || req.SystemID != testSystemID || req.Password != testPassword || req.SystemType != "VMS" {
				t.Fatalf("bind request %+v", req)
			}
			if req.Remote == nil || req.Remote.String() != rc.LocalAddr().String() {
				t.Fatalf("bind request from %v, want %v", req.Remote, rc.LocalAddr())
			}
			s := recv(t, ctx, h.handler.bound, "SessionBound")
			if s.SystemID() != testSystemID || s.BindType() != id {
				t.Fatalf("session bound as %q %s", s.SystemID(), pdu.IDName(s.BindType()))
			}
			if s.RemoteAddr().String() != rc.LocalAddr().String() || s.Logger() == nil || s.ID() == 0 {
				t.Fatalf("session %d from %v", s.ID(), s.RemoteAddr())
			}
			if n := h.srv.Registry.Count(testSystemID); n != 1 {
				t.Fatalf("Registry.Count = %d, want 1", n)
			}
			enquire(t, ctx, rc, 43)
		})
	}
}

func TestBindRespSystemID(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, func(h *harness) { h.srv.SystemID = "mux-1" })
	rc := dialRaw(t, ctx, h.addr)
	send(t, rc, bindPDU(pdu.BindTransceiver, 7, testSystemID, testPassword))
	f := read(t, ctx, rc)
	expect(t, f, pdu.BindTransceiverResp, pdu.StatusOK, 7)
	d := pdu.NewDecoder(f.Body())
	if id := d.CString("system_id", 16, pdu.StatusInvSysID); string(id) != "mux-1" {
		t.Fatalf("system_id %q, want mux-1", id)
	}
	tlvs := d.TLVs()
	if v, ok := pdu.FindTLV(tlvs, pdu.TagSCInterfaceVersion); !ok || !bytes.Equal(v, []byte{0x34}) {
		t.Fatalf("sc_interface_version % x, %v", v, ok)
	}
}

func TestBindRefused(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name               string
		systemID, password string
		want               pdu.Status
	}{
		{"wrong password", testSystemID, "nope", pdu.StatusInvPaswd},
		{"unknown system_id", "nobody", testPassword, pdu.StatusInvSysID},
	}
	for _, tc := range cases {
		for _, id := range bindIDs {
			t.Run(tc.name+"/"+pdu.IDName(id), func(t *testing.T) {
				t.Parallel()
				ctx := testCtx(t)
				h := start(t, nil)
				rc := dialRaw(t, ctx, h.addr)
				send(t, rc, bindPDU(id, 9, tc.systemID, tc.password))
				expect(t, read(t, ctx, rc), pdu.RespID(id), tc.want, 9)
				expectEOF(t, ctx, rc)
				none(t, h.handler.bound, "SessionBound")
				if n := h.srv.Registry.Count(tc.systemID); n != 0 {
					t.Fatalf("Registry.Count = %d after a refused bind", n)
				}
			})
		}
	}
}

// TestBindRefusedClient checks the refusal as a client library sees it.
func TestBindRefusedClient(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, nil)
	_, err := esmetest.Dial(ctx, esmetest.Config{Addr: h.addr, SystemID: testSystemID, Password: "wrong"})
	var be *esmetest.BindError
	if !errors.As(err, &be) || be.Status != pdu.StatusInvPaswd {
		t.Fatalf("Dial: %v, want a bind refused with ESME_RINVPASWD", err)
	}
}

func TestBindMalformed(t *testing.T) {
	t.Parallel()
	long := bytes.Repeat([]byte("x"), 20)
	cases := []struct {
		name string
		body []byte
		want pdu.Status // 0: any error status
	}{
		{"unterminated system_id", []byte(testSystemID), 0},
		{"system_id too long", long, pdu.StatusInvSysID},
		{"password too long", append([]byte("shop\x00"), append(long, 0)...), pdu.StatusInvPaswd},
		{"empty body", nil, 0},
		{"truncated after system_type", []byte("shop\x00secret\x00\x00"), 0},
		{"bad trailing TLV", append(bindPDU(pdu.BindTransceiver, 0, testSystemID, testPassword)[pdu.HeaderLen:], 0x02), 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			h := start(t, nil)
			rc := dialRaw(t, ctx, h.addr)
			send(t, rc, pdu.Request(pdu.BindTransceiver, 3, tc.body))
			f := read(t, ctx, rc)
			want := tc.want
			if want == 0 {
				want = f.Status
				if want == pdu.StatusOK {
					t.Fatal("malformed bind accepted")
				}
			}
			expect(t, f, pdu.BindTransceiverResp, want, 3)
			expectEOF(t, ctx, rc)
			none(t, h.handler.bound, "SessionBound")

			// The server is unharmed.
			dial(t, ctx, h.addr, pdu.BindTransceiver)
		})
	}
}

func TestSecondBind(t *testing.T) {
	t.Parallel()
	for _, id := range bindIDs {
		t.Run(pdu.IDName(id), func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			h := start(t, nil)
			rc := dialRaw(t, ctx, h.addr)
			rawBind(t, ctx, rc, pdu.BindTransceiver)
			send(t, rc, bindPDU(id, 2, testSystemID, testPassword))
			expect(t, read(t, ctx, rc), pdu.RespID(id), pdu.StatusAlyBnd, 2)
			enquire(t, ctx, rc, 3)
			s := recv(t, ctx, h.handler.bound, "SessionBound")
			if s.BindType() != pdu.BindTransceiver {
				t.Fatalf("bind type changed to %s", pdu.IDName(s.BindType()))
			}
			none(t, h.handler.bound, "second SessionBound")
			if n := h.srv.Registry.Count(testSystemID); n != 1 {
				t.Fatalf("Registry.Count = %d, want 1", n)
			}
		})
	}
}

func TestMaxBinds(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, nil)
	first := dial(t, ctx, h.addr, pdu.BindTransmitter)
	dial(t, ctx, h.addr, pdu.BindReceiver)

	rc := dialRaw(t, ctx, h.addr)
	send(t, rc, bindPDU(pdu.BindTransceiver, 1, testSystemID, testPassword))
	expect(t, read(t, ctx, rc), pdu.BindTransceiverResp, pdu.StatusBindFail, 1)
	expectEOF(t, ctx, rc)
	if n := h.srv.Registry.Count(testSystemID); n != 2 {
		t.Fatalf("Registry.Count = %d, want 2", n)
	}

	// A slot freed by an unbind can be taken again.
	recv(t, ctx, h.handler.bound, "SessionBound")
	recv(t, ctx, h.handler.bound, "SessionBound")
	if err := first.Unbind(ctx); err != nil {
		t.Fatal(err)
	}
	recv(t, ctx, h.handler.closed, "SessionClosed")
	dial(t, ctx, h.addr, pdu.BindTransceiver)
}

func TestRequestBeforeBind(t *testing.T) {
	t.Parallel()
	cases := []struct {
		id   pdu.ID
		body []byte
		resp pdu.ID
	}{
		{pdu.SubmitSM, submitBody("early"), pdu.SubmitSMResp},
		{pdu.DataSM, nil, pdu.DataSMResp},
		{pdu.QuerySM, []byte("m1\x00\x00\x00\x00"), pdu.QuerySMResp},
		{pdu.SubmitMulti, nil, pdu.SubmitMultiResp},
		{pdu.CancelSM, nil, pdu.CancelSMResp},
		{pdu.ReplaceSM, nil, pdu.ReplaceSMResp},
		{pdu.DeliverSM, submitBody("mo"), pdu.DeliverSMResp},
		{pdu.EnquireLink, nil, pdu.EnquireLinkResp},
		{pdu.Unbind, nil, pdu.UnbindResp},
		{pdu.Outbind, nil, pdu.GenericNack},
		{pdu.AlertNotification, nil, pdu.GenericNack},
	}
	ctx := testCtx(t)
	h := start(t, nil)
	rc := dialRaw(t, ctx, h.addr)
	for i, tc := range cases {
		seq := uint32(100 + i)
		send(t, rc, pdu.Request(tc.id, seq, tc.body))
		expect(t, read(t, ctx, rc), tc.resp, pdu.StatusInvBndSts, seq)
	}
	// The connection is still open and can bind.
	rawBind(t, ctx, rc, pdu.BindTransceiver)
	none(t, h.handler.requests, "request handled before bind")
}

func TestBindTimeout(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	const bindTimeout = 100 * time.Millisecond
	h := start(t, func(h *harness) {
		h.srv.BindTimeout = bindTimeout
		// Sent to the bound connection well after the bind timeout.
		h.srv.EnquireLinkInterval = 3 * bindTimeout
	})
	began := time.Now()
	idle := dialRaw(t, ctx, h.addr)
	bound := dialRaw(t, ctx, h.addr)
	rawBind(t, ctx, bound, pdu.BindTransmitter)

	expectEOF(t, ctx, idle)
	if d := time.Since(began); d < bindTimeout {
		t.Fatalf("closed after %v, before the bind timeout", d)
	}
	none(t, h.handler.closed, "SessionClosed for a connection never bound")

	// The bound connection outlives the bind timeout: it gets an
	// enquire_link later and still answers.
	f := read(t, ctx, bound)
	expect(t, f, pdu.EnquireLink, pdu.StatusOK, f.Seq)
	if d := time.Since(began); d < bindTimeout {
		t.Fatalf("enquire_link after %v", d)
	}
	send(t, bound, pdu.Empty(pdu.EnquireLinkResp, pdu.StatusOK, f.Seq))
	enquire(t, ctx, bound, 2)
}

func TestUnbind(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, nil)
	rc := dialRaw(t, ctx, h.addr)
	rawBind(t, ctx, rc, pdu.BindTransceiver)
	s := recv(t, ctx, h.handler.bound, "SessionBound")
	if n := len(h.srv.Registry.Receivers(testSystemID)); n != 1 {
		t.Fatalf("%d receivers, want 1", n)
	}

	send(t, rc, pdu.Empty(pdu.Unbind, pdu.StatusOK, 5))
	expect(t, read(t, ctx, rc), pdu.UnbindResp, pdu.StatusOK, 5)
	expectEOF(t, ctx, rc)

	if got := recv(t, ctx, h.handler.closed, "SessionClosed"); got != s {
		t.Fatalf("SessionClosed(%d), want session %d", got.ID(), s.ID())
	}
	recv(t, ctx, s.Done(), "session done")
	if n := h.srv.Registry.Count(testSystemID); n != 0 {
		t.Fatalf("Registry.Count = %d after unbind", n)
	}
	if n := len(h.srv.Registry.Receivers(testSystemID)); n != 0 {
		t.Fatalf("%d receivers after unbind", n)
	}
	none(t, h.handler.closed, "second SessionClosed")
}

func TestUnbindClient(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, nil)
	c := dial(t, ctx, h.addr, pdu.BindReceiver)
	recv(t, ctx, h.handler.bound, "SessionBound")
	if err := c.Unbind(ctx); err != nil {
		t.Fatalf("Unbind: %v", err)
	}
	recv(t, ctx, h.handler.closed, "SessionClosed")
	if n := h.srv.Registry.Count(testSystemID); n != 0 {
		t.Fatalf("Registry.Count = %d after unbind", n)
	}
}

// TestPeerClosed checks that a bound client dropping the TCP connection
// ends its session like an unbind does.
func TestPeerClosed(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, nil)
	c := dial(t, ctx, h.addr, pdu.BindTransceiver)
	s := recv(t, ctx, h.handler.bound, "SessionBound")
	c.Close()
	if got := recv(t, ctx, h.handler.closed, "SessionClosed"); got != s {
		t.Fatalf("SessionClosed(%d), want %d", got.ID(), s.ID())
	}
	if n := h.srv.Registry.Count(testSystemID); n != 0 {
		t.Fatalf("Registry.Count = %d", n)
	}
}

func TestUnknownCommandID(t *testing.T) {
	t.Parallel()
	unknown := func(seq uint32, bodyLen int) []byte {
		b := pdu.AppendHeader(nil, pdu.ID(0x00000099), pdu.StatusOK, seq, bodyLen)
		return append(b, make([]byte, bodyLen)...)
	}
	for _, bound := range []bool{false, true} {
		t.Run(fmt.Sprintf("bound=%v", bound), func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			h := start(t, nil)
			rc := dialRaw(t, ctx, h.addr)
			if bound {
				rawBind(t, ctx, rc, pdu.BindTransceiver)
			}
			send(t, rc, unknown(5, 3))
			expect(t, read(t, ctx, rc), pdu.GenericNack, pdu.StatusInvCmdID, 5)
			// A response of an unknown command id is a response: dropped,
			// not answered (TestStrayResponses).
			send(t, rc, pdu.Empty(pdu.ID(0x80000099), pdu.StatusOK, 6))
			// The largest frame allowed is read whole and refused only for
			// its command id.
			send(t, rc, unknown(7, pdu.DefaultMaxLen-pdu.HeaderLen))
			expect(t, read(t, ctx, rc), pdu.GenericNack, pdu.StatusInvCmdID, 7)
			if bound {
				enquire(t, ctx, rc, 8)
				send(t, rc, submitPDU(9, "after"))
				expectMessageID(t, read(t, ctx, rc), pdu.SubmitSMResp, 9, "m9")
			} else {
				rawBind(t, ctx, rc, pdu.BindTransceiver)
			}
		})
	}
}

// TestStrayResponses: a response the session never asked for (a
// deliver_sm_resp of no deliver_sm, others of command ids SMPP does not
// define, a generic_nack) is dropped and never answered, before bind and
// after: SMPP 3.4 answers no response. The next PDU the client reads is
// the answer to its next request.
func TestStrayResponses(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, nil)
	rc := dialRaw(t, ctx, h.addr)
	send(t, rc, esmetest.StrayResponses(10))
	send(t, rc, pdu.Empty(pdu.EnquireLink, pdu.StatusOK, 20))
	expect(t, read(t, ctx, rc), pdu.EnquireLinkResp, pdu.StatusInvBndSts, 20)

	rawBind(t, ctx, rc, pdu.BindTransceiver)
	send(t, rc, esmetest.StrayResponses(30))
	enquire(t, ctx, rc, 40)
	send(t, rc, submitPDU(41, "after"))
	expectMessageID(t, read(t, ctx, rc), pdu.SubmitSMResp, 41, "m41")
}

func TestBadCommandLength(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		len   uint32
		bound bool
	}{
		{"zero", 0, false},
		{"8", 8, true},
		{"15", 15, false},
		{"64KiB+1", pdu.DefaultMaxLen + 1, true},
		{"64KiB+1 before bind", pdu.DefaultMaxLen + 1, false},
		{"max uint32", 0xFFFFFFFF, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			h := start(t, nil)
			rc := dialRaw(t, ctx, h.addr)
			if tc.bound {
				rawBind(t, ctx, rc, pdu.BindTransceiver)
			}
			hdr := pdu.AppendHeader(nil, pdu.SubmitSM, pdu.StatusOK, 77, 0)
			binary.BigEndian.PutUint32(hdr, tc.len)
			send(t, rc, hdr)
			expect(t, read(t, ctx, rc), pdu.GenericNack, pdu.StatusInvCmdLen, 77)
			expectEOF(t, ctx, rc)
			if tc.bound {
				recv(t, ctx, h.handler.closed, "SessionClosed")
			}
			none(t, h.handler.requests, "request")
		})
	}
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, func(h *harness) { h.handler.hold = true })
	rc := dialRaw(t, ctx, h.addr)
	rawBind(t, ctx, rc, pdu.BindTransceiver)
	s := recv(t, ctx, h.handler.bound, "SessionBound")
	unbound := dialRaw(t, ctx, h.addr)
	// Make sure the server accepted it: a connection still in the
	// listener's backlog is reset when the listener closes.
	send(t, unbound, pdu.Empty(pdu.EnquireLink, pdu.StatusOK, 1))
	expect(t, read(t, ctx, unbound), pdu.EnquireLinkResp, pdu.StatusInvBndSts, 1)
	send(t, rc, submitPDU(2, "in flight"))
	held := recv(t, ctx, h.handler.requests, "request")

	shutdown := make(chan error, 1)
	go func() { shutdown <- h.srv.Shutdown(ctx) }()

	// Serve returns as soon as the listener is closed.
	recv(t, ctx, h.served, "Serve to return")
	if !errors.Is(h.serveErr, smppserver.ErrServerClosed) {
		t.Fatalf("Serve: %v, want ErrServerClosed", h.serveErr)
	}
	// The connection that never bound is closed at once.
	expectEOF(t, ctx, unbound)
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	default:
	}

	answer(held.s, held.f)
	expectMessageID(t, read(t, ctx, rc), pdu.SubmitSMResp, 2, "m2")
	f := read(t, ctx, rc)
	expect(t, f, pdu.Unbind, pdu.StatusOK, f.Seq)
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned %v before unbind_resp", err)
	default:
	}
	// A request arriving while unbinding is refused.
	send(t, rc, submitPDU(3, "late"))
	expect(t, read(t, ctx, rc), pdu.SubmitSMResp, pdu.StatusInvBndSts, 3)
	none(t, h.handler.requests, "request handled while unbinding")
	send(t, rc, pdu.Empty(pdu.UnbindResp, pdu.StatusOK, f.Seq))
	if err := recv(t, ctx, shutdown, "Shutdown"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	expectEOF(t, ctx, rc)
	if got := recv(t, ctx, h.handler.closed, "SessionClosed"); got != s {
		t.Fatalf("SessionClosed(%d), want %d", got.ID(), s.ID())
	}
	if n := len(h.srv.Sessions()); n != 0 {
		t.Fatalf("%d sessions left after Shutdown", n)
	}
	if n := h.srv.Registry.Count(testSystemID); n != 0 {
		t.Fatalf("Registry.Count = %d after Shutdown", n)
	}
	if err := s.Deliver(pdu.Request(pdu.DeliverSM, 0, submitBody("x")), func(pdu.Frame, error) {}); !errors.Is(err, smppserver.ErrClosed) {
		t.Fatalf("Deliver after Shutdown: %v, want ErrClosed", err)
	}

	// A stopped server does not serve again.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := h.srv.Serve(l); !errors.Is(err, smppserver.ErrServerClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}

func TestShutdownClient(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, nil)
	clients := []*esmetest.Client{
		dial(t, ctx, h.addr, pdu.BindTransmitter),
		dial(t, ctx, h.addr, pdu.BindReceiver),
	}
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, c := range clients {
		recv(t, ctx, c.Done(), "client closed")
		// The client answers the unbind, then either closes itself or sees
		// the server close first.
		if err := c.Err(); !errors.Is(err, esmetest.ErrUnbound) && !errors.Is(err, esmetest.ErrPeerClosed) {
			t.Fatalf("client ended with %v, want an unbind", err)
		}
	}
	recv(t, ctx, h.served, "Serve to return")
	if !errors.Is(h.serveErr, smppserver.ErrServerClosed) {
		t.Fatalf("Serve: %v", h.serveErr)
	}
}

// TestShutdownDeadline checks that a client that never answers the unbind
// holds Shutdown only until its context ends.
func TestShutdownDeadline(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, nil)
	rc := dialRaw(t, ctx, h.addr)
	rawBind(t, ctx, rc, pdu.BindTransceiver)
	recv(t, ctx, h.handler.bound, "SessionBound")

	sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := h.srv.Shutdown(sctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want context.DeadlineExceeded", err)
	}
	f := read(t, ctx, rc)
	expect(t, f, pdu.Unbind, pdu.StatusOK, f.Seq)
	expectEOF(t, ctx, rc)
	recv(t, ctx, h.handler.closed, "SessionClosed")
}

// TestShutdownIdle checks Shutdown of a server that never served.
func TestShutdownIdle(t *testing.T) {
	t.Parallel()
	srv := &smppserver.Server{Auth: &stubAuth{}, Handler: newStubHandler()}
	if err := srv.Shutdown(testCtx(t)); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := srv.Serve(l); !errors.Is(err, smppserver.ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
}

func TestHandlerPanic(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, nil)
	victim := dial(t, ctx, h.addr, pdu.BindTransceiver)
	vs := recv(t, ctx, h.handler.bound, "SessionBound")
	other := dial(t, ctx, h.addr, pdu.BindTransceiver)
	recv(t, ctx, h.handler.bound, "SessionBound")

	if r, err := victim.Submit(ctx, submitBody("boom")); err == nil {
		t.Fatalf("submit that panics the handler answered %+v", r)
	}
	recv(t, ctx, victim.Done(), "victim closed")
	if got := recv(t, ctx, h.handler.closed, "SessionClosed"); got != vs {
		t.Fatalf("SessionClosed(%d), want %d", got.ID(), vs.ID())
	}

	// The other session and the server carry on.
	r, err := other.Submit(ctx, submitBody("fine"))
	if err != nil || r.Status != pdu.StatusOK || r.MessageID != "m2" {
		t.Fatalf("submit on the other session: %+v %v", r, err)
	}
	third := dial(t, ctx, h.addr, pdu.BindTransmitter)
	r, err = third.Submit(ctx, submitBody("fine"))
	if err != nil || r.Status != pdu.StatusOK || r.MessageID != "m2" {
		t.Fatalf("submit on a new session: %+v %v", r, err)
	}
	if n := h.srv.Registry.Count(testSystemID); n != 2 {
		t.Fatalf("Registry.Count = %d, want 2", n)
	}
}

// TestCloseDuringBind closes a connection while its bind is being
// authenticated: the bind must not leave a session in the Registry.
func TestCloseDuringBind(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	gate := make(chan struct{})
	release := sync.OnceFunc(func() { close(gate) })
	defer release()
	h := start(t, func(h *harness) {
		h.auth.gate = gate
		h.srv.BindTimeout = 100 * time.Millisecond
	})
	rc := dialRaw(t, ctx, h.addr)
	send(t, rc, bindPDU(pdu.BindTransceiver, 1, testSystemID, testPassword))
	recv(t, ctx, h.auth.requests, "bind request")
	// The bind timeout fires while the Authenticator is busy.
	expectEOF(t, ctx, rc)
	release()
	waitNoSessions(t, ctx, h.srv)
	if n := h.srv.Registry.Count(testSystemID); n != 0 {
		t.Fatalf("Registry.Count = %d after the connection closed during bind", n)
	}
	// The client saw the close a moment before the server finished it, so
	// the bind may have won: then the session was bound and closed.
	if nb, nc := len(h.handler.bound), len(h.handler.closed); nb != nc || nb > 1 {
		t.Fatalf("SessionBound called %d times, SessionClosed %d times", nb, nc)
	}
}

// TestCloseDuringSessionBound closes a session while Handler.SessionBound
// runs: SessionClosed must wait for SessionBound to return.
func TestCloseDuringSessionBound(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	gate := make(chan struct{})
	release := sync.OnceFunc(func() { close(gate) })
	defer release()
	h := start(t, func(h *harness) { h.handler.boundGate = gate })
	rc := dialRaw(t, ctx, h.addr)
	rawBind(t, ctx, rc, pdu.BindTransceiver)
	s := recv(t, ctx, h.handler.bound, "SessionBound")
	s.Close(smppconn.ReasonShutdown)
	recv(t, ctx, s.Done(), "session done")
	if n := h.srv.Registry.Count(testSystemID); n != 0 {
		t.Fatalf("Registry.Count = %d after Close", n)
	}
	none(t, h.handler.closed, "SessionClosed while SessionBound runs")
	release()
	if got := recv(t, ctx, h.handler.closed, "SessionClosed"); got != s {
		t.Fatalf("SessionClosed(%d), want %d", got.ID(), s.ID())
	}
	expectEOF(t, ctx, rc)
}

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

// TestUnbindAnswersWhatIsUnderWay: a client unbinds with a submit of its
// own unanswered and a deliver_sm of ours unanswered (they crossed on the
// wire). The submit gets its response and the deliver_sm the client's
// answer before unbind_resp comes; no new delivery is taken meanwhile.
func TestUnbindAnswersWhatIsUnderWay(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, func(h *harness) { h.handler.hold = true })
	rc := dialRaw(t, ctx, h.addr)
	rawBind(t, ctx, rc, pdu.BindTransceiver)
	s := recv(t, ctx, h.handler.bound, "SessionBound")

	delivered := make(chan pdu.Frame, 1)
	if err := s.Deliver(pdu.Request(pdu.DeliverSM, 0, []byte("receipt")), func(f pdu.Frame, err error) {
		if err != nil {
			t.Errorf("delivery: %v", err)
		}
		delivered <- f
	}); err != nil {
		t.Fatal(err)
	}
	dsm := read(t, ctx, rc)
	if dsm.ID != pdu.DeliverSM {
		t.Fatalf("read %s, want deliver_sm", pdu.IDName(dsm.ID))
	}
	send(t, rc, submitPDU(7, "hello"))
	req := recv(t, ctx, h.handler.requests, "submit")
	send(t, rc, pdu.Empty(pdu.Unbind, pdu.StatusOK, 8))
	// Its answer tells that the unbind before it was read.
	enquire(t, ctx, rc, 9)
	// Unbinding: no receiver for new deliveries, and Deliver refuses.
	if n := len(h.srv.Registry.Receivers(testSystemID)); n != 0 {
		t.Fatalf("%d receivers while unbinding", n)
	}
	if err := s.Deliver(pdu.Request(pdu.DeliverSM, 0, []byte("late")), func(pdu.Frame, error) {}); err == nil {
		t.Fatal("a session unbinding took a new delivery")
	}

	answer(req.s, req.f)
	expect(t, read(t, ctx, rc), pdu.SubmitSMResp, pdu.StatusOK, 7)
	send(t, rc, pdu.Empty(pdu.DeliverSMResp, pdu.StatusOK, dsm.Seq))
	if f := recv(t, ctx, delivered, "the delivery's answer"); f.Status != pdu.StatusOK {
		t.Fatalf("delivery answered 0x%08x", uint32(f.Status))
	}
	expect(t, read(t, ctx, rc), pdu.UnbindResp, pdu.StatusOK, 8)
	expectEOF(t, ctx, rc)
}

// TestTinyBindTimeout: a bind timeout so short that the timer fires
// while its session is still being set up closes each connection
// cleanly, without a race on the timer or a nil one.
func TestTinyBindTimeout(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, func(h *harness) { h.srv.BindTimeout = time.Nanosecond })
	for range 50 {
		rc := dialRaw(t, ctx, h.addr)
		if _, err := rc.Read(ctx); !connEnded(err) {
			t.Fatalf("read: %v, want the connection closed", err)
		}
	}
}
