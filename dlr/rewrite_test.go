package dlr

import (
	"bytes"
	"testing"

	"github.com/smppmux/smppmux/internal/pdu"
)

// dataSMReceipt returns a data_sm receipt carrying tlvs, and its parse.
func dataSMReceipt(t *testing.T, tlvs []byte) ([]byte, *pdu.SM) {
	t.Helper()
	return receiptOf(t, pdu.SM{DataSM: true, TLVs: tlvs})
}

// TestRewriteDataSMReceipt: a data_sm receipt goes the way of a deliver_sm
// whose text is in message_payload: its id is read from the TLV, else
// the text, and rewritten in both, every other octet kept.
func TestRewriteDataSMReceipt(t *testing.T) {
	t.Parallel()
	tlvs := pdu.AppendTLV(pdu.AppendTLV(pdu.AppendTLV(nil,
		pdu.TagReceiptedMessageID, []byte("ab12\x00")),
		pdu.TagMessageState, []byte{2}),
		pdu.TagMessagePayload, []byte("id:ab12 stat:DELIVRD"))
	raw, sm := dataSMReceipt(t, tlvs)
	if id, err := ReceiptID(sm); err != nil || string(id) != "ab12" {
		t.Fatalf("ReceiptID = %q, %v", id, err)
	}
	if st := ReceiptState(sm); st != StateDelivered {
		t.Fatalf("ReceiptState = %d", st)
	}
	out := RewriteReceipt(raw, sm, "0042")
	var got pdu.SM
	if err := pdu.ParseMessage(pdu.DataSM, out[pdu.HeaderLen:], &got); err != nil {
		t.Fatal(err)
	}
	want := pdu.AppendTLV(pdu.AppendTLV(pdu.AppendTLV(nil,
		pdu.TagReceiptedMessageID, []byte("0042\x00")),
		pdu.TagMessageState, []byte{2}),
		pdu.TagMessagePayload, []byte("id:0042 stat:DELIVRD"))
	if !bytes.Equal(got.TLVs, want) || pdu.ParseHeader(out).ID != pdu.DataSM || int(pdu.ParseHeader(out).Len) != len(out) {
		t.Fatalf("rewritten TLVs %q, want %q", got.TLVs, want)
	}
	if n := len(raw) - len(sm.TLVs); !bytes.Equal(out[pdu.HeaderLen:n], raw[pdu.HeaderLen:n]) {
		t.Fatalf("fields before the TLVs changed: %x, want %x", out[pdu.HeaderLen:n], raw[pdu.HeaderLen:n])
	}

	// Only the text says the id.
	_, sm = dataSMReceipt(t, pdu.AppendTLV(nil, pdu.TagMessagePayload, []byte("id:cd34 stat:UNDELIV")))
	if id, err := ReceiptID(sm); err != nil || string(id) != "cd34" {
		t.Fatalf("ReceiptID from message_payload = %q, %v", id, err)
	}
	if final, delivered := Outcome(sm); !final || delivered {
		t.Fatalf("Outcome = %v, %v; want final, not delivered", final, delivered)
	}
}
