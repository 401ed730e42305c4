package forward

import (
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/pdu"
)

// Codes of the err: field of the receipts smppmux makes. A REJECTD
// receipt carries the SMSC's command_status instead, in decimal (capped
// at 999: a status above is written 999).
const (
	ErrExpiredValidity = 901 // the validity_period passed in the queue
	ErrExpiredMaxAge   = 902 // the queue's max_age passed
	ErrUnknown         = 903 // sent and not answered, or taken by a process that ended
)

// Receipt returns the deliver_sm receipt smppmux gives the client of m for
// outcome o (Rejected, Unknown or Expired) at now, and false when the
// client did not ask for one (registered_delivery) or m's PDU cannot be
// read. For Rejected, status is the SMSC's answer. maxAge is the queue's,
// to tell the two expiries apart.
func Receipt(m *dlr.Queued, o Outcome, status pdu.Status, maxAge time.Duration, now time.Time) ([]byte, bool) {
	if len(m.Raw) < pdu.HeaderLen {
		return nil, false
	}
	h := pdu.ParseHeader(m.Raw)
	var sm pdu.SM
	if err := pdu.ParseMessage(h.ID, m.Raw[pdu.HeaderLen:], &sm); err != nil {
		return nil, false
	}
	// Bits 1..0: 01 a receipt on success or failure, 10 on failure only;
	// every receipt made here is a failure's.
	if sm.RegisteredDelivery&0x03 == 0 {
		return nil, false
	}
	var stat string
	var code int
	switch o {
	case Rejected:
		stat, code = "REJECTD", min(int(status), 999)
	case Expired:
		stat, code = "EXPIRED", ErrExpiredValidity
		if maxAge > 0 && !m.Expires.Before(time.Unix(0, m.Submitted).Add(maxAge)) {
			code = ErrExpiredMaxAge
		}
	default:
		stat, code = "UNKNOWN", ErrUnknown
	}
	text := sm.ShortMessage
	if sm.DataCoding != 0 || !printable(text) {
		text = nil
	}
	return pdu.Request(pdu.DeliverSM, 0, pdu.AppendReceipt(nil, &sm, &pdu.Receipt{
		ID: m.ClientID, Stat: stat, Err: code, State: pdu.MessageState(stat),
		Submit: time.Unix(0, m.Submitted).UTC(), Done: now.UTC(), Text: text,
	})), true
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
