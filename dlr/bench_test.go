package dlr

import (
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
)

// benchReceipt returns a receipt deliver_sm for upstream id as the
// simulated SMSC writes it: the id in the receipted_message_id TLV and in
// the text.
func benchReceipt(b *testing.B, id string) ([]byte, *pdu.SM) {
	b.Helper()
	tlvs := pdu.AppendTLV(nil, pdu.TagReceiptedMessageID, append([]byte(id), 0))
	tlvs = pdu.AppendTLV(tlvs, pdu.TagMessageState, []byte{2})
	raw := pdu.Request(pdu.DeliverSM, 9, pdu.AppendSM(nil, &pdu.SM{
		SourceTON: 1, SourceNPI: 1, SourceAddr: []byte("447700000001"),
		DestTON: 5, DestAddr: []byte("Bench"), ESMClass: 0x04,
		ShortMessage: []byte("id:" + id + " sub:001 dlvrd:001 submit date:2611231900 done date:2611231900 stat:DELIVRD err:000 text:smppmux bench messa"),
		TLVs:         tlvs,
	}))
	sm := new(pdu.SM)
	if err := pdu.ParseSM(raw[pdu.HeaderLen:], sm); err != nil {
		b.Fatal(err)
	}
	return raw, sm
}

// BenchmarkIssueID issues a client message id and writes it in hex, as
// every accepted submit does.
func BenchmarkIssueID(b *testing.B) {
	g := NewIDs(time.Now())
	b.ReportAllocs()
	for b.Loop() {
		_ = FormatID(g.Next(), BaseHex, 0)
	}
}

// BenchmarkReceiptUpstreamID finds the upstream id of a receipt and its
// folded form.
func BenchmarkReceiptUpstreamID(b *testing.B) {
	_, sm := benchReceipt(b, "1A2B3C")
	b.ReportAllocs()
	for b.Loop() {
		id, err := ReceiptID(sm)
		if err != nil {
			b.Fatal(err)
		}
		_ = FoldID(string(id))
	}
}

// BenchmarkReceiptRef reads a receipt's id as the relay does, through an
// upstream's IDReader (id_format auto), TLV and text both present.
func BenchmarkReceiptRef(b *testing.B) {
	_, sm := benchReceipt(b, "1A2B3C")
	r := NewIDReader(FormExact, true)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := r.Ref(sm); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRewriteReceipt puts the client's id in a receipt, TLV and text.
func BenchmarkRewriteReceipt(b *testing.B) {
	raw, sm := benchReceipt(b, "1a2b3c")
	b.ReportAllocs()
	for b.Loop() {
		_ = RewriteReceipt(raw, sm, "19a3c5e2f0b14")
	}
}

// BenchmarkRewriteDataSMReceipt puts the client's id in a data_sm
// receipt's receipted_message_id.
func BenchmarkRewriteDataSMReceipt(b *testing.B) {
	body := []byte("\x00\x01\x01447700000001\x00\x05\x00Bench\x00\x04\x00\x00")
	body = pdu.AppendTLV(body, pdu.TagReceiptedMessageID, []byte("1a2b3c\x00"))
	body = pdu.AppendTLV(body, pdu.TagMessageState, []byte{2})
	raw := pdu.Request(pdu.DataSM, 9, body)
	sm := new(pdu.SM)
	if err := pdu.ParseDataSM(body, sm); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = RewriteReceipt(raw, sm, "19a3c5e2f0b14")
	}
}
