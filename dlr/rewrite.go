package dlr

import "github.com/smppmux/smppmux/internal/pdu"

// RewriteReceipt returns the deliver_sm or data_sm receipt raw, parsed
// into sm, with its message id replaced by clientID in the
// receipted_message_id TLV and in the text's "id:" (short_message, else
// message_payload), and every other octet as it was. The sequence number
// is left for the sender to set.
func RewriteReceipt(raw []byte, sm *pdu.SM, clientID string) []byte {
	tlvs := sm.TLVs
	if _, ok := pdu.FindTLV(tlvs, pdu.TagReceiptedMessageID); ok {
		tlvs = pdu.ReplaceTLV(tlvs, pdu.TagReceiptedMessageID, append([]byte(clientID), 0))
	}
	short := sm.ShortMessage
	if len(short) > 0 {
		if s, e, ok := TextID(short); ok {
			// A longer client id cannot push the text past what sm_length
			// can say: RewriteSM keeps the text whole, drops the tail.
			short = pdu.Splice(short, s, e, clientID)
		}
	} else if payload, ok := pdu.FindTLV(tlvs, pdu.TagMessagePayload); ok {
		if s, e, ok := TextID(payload); ok {
			tlvs = pdu.ReplaceTLV(tlvs, pdu.TagMessagePayload, pdu.Splice(payload, s, e, clientID))
		}
	}
	return pdu.RewriteSM(raw, sm, 0, short, tlvs)
}
