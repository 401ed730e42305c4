package dlr

import (
	"bytes"

	"github.com/smppmux/smppmux/internal/pdu"
)

// TextID locates the value of the "id:" field in a receipt text such as
// "id:1234 sub:001 dlvrd:001 ... stat:DELIVRD". It matches "id:" at the
// start or after a space, in any case, and returns the value's bounds.
func TextID(text []byte) (start, end int, ok bool) {
	for i := 0; i+3 <= len(text); i++ {
		if (i == 0 || text[i-1] == ' ') &&
			(text[i]|0x20) == 'i' && (text[i+1]|0x20) == 'd' && text[i+2] == ':' {
			start = i + 3
			end = start
			for end < len(text) && text[end] != ' ' && text[end] != 0 {
				end++
			}
			return start, end, end > start
		}
	}
	return 0, 0, false
}

// receiptText returns the text of a receipt: short_message, or the
// message_payload TLV when short_message is empty.
func receiptText(sm *pdu.SM) []byte {
	if len(sm.ShortMessage) > 0 {
		return sm.ShortMessage
	}
	v, _ := pdu.FindTLV(sm.TLVs, pdu.TagMessagePayload)
	return v
}

// ReceiptID returns the upstream message id a deliver_sm receipt refers
// to: the receipted_message_id TLV first, the "id:" of the text second.
func ReceiptID(sm *pdu.SM) ([]byte, error) {
	if v, ok := pdu.FindTLV(sm.TLVs, pdu.TagReceiptedMessageID); ok {
		v = cstring(v)
		if len(v) > 0 {
			return v, nil
		}
	}
	if text := receiptText(sm); text != nil {
		if s, e, ok := TextID(text); ok {
			return text[s:e], nil
		}
	}
	return nil, ErrNoID
}

// RewriteReceipt returns the deliver_sm receipt raw, parsed into sm, with
// its message id replaced by clientID in the receipted_message_id TLV and
// in the text, and every other octet as it was. The sequence number is
// left for the sender to set.
func RewriteReceipt(raw []byte, sm *pdu.SM, clientID string) []byte {
	tlvs := sm.TLVs
	if _, ok := pdu.FindTLV(tlvs, pdu.TagReceiptedMessageID); ok {
		tlvs = pdu.ReplaceTLV(tlvs, pdu.TagReceiptedMessageID, append([]byte(clientID), 0))
	}
	short := sm.ShortMessage
	if len(short) > 0 {
		if s, e, ok := TextID(short); ok {
			short = splice(short, s, e, clientID)
			if len(short) > 254 {
				// A longer client id cannot push the text past what
				// sm_length can say: keep the text whole, drop the tail.
				short = short[:254]
			}
		}
	} else if payload, ok := pdu.FindTLV(tlvs, pdu.TagMessagePayload); ok {
		if s, e, ok := TextID(payload); ok {
			tlvs = pdu.ReplaceTLV(tlvs, pdu.TagMessagePayload, splice(payload, s, e, clientID))
		}
	}
	return pdu.RewriteSM(raw, sm, 0, short, tlvs)
}

// RewriteDataSM returns the data_sm raw, parsed into sm, with its
// receipted_message_id replaced by clientID.
func RewriteDataSM(raw []byte, sm *pdu.DataSMBody, clientID string) []byte {
	head := raw[:len(raw)-len(sm.TLVs)]
	tlvs := pdu.ReplaceTLV(sm.TLVs, pdu.TagReceiptedMessageID, append([]byte(clientID), 0))
	b := make([]byte, 0, len(head)+len(tlvs))
	b = append(append(b, head...), tlvs...)
	pdu.SetLen(b)
	return b
}

func splice(b []byte, start, end int, s string) []byte {
	out := make([]byte, 0, len(b)-(end-start)+len(s))
	out = append(out, b[:start]...)
	out = append(out, s...)
	return append(out, b[end:]...)
}

// Outcome says what a receipt reports: whether the message reached a final
// state, and whether that state is delivered. It reads the message_state
// TLV first, the text's "stat:" second.
func Outcome(sm *pdu.SM) (final, delivered bool) {
	if v, ok := pdu.FindTLV(sm.TLVs, pdu.TagMessageState); ok && len(v) == 1 {
		switch v[0] {
		case 2: // DELIVERED
			return true, true
		case 3, 4, 5, 7, 8: // EXPIRED, DELETED, UNDELIVERABLE, UNKNOWN, REJECTED
			return true, false
		}
		return false, false
	}
	text := receiptText(sm)
	i := bytes.Index(text, []byte("stat:"))
	if i < 0 {
		return false, false
	}
	stat := text[i+5:]
	if j := bytes.IndexByte(stat, ' '); j >= 0 {
		stat = stat[:j]
	}
	switch string(bytes.ToUpper(stat)) {
	case "DELIVRD":
		return true, true
	case "EXPIRED", "DELETED", "UNDELIV", "UNKNOWN", "REJECTD":
		return true, false
	}
	return false, false
}
