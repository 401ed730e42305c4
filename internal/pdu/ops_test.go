package pdu

import (
	"bytes"
	"errors"
	"testing"
)

func TestRespWithMessageID(t *testing.T) {
	t.Parallel()
	// submit_multi_resp: message_id, no_unsuccess, one unsuccess_sme.
	rest := []byte{1, 1, 1, '4', '4', 0, 0, 0, 0, 0x0B}
	body := append([]byte("upstream-77\x00"), rest...)
	resp := Frame{Header: Header{ID: SubmitMultiResp, Seq: 9}, Raw: Request(SubmitMultiResp, 9, body)}
	out := RespWithMessageID(resp, 3, "00ff")
	h := ParseHeader(out)
	if h.Seq != 3 || int(h.Len) != len(out) || h.ID != SubmitMultiResp {
		t.Fatalf("header %+v for %d octets", h, len(out))
	}
	if want := append([]byte("00ff\x00"), rest...); !bytes.Equal(out[HeaderLen:], want) {
		t.Fatalf("body %q, want %q", out[HeaderLen:], want)
	}
	// An empty body (an SMSC that sent none) gets the id.
	empty := Frame{Header: Header{ID: SubmitSMResp}, Raw: Empty(SubmitSMResp, 0, 1)}
	if out := RespWithMessageID(empty, 4, "ab"); !bytes.Equal(out[HeaderLen:], []byte("ab\x00")) || ParseHeader(out).Seq != 4 {
		t.Fatalf("from an empty body: %x", out)
	}
}

func TestByMessageID(t *testing.T) {
	t.Parallel()
	tail := []byte{1, 1, '4', '4', 0}
	tests := []struct {
		id   ID
		body []byte
		mid  string
		want []byte
	}{
		{QuerySM, append([]byte("c1\x00"), tail...), "c1", append([]byte("upstream-9\x00"), tail...)},
		{ReplaceSM, append([]byte("c1\x00"), tail...), "c1", append([]byte("upstream-9\x00"), tail...)},
		{CancelSM, append([]byte("CMT\x00c22\x00"), tail...), "c22", append([]byte("CMT\x00upstream-9\x00"), tail...)},
		{CancelSM, append([]byte("\x00\x00"), tail...), "", nil},
	}
	for _, tt := range tests {
		q, err := ParseByMessageID(tt.id, tt.body)
		if err != nil || string(q.MessageID) != tt.mid {
			t.Fatalf("%s: ParseByMessageID = %q, %v; want %q", IDName(tt.id), q.MessageID, err, tt.mid)
		}
		if tt.want == nil {
			continue
		}
		out := q.WithMessageID(Request(tt.id, 5, tt.body), "upstream-9")
		if h := ParseHeader(out); int(h.Len) != len(out) || h.Seq != 5 || h.ID != tt.id || !bytes.Equal(out[HeaderLen:], tt.want) {
			t.Fatalf("%s: rewritten %+v %q, want %q", IDName(tt.id), h, out[HeaderLen:], tt.want)
		}
	}
	_, err := ParseByMessageID(QuerySM, []byte("no NUL"))
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Status != StatusInvMsgLen {
		t.Fatalf("unterminated message_id: %v", err)
	}
}

func TestParseSubmitMulti(t *testing.T) {
	t.Parallel()
	head := []byte("CMT\x00\x05\x00Shop\x00")
	dl := []byte{2, 'f', 'r', 'i', 'e', 'n', 'd', 's', 0}
	sme := func(a string) []byte { return append([]byte{1, 1, 1}, append([]byte(a), 0)...) }
	body := func(n byte, dests ...[]byte) []byte {
		b := append(append([]byte{}, head...), n)
		for _, d := range dests {
			b = append(b, d...)
		}
		return append(b, "rest of the message"...)
	}
	m, err := ParseSubmitMulti(body(3, dl, sme("4477"), sme("4478")))
	if err != nil || string(m.ServiceType) != "CMT" || string(m.SourceAddr) != "Shop" || m.Dests != 3 || string(m.FirstDest) != "4477" {
		t.Fatalf("ParseSubmitMulti = %+v, %v", m, err)
	}
	if m, err := ParseSubmitMulti(body(1, dl)); err != nil || m.FirstDest != nil {
		t.Fatalf("distribution list only: %+v, %v", m, err)
	}
	for name, tt := range map[string]struct {
		body []byte
		want Status
	}{
		"no destination":        {body(0), StatusInvNumDests},
		"unknown dest_flag":     {body(1, []byte{3, 1, 1, '1', 0}), StatusInvDstAdr},
		"address too long":      {body(1, sme("4477009000010000000000")), StatusInvDstAdr},
		"source_addr no NUL":    {[]byte("CMT\x00\x05\x00Shop"), StatusInvMsgLen},
		"service_type too long": {append([]byte("CMTCMTCMT\x00"), head[4:]...), StatusInvSerTyp},
	} {
		_, err := ParseSubmitMulti(tt.body)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Status != tt.want {
			t.Errorf("%s: %v, want status %s", name, err, StatusText(tt.want))
		}
	}
}
