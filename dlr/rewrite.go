package dlr

import "github.com/smppmux/smppmux/internal/pdu"

// RewriteReceipt returns the deliver_sm or data_sm receipt raw, parsed
// into sm, with its message id replaced by clientID in the
// receipted_message_id TLV and in the text's "id:" (short_message, else
// message_payload), and every other octet as it was. The sequence number
// is left for the sender to set.
func RewriteReceipt(raw []byte, sm *pdu.SM, clientID string) []byte {
	// The pieces (the new id's TLV value, the TLVs, the text) are built
	// one after the other in scratch, which RewriteSM copies: a receipt
	// of usual size costs one allocation, its copy. Each piece is
	// appended after the last and none is written again, so one that
	// outgrows scratch leaves the others as they were.
	var scratch [512]byte
	buf := scratch[:0]
	tlvs := sm.TLVs
	if _, ok := pdu.FindTLV(tlvs, pdu.TagReceiptedMessageID); ok {
		buf = append(append(buf, clientID...), 0)
		id := buf
		start := len(buf)
		buf = pdu.AppendReplaceTLV(buf, tlvs, pdu.TagReceiptedMessageID, id)
		tlvs = buf[start:]
	}
	short := sm.ShortMessage
	if len(short) > 0 {
		if s, e, ok := TextID(short); ok {
			// A longer client id cannot push the text past what sm_length
			// can say: RewriteSM keeps the text whole, drops the tail.
			start := len(buf)
			buf = pdu.AppendSplice(buf, short, s, e, clientID)
			short = buf[start:]
		}
	} else if payload, ok := pdu.FindTLV(tlvs, pdu.TagMessagePayload); ok {
		if s, e, ok := TextID(payload); ok {
			start := len(buf)
			buf = pdu.AppendSplice(buf, payload, s, e, clientID)
			text := buf[start:]
			start = len(buf)
			buf = pdu.AppendReplaceTLV(buf, tlvs, pdu.TagMessagePayload, text)
			tlvs = buf[start:]
		}
	}
	return pdu.RewriteSM(raw, sm, 0, short, tlvs)
}
