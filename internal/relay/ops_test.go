package relay

import (
	"bytes"
	"testing"

	"github.com/smppmux/smppmux/internal/pdu"
)

func TestRespWithID(t *testing.T) {
	t.Parallel()
	// submit_multi_resp: message_id, no_unsuccess, one unsuccess_sme.
	rest := []byte{1, 1, 1, '4', '4', 0, 0, 0, 0, 0x0B}
	body := append([]byte("upstream-77\x00"), rest...)
	resp := pdu.Frame{Header: pdu.Header{ID: pdu.SubmitMultiResp, Seq: 9}, Raw: pdu.Request(pdu.SubmitMultiResp, 9, body)}
	out := respWithID(resp, 3, "00ff")
	h := pdu.ParseHeader(out)
	if h.Seq != 3 || int(h.Len) != len(out) || h.ID != pdu.SubmitMultiResp {
		t.Fatalf("header %+v for %d octets", h, len(out))
	}
	if want := append([]byte("00ff\x00"), rest...); !bytes.Equal(out[pdu.HeaderLen:], want) {
		t.Fatalf("body %q, want %q", out[pdu.HeaderLen:], want)
	}
	// An empty body (an SMSC that sent none) gets the id.
	empty := pdu.Frame{Header: pdu.Header{ID: pdu.SubmitSMResp}, Raw: pdu.Empty(pdu.SubmitSMResp, 0, 1)}
	if out := respWithID(empty, 4, "ab"); !bytes.Equal(out[pdu.HeaderLen:], []byte("ab\x00")) || pdu.ParseHeader(out).Seq != 4 {
		t.Fatalf("from an empty body: %x", out)
	}
}
