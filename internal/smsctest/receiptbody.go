package smsctest

import (
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
)

// Receipt constants.
const (
	// EsmReceipt is the esm_class of a delivery receipt.
	EsmReceipt = 0x04
	// receiptTextMax is how many octets of the original short_message a
	// receipt quotes after "text:".
	receiptTextMax = 20
	// maxShortMessage is the largest short_message of a deliver_sm.
	maxShortMessage = 254
	// maxAddr is the longest source_addr or destination_addr of a
	// deliver_sm, without its NUL.
	maxAddr = 20
)

// MessageState returns the message_state TLV value of a receipt stat:
// ENROUTE 1, DELIVRD 2, EXPIRED 3, DELETED 4, UNDELIV 5, ACCEPTD 6,
// REJECTD 8, and UNKNOWN 7 for anything else.
func MessageState(stat string) byte {
	switch stat {
	case "ENROUTE":
		return 1
	case "DELIVRD":
		return 2
	case "EXPIRED":
		return 3
	case "DELETED":
		return 4
	case "UNDELIV":
		return 5
	case "ACCEPTD":
		return 6
	case "REJECTD":
		return 8
	}
	return 7
}

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
	var text [maxShortMessage + 1]byte
	t := text[:0]
	t = append(t, "id:"...)
	t = append(t, id...)
	if stat == "DELIVRD" {
		t = append(t, " sub:001 dlvrd:001 submit date:"...)
	} else {
		t = append(t, " sub:001 dlvrd:000 submit date:"...)
	}
	t = appendDate(t, now)
	t = append(t, " done date:"...)
	t = appendDate(t, now)
	t = append(t, " stat:"...)
	t = append(t, stat...)
	t = append(t, " err:000 text:"...)
	quote := sm.ShortMessage
	if len(quote) > receiptTextMax {
		quote = quote[:receiptTextMax]
	}
	for _, c := range quote {
		if c >= 0x20 && c < 0x7F {
			t = append(t, c)
		}
	}
	if len(t) > maxShortMessage {
		t = t[:maxShortMessage]
	}

	var tlv [8 + 66]byte
	tlvs := tlv[:0]
	rid := make([]byte, 0, len(id)+1)
	rid = append(rid, id...)
	rid = append(rid, 0)
	tlvs = pdu.AppendTLV(tlvs, pdu.TagReceiptedMessageID, rid)
	tlvs = pdu.AppendTLV(tlvs, pdu.TagMessageState, []byte{state})

	r := pdu.SM{
		SourceTON:    sm.DestTON,
		SourceNPI:    sm.DestNPI,
		SourceAddr:   clip(sm.DestAddr, maxAddr),
		DestTON:      sm.SourceTON,
		DestNPI:      sm.SourceNPI,
		DestAddr:     clip(sm.SourceAddr, maxAddr),
		ESMClass:     EsmReceipt,
		ShortMessage: t,
		TLVs:         tlvs,
	}
	return pdu.AppendSM(dst, &r)
}

// appendDate appends t as YYMMDDhhmm.
func appendDate(dst []byte, t time.Time) []byte {
	y, mo, d := t.Date()
	h, mi, _ := t.Clock()
	for _, v := range [...]int{y % 100, int(mo), d, h, mi} {
		dst = append(dst, byte('0'+v/10), byte('0'+v%10))
	}
	return dst
}

func clip(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
