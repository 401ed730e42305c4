package pdu

import "time"

// Limits of a delivery receipt's body.
const (
	// ReceiptTextMax is how many octets of the message a receipt quotes
	// after "text:".
	ReceiptTextMax = 20
)

// Receipt is what a delivery receipt says of one message: the
// short_message of SMPP 3.4's appendix B and the receipted_message_id and
// message_state TLVs.
type Receipt struct {
	ID    string // the message id receipted, used as given
	Stat  string // DELIVRD, EXPIRED, REJECTD, UNKNOWN...
	Err   int    // written as three digits after "err:", 0 to 999
	State byte   // the message_state TLV
	// Submit and Done are written as YYMMDDhhmm, in their own zones.
	Submit, Done time.Time
	// Text is quoted after "text:": the printable ASCII octets of its
	// first ReceiptTextMax.
	Text []byte
}

// AppendReceipt appends to dst the body of a deliver_sm carrying r for
// the message sm: from sm's destination to sm's source (their TON, NPI
// and addresses as they are), esm_class 0x04, data_coding 0, the
// short_message
//
//	id:<id> sub:001 dlvrd:001 submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DELIVRD err:000 text:<text>
//
// (dlvrd:000 for any stat but DELIVRD), cut at 254 octets, and the TLVs
// receipted_message_id (the id and a NUL) and message_state. sm may be
// nil. It allocates nothing but what dst grows by.
func AppendReceipt(dst []byte, sm *SM, r *Receipt) []byte {
	if sm == nil {
		sm = &SM{}
	}
	var text [maxShortMessage + 1]byte
	t := text[:0]
	t = append(t, "id:"...)
	t = append(t, r.ID...)
	if r.Stat == "DELIVRD" {
		t = append(t, " sub:001 dlvrd:001 submit date:"...)
	} else {
		t = append(t, " sub:001 dlvrd:000 submit date:"...)
	}
	t = appendDate(t, r.Submit)
	t = append(t, " done date:"...)
	t = appendDate(t, r.Done)
	t = append(t, " stat:"...)
	t = append(t, r.Stat...)
	e := min(max(r.Err, 0), 999)
	t = append(t, " err:"...)
	t = append(t, byte('0'+e/100), byte('0'+e/10%10), byte('0'+e%10))
	t = append(t, " text:"...)
	quote := r.Text
	if len(quote) > ReceiptTextMax {
		quote = quote[:ReceiptTextMax]
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
	tlvs = AppendTLV(tlvs, TagReceiptedMessageID, append(append(make([]byte, 0, len(r.ID)+1), r.ID...), 0))
	tlvs = AppendTLV(tlvs, TagMessageState, []byte{r.State})

	d := SM{
		SourceTON:    sm.DestTON,
		SourceNPI:    sm.DestNPI,
		SourceAddr:   sm.DestAddr,
		DestTON:      sm.SourceTON,
		DestNPI:      sm.SourceNPI,
		DestAddr:     sm.SourceAddr,
		ESMClass:     EsmReceipt,
		ShortMessage: t,
		TLVs:         tlvs,
	}
	return AppendSM(dst, &d)
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

// MessageState returns the message_state TLV value of a receipt's stat:
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
