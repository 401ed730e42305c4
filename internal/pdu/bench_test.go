package pdu

import (
	"bytes"
	"fmt"
	"testing"
)

// benchSubmit returns a submit_sm PDU as the load generator sends it.
func benchSubmit(seq uint32) []byte {
	return Request(SubmitSM, seq, AppendSM(nil, &SM{
		SourceTON: 5, SourceAddr: []byte("Bench"),
		DestTON: 1, DestNPI: 1, DestAddr: []byte(fmt.Sprintf("4477%08d", seq)),
		RegisteredDelivery: 1, ShortMessage: []byte("smppmux bench message"),
	}))
}

// loopReader yields b over and over.
type loopReader struct {
	b   []byte
	off int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := copy(p, r.b[r.off:])
	r.off = (r.off + n) % len(r.b)
	return n, nil
}

// BenchmarkReadSubmitSM frames submit_sm PDUs out of a stream, as a
// session's reader does.
func BenchmarkReadSubmitSM(b *testing.B) {
	var stream []byte
	for i := range 1024 {
		stream = append(stream, benchSubmit(uint32(i+1))...)
	}
	rd := NewReader(&loopReader{b: stream}, 0)
	b.SetBytes(int64(len(stream) / 1024))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rd.Read(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseSubmitSM decodes the fields smppmux reads of a submit_sm.
func BenchmarkParseSubmitSM(b *testing.B) {
	body := benchSubmit(1)[HeaderLen:]
	var sm SM
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseSM(body, &sm); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResendSubmitSM renumbers a relayed submit_sm for an upstream
// bind, body untouched.
func BenchmarkResendSubmitSM(b *testing.B) {
	raw := benchSubmit(1)
	b.ReportAllocs()
	seq := uint32(0)
	for b.Loop() {
		seq = NextSeq(seq)
		if out := Resend(raw, seq); !bytes.Equal(out[HeaderLen:], raw[HeaderLen:]) {
			b.Fatal("body changed")
		}
	}
}

// BenchmarkSubmitSMResp encodes the submit_sm_resp a client gets.
func BenchmarkSubmitSMResp(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = MessageIDResp(SubmitSMResp, StatusOK, 7, "19a3c5e2f0b14")
	}
}

// benchDataSMReceipt returns a data_sm receipt body: its id in the
// receipted_message_id TLV, its state in message_state.
func benchDataSMReceipt() []byte {
	body := []byte("\x00\x01\x01447700000001\x00\x05\x00Bench\x00\x04\x00\x00")
	body = AppendTLV(body, TagReceiptedMessageID, []byte("1a2b3c\x00"))
	return AppendTLV(body, TagMessageState, []byte{2})
}

// BenchmarkParseDataSM decodes a data_sm receipt as the relay reads one.
func BenchmarkParseDataSM(b *testing.B) {
	body := benchDataSMReceipt()
	var sm SM
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseDataSM(body, &sm); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRespWithMessageID turns an SMSC's submit_sm_resp into the
// client's, with the client's message id.
func BenchmarkRespWithMessageID(b *testing.B) {
	raw := MessageIDResp(SubmitSMResp, StatusOK, 9, "upstream-0000001234")
	resp := Frame{Header: ParseHeader(raw), Raw: raw}
	b.ReportAllocs()
	for b.Loop() {
		_ = RespWithMessageID(resp, 7, "19a3c5e2f0b14")
	}
}
