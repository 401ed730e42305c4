package esmetest

import (
	"bytes"

	"github.com/smppmux/smppmux/internal/pdu"
)

// maxShortMessage is the largest short_message; longer text travels in the
// message_payload TLV.
const maxShortMessage = 254

// SubmitBody returns a submit_sm body from src to dst carrying text with
// data_coding 0 and registered_delivery rd, followed by the raw TLVs tlvs.
// dst gets TON/NPI 1/1; src gets 5/0 (alphanumeric) if it has a letter,
// else 1/1. Text longer than 254 octets goes in a message_payload TLV with
// an empty short_message.
func SubmitBody(src, dst string, text []byte, rd byte, tlvs []byte) []byte {
	sm := pdu.SM{
		SourceTON: 1, SourceNPI: 1, SourceAddr: []byte(src),
		DestTON: 1, DestNPI: 1, DestAddr: []byte(dst),
		RegisteredDelivery: rd,
		ShortMessage:       text,
		TLVs:               tlvs,
	}
	if hasLetter(src) {
		sm.SourceTON, sm.SourceNPI = 5, 0
	}
	if len(text) > maxShortMessage {
		sm.ShortMessage = nil
		t := make([]byte, 0, len(tlvs)+4+len(text))
		t = append(t, tlvs...)
		sm.TLVs = pdu.AppendTLV(t, pdu.TagMessagePayload, text)
	}
	return pdu.AppendSM(make([]byte, 0, 40+len(src)+len(dst)+len(text)+len(sm.TLVs)), &sm)
}

// QueryBody returns a query_sm body for the message id of src, whose
// TON/NPI are as SubmitBody gives them.
func QueryBody(id, src string) []byte {
	return appendAddr(pdu.AppendCString(nil, id), src)
}

// CancelBody returns a cancel_sm body, service_type empty, for the message
// id from src to dst, their TON/NPI as SubmitBody gives them.
func CancelBody(id, src, dst string) []byte {
	b := pdu.AppendCString(pdu.AppendCString(nil, ""), id)
	b = appendAddr(b, src)
	b = append(b, 1, 1)
	return pdu.AppendCString(b, dst)
}

// appendAddr appends src's TON, NPI and address, as SubmitBody sets them.
func appendAddr(b []byte, src string) []byte {
	if hasLetter(src) {
		b = append(b, 5, 0)
	} else {
		b = append(b, 1, 1)
	}
	return pdu.AppendCString(b, src)
}

func hasLetter(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c >= 'a' && c <= 'z' {
			return true
		}
	}
	return false
}

// ReceiptID returns the message id a receipt refers to: the value of the
// receipted_message_id TLV up to its NUL, else the short_message text
// after "id:" (at its start or after a space, any case) up to the next
// space, else "".
func ReceiptID(sm *pdu.SM) string {
	if sm == nil {
		return ""
	}
	if v, ok := pdu.FindTLV(sm.TLVs, pdu.TagReceiptedMessageID); ok {
		if i := bytes.IndexByte(v, 0); i >= 0 {
			v = v[:i]
		}
		if len(v) > 0 {
			return string(v)
		}
	}
	t := sm.ShortMessage
	for i := 0; i+3 <= len(t); i++ {
		if (i == 0 || t[i-1] == ' ') && t[i]|0x20 == 'i' && t[i+1]|0x20 == 'd' && t[i+2] == ':' {
			v := t[i+3:]
			if j := bytes.IndexByte(v, ' '); j >= 0 {
				v = v[:j]
			}
			return string(v)
		}
	}
	return ""
}

// StrayResponses returns five responses answering nothing, for tests of
// how a peer treats them, with sequence numbers seq to seq+4: a
// submit_sm_resp, a deliver_sm_resp, two responses of command ids SMPP
// does not define (0x80000099 with no body, 0x8000FFFF with a status and
// a body) and a generic_nack.
func StrayResponses(seq uint32) []byte {
	var b []byte
	b = append(b, pdu.MessageIDResp(pdu.SubmitSMResp, pdu.StatusOK, seq, "stray")...)
	b = append(b, pdu.MessageIDResp(pdu.DeliverSMResp, pdu.StatusOK, seq+1, "")...)
	b = append(b, pdu.Empty(pdu.ID(0x80000099), pdu.StatusOK, seq+2)...)
	b = pdu.AppendHeader(b, pdu.ID(0x8000FFFF), pdu.StatusSysErr, seq+3, 2)
	b = append(b, 'x', 'y')
	return append(b, pdu.Empty(pdu.GenericNack, pdu.StatusInvCmdID, seq+4)...)
}
