package dlr

import (
	"time"
)

// A receipt whose message has no mapping yet (its submit_sm_resp not
// through, or its mapping write held up by the store) waits for it. Held
// unanswered, it would hold a slot of the SMSC's window, and carriers
// resend receipts they had no answer for: so, after a short hold, it is
// kept durably as a Waiting receipt and its SMSC answered ESME_ROK. It is
// relayed when the mapping lands, also after a restart, or becomes a dead
// letter (ReasonUnmatched) when it does not in time.

// Waiting is a receipt kept until its message's mapping lands.
type Waiting struct {
	Upstream string
	// Seq numbers it in its store; set by PutWaiting.
	Seq     uint64
	Arrived time.Time
	Raw     []byte // the deliver_sm or data_sm as the SMSC sent it
}

// Reasons of the dead letters of receipts that matched no message.
const (
	// ReasonUnmatched: a receipt that waited receipts.wait_for_mapping
	// for its message's mapping in vain.
	ReasonUnmatched DeadReason = "unmatched"
	// ReasonAmbiguous: no message's id is the receipt's, and several
	// match it up to case and leading zeros.
	ReasonAmbiguous DeadReason = "ambiguous"
)

// UnmatchedOf is the name under which the dead letters of upstream's
// receipts that matched no message are kept: no client's, as a client's
// system_id never starts with '@'.
func UnmatchedOf(upstream string) string { return "@" + upstream }
