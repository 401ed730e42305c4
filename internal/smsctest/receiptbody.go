package smsctest

import (
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
)

// Receipt constants.
const (
	// EsmReceipt is the esm_class of a delivery receipt.
	EsmReceipt = pdu.EsmReceipt
	// maxAddr is the longest source_addr or destination_addr of a
	// deliver_sm, without its NUL.
	maxAddr = 20
)

// MessageState is pdu.MessageState.
func MessageState(stat string) byte { return pdu.MessageState(stat) }

// Receipt returns the body of a deliver_sm delivery receipt for the
// message id of the submit_sm sm, with stat ("DELIVRD" when empty) and
// submit and done dates taken from now. The receipt goes from sm's
// destination to sm's source, with esm_class 0x04, data_coding 0, the
// short_message
//
//	id:<id> sub:001 dlvrd:001 submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DELIVRD err:000 text:<first 20 printable octets>
//
// (dlvrd:000 for any stat other than DELIVRD), and the TLVs
// receipted_message_id (id and a NUL) and message_state. id is used as
// given, so tests can build receipts with odd id forms; a short_message
// that would pass 254 octets is cut there. sm may be nil.
func Receipt(id string, sm *pdu.SM, stat string, now time.Time) []byte {
	if stat == "" {
		stat = "DELIVRD"
	}
	return appendReceipt(make([]byte, 0, 160+2*len(id)), id, sm, stat, MessageState(stat), now)
}

// appendReceipt appends the receipt body described by Receipt to dst.
func appendReceipt(dst []byte, id string, sm *pdu.SM, stat string, state byte, now time.Time) []byte {
	if sm == nil {
		sm = &pdu.SM{}
	}
	back := *sm
	back.SourceAddr, back.DestAddr = clip(sm.SourceAddr, maxAddr), clip(sm.DestAddr, maxAddr)
	return pdu.AppendReceipt(dst, &back, &pdu.Receipt{ID: id, Stat: stat, State: state, Submit: now, Done: now, Text: sm.ShortMessage})
}

func clip(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
