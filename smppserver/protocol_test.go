package smppserver_test

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
)

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
			rc := esmetest.Connect(t, ctx, h.addr)
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
	rc := esmetest.Connect(t, ctx, h.addr)
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
			rc := esmetest.Connect(t, ctx, h.addr)
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
