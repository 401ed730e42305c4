package dlr

import (
	"fmt"
	"testing"

	"github.com/smppmux/smppmux/internal/pdu"
)

// TestSummarize: a receipt's id, state and addresses; its text only
// through summarize; an MO message is not a receipt.
func TestSummarize(t *testing.T) {
	t.Parallel()
	sum, text := summarize(receiptPDU(42))
	if !sum.Receipt || sum.MessageID != "000042" || sum.State != "DELIVRD" || sum.Command != "deliver_sm" {
		t.Fatalf("receipt summary %+v", sum)
	}
	if len(text) == 0 {
		t.Fatal("no text")
	}
	withTLV := pdu.Request(pdu.DeliverSM, 0, pdu.AppendSM(nil, &pdu.SM{ESMClass: 4,
		SourceAddr: []byte("447700900123"), DestAddr: []byte("shop"),
		ShortMessage: []byte("id:7 stat:DELIVRD"),
		TLVs:         pdu.AppendTLV(pdu.AppendTLV(nil, pdu.TagMessageState, []byte{5}), pdu.TagReceiptedMessageID, []byte("7\x00"))}))
	if sum := Summarize(withTLV); sum.State != "UNDELIV" || sum.MessageID != "7" || sum.Source != "447700900123" {
		t.Fatalf("message_state TLV first: %+v", sum)
	}
	mo := pdu.Request(pdu.DeliverSM, 0, pdu.AppendSM(nil, &pdu.SM{SourceAddr: []byte("1"), ShortMessage: []byte("secret")}))
	if sum := Summarize(mo); sum.Receipt || sum.MessageID != "" || sum.State != "" {
		t.Fatalf("MO summary %+v", sum)
	}
	if sum := Summarize([]byte{1, 2}); sum != (DeadLetterSummary{}) {
		t.Fatalf("short PDU: %+v", sum)
	}
}

// receiptPDU returns a receipt deliver_sm whose text carries id n.
func receiptPDU(n int) []byte {
	text := fmt.Sprintf("id:%06d sub:001 dlvrd:001 submit date:2601010000 done date:2601010000 stat:DELIVRD err:000 text:", n)
	return pdu.Request(pdu.DeliverSM, 0, pdu.AppendSM(nil, &pdu.SM{ESMClass: 4, ShortMessage: []byte(text)}))
}
