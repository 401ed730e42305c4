package dlr

import (
	"testing"

	"github.com/smppmux/smppmux/internal/pdu"
)

func TestReceiptState(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		text string
		tlv  []byte
		want byte
	}{
		{"id:1 sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 stat:DELIVRD err:000 text:", nil, StateDelivered},
		{"id:1 stat:undeliv err:001", nil, StateUndeliverable},
		{"id:1 stat:ENROUTE", nil, StateEnroute},
		{"id:1 stat:WHATEVER", nil, 0},
		{"id:1", nil, 0},
		{"id:1 stat:DELIVRD", []byte{StateRejected}, StateRejected},
		{"", []byte{42}, 0},
	} {
		sm := &pdu.SM{ShortMessage: []byte(tt.text)}
		if tt.tlv != nil {
			sm.TLVs = pdu.AppendTLV(nil, pdu.TagMessageState, tt.tlv)
		}
		if got := ReceiptState(sm); got != tt.want {
			t.Errorf("ReceiptState(%q, tlv %v) = %d, want %d", tt.text, tt.tlv, got, tt.want)
		}
	}
	if FinalState(StateEnroute) || FinalState(StateAccepted) || !FinalState(StateDelivered) || !FinalState(StateRejected) {
		t.Error("FinalState")
	}
}
