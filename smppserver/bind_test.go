package smppserver_test

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
)

func TestBind(t *testing.T) {
	t.Parallel()
	for _, id := range bindIDs {
		t.Run(pdu.IDName(id), func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			h := start(t, nil)
			rc := esmetest.Connect(t, ctx, h.addr)
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
	rc := esmetest.Connect(t, ctx, h.addr)
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
				rc := esmetest.Connect(t, ctx, h.addr)
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
	c, st := esmetest.BindStatus(t, ctx, esmetest.Config{Addr: h.addr, SystemID: testSystemID, Password: "wrong"})
	if c != nil || st != pdu.StatusInvPaswd {
		t.Fatalf("bind status 0x%08X, want a bind refused with ESME_RINVPASWD", uint32(st))
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
			rc := esmetest.Connect(t, ctx, h.addr)
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
			esmetest.Bind(t, ctx, shop(h.addr, pdu.BindTransceiver))
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
			rc := bindRaw(t, ctx, h.addr, pdu.BindTransceiver)
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
	first := esmetest.Bind(t, ctx, shop(h.addr, pdu.BindTransmitter))
	esmetest.Bind(t, ctx, shop(h.addr, pdu.BindReceiver))

	rc := esmetest.Connect(t, ctx, h.addr)
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
	esmetest.Bind(t, ctx, shop(h.addr, pdu.BindTransceiver))
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
	rc := esmetest.Connect(t, ctx, h.addr)
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
	idle := esmetest.Connect(t, ctx, h.addr)
	bound := bindRaw(t, ctx, h.addr, pdu.BindTransmitter)

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
	rc := esmetest.Connect(t, ctx, h.addr)
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

// TestTinyBindTimeout: a bind timeout so short that the timer fires
// while its session is still being set up closes each connection
// cleanly, without a race on the timer or a nil one.
func TestTinyBindTimeout(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := start(t, func(h *harness) { h.srv.BindTimeout = time.Nanosecond })
	for range 50 {
		rc := esmetest.Connect(t, ctx, h.addr)
		if _, err := rc.Read(ctx); !connEnded(err) {
			t.Fatalf("read: %v, want the connection closed", err)
		}
	}
}
