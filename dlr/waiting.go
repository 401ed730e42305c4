package dlr

import (
	"sync"
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

// memWaiting is a MemStore's waiting receipts.
type memWaiting struct {
	mu sync.Mutex
	m  map[uint64]*Waiting
}

// PutWaiting implements Store.
func (s *MemStore) PutWaiting(w *Waiting, done func(error)) {
	w.Seq = s.NextSeq()
	s.waiting.mu.Lock()
	if s.waiting.m == nil {
		s.waiting.m = make(map[uint64]*Waiting)
	}
	c := *w
	s.waiting.m[w.Seq] = &c
	s.waiting.mu.Unlock()
	done(nil)
}

// DeleteWaiting implements Store.
func (s *MemStore) DeleteWaiting(_ string, seq uint64) {
	s.waiting.mu.Lock()
	delete(s.waiting.m, seq)
	s.waiting.mu.Unlock()
}

// LoadWaiting implements Store.
func (s *MemStore) LoadWaiting(fn func(*Waiting)) error {
	s.waiting.mu.Lock()
	ws := make([]*Waiting, 0, len(s.waiting.m))
	for _, w := range s.waiting.m {
		c := *w
		ws = append(ws, &c)
	}
	s.waiting.mu.Unlock()
	for _, w := range ws {
		fn(w)
	}
	return nil
}
