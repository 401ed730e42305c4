package dlr

import (
	"bytes"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
)

// A carrier whose deliver_sm_resp was lost or late sends the receipt
// again. smppmux recognises the repeat by a mark it writes with the
// receipt's outbox item, in the same durable write: the upstream, the
// message id as the receipt wrote it, and the message state it reports.
// A receipt whose mark is found within the window is answered ESME_ROK and
// not relayed again, across restarts and, with a shared store, across
// instances. A final receipt also ends its message's mapping: the store
// keeps the messages still owed a receipt, not every message of the last
// days.

// Mark names one relayed receipt.
type Mark struct {
	Upstream string
	// ID is the message id as the receipt wrote it.
	ID string
	// State is the message_state the receipt reports (1 to 9), see
	// ReceiptState; a receipt that reports none gets no mark.
	State byte
	// Expires is when the mark may be forgotten.
	Expires time.Time
}

// DefaultResendWindow is how long a relayed receipt's mark is kept.
const DefaultResendWindow = time.Hour

// Message states, as in the message_state TLV (SMPP 3.4, 5.2.28).
const (
	StateEnroute       byte = 1
	StateDelivered     byte = 2
	StateExpired       byte = 3
	StateDeleted       byte = 4
	StateUndeliverable byte = 5
	StateAccepted      byte = 6
	StateUnknown       byte = 7
	StateRejected      byte = 8
)

// ReceiptState returns the message_state a deliver_sm or data_sm receipt
// reports: the message_state TLV first, the text's "stat:" second; 0 when
// it reports none that is known.
func ReceiptState(sm *pdu.SM) byte {
	if st, ok := tlvState(sm.TLVs); ok {
		return st
	}
	text := sm.Text()
	i := bytes.Index(text, []byte("stat:"))
	if i < 0 {
		return 0
	}
	stat := text[i+5:]
	if j := bytes.IndexByte(stat, ' '); j >= 0 {
		stat = stat[:j]
	}
	switch string(bytes.ToUpper(stat)) {
	case "ENROUTE":
		return StateEnroute
	case "DELIVRD":
		return StateDelivered
	case "EXPIRED":
		return StateExpired
	case "DELETED":
		return StateDeleted
	case "UNDELIV":
		return StateUndeliverable
	case "ACCEPTD":
		return StateAccepted
	case "UNKNOWN":
		return StateUnknown
	case "REJECTD":
		return StateRejected
	}
	return 0
}

func tlvState(tlvs []byte) (byte, bool) {
	if v, ok := pdu.FindTLV(tlvs, pdu.TagMessageState); ok && len(v) == 1 && v[0] >= StateEnroute && v[0] <= 9 {
		return v[0], true
	}
	return 0, false
}

// FinalState reports whether a message in state st will get no further
// receipt.
func FinalState(st byte) bool {
	switch st {
	case StateDelivered, StateExpired, StateDeleted, StateUndeliverable, StateUnknown, StateRejected:
		return true
	}
	return false
}
