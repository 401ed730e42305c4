package smppserver_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smppconn"
)

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
			rc := esmetest.Connect(t, ctx, h.addr)
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
		idle[i] = esmetest.Connect(t, ctx, h.addr)
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

	c := esmetest.Bind(t, ctx, shop(h.addr, pdu.BindTransceiver))
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
	rc := bindRaw(t, ctx, h.addr, pdu.BindTransmitter)

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
			rc := esmetest.Connect(t, ctx, h.addr)
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
	rc, s := boundSession(t, ctx, h, pdu.BindTransceiver)
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
	rc := esmetest.Connect(t, ctx, h.addr)
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
