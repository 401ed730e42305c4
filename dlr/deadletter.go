package dlr

import (
	"errors"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
)

// Errors of dead letter writes.
var (
	// ErrNotInOutbox means the outbox item a dead letter was to replace
	// is no longer there (delivered or moved meanwhile): nothing was
	// written, so the item is neither lost nor kept twice.
	ErrNotInOutbox = errors.New("dlr: item no longer in the outbox")
	// ErrNotLeased means this instance no longer holds the client's
	// outbox lease: the item stays in the outbox for the holder.
	ErrNotLeased = errors.New("dlr: outbox lease not held")
)

// DeadReason says why a PDU became a dead letter. The set is fixed, so it
// may label metrics.
type DeadReason string

// Reasons of dead letters.
const (
	// ReasonRefused: the client refused the item receipts.max_attempts
	// times.
	ReasonRefused DeadReason = "refused"
	// ReasonNever: the client answered with a status of
	// receipts.dead_letter_statuses, one that says it will never take it.
	ReasonNever DeadReason = "never"
)

// DeadLetter is a receipt or MO message smppmux gave up delivering, kept
// durably until an operator retries or purges it. It is a record of its
// own: it may come from an outbox or, holding a PDU that never reached
// one, from elsewhere.
type DeadLetter struct {
	SystemID string // the client it was for
	// Seq numbers it among its client's dead letters, in the order they
	// were made; set by the store.
	Seq    uint64
	Raw    []byte // the PDU, as it would have been delivered
	Origin uint64 // the session it was to go to first
	// Arrived is when the PDU arrived; DeadAt when it became a dead
	// letter, set by the store when zero.
	Arrived, DeadAt time.Time
	// Attempts counts the deliveries tried, Refusals those the client
	// answered with an error status, LastStatus the last such status
	// (ESME_ROK when none).
	Attempts, Refusals int
	LastStatus         pdu.Status
	Reason             DeadReason
}

// DeadLetterStat is one client's dead letters at a moment.
type DeadLetterStat struct {
	SystemID string
	Count    int
	// Oldest is when the oldest of them became a dead letter; zero when
	// there is none.
	Oldest time.Time
}

// DeadLetterStore keeps dead letters, per client system_id in the order
// they were made.
type DeadLetterStore interface {
	// PutDeadLetter records d, setting d.Seq (and d.DeadAt when zero),
	// and calls done once it is durable. With outboxSeq not 0 the item of
	// that number leaves d.SystemID's outbox in the same atomic write;
	// if it is no longer there nothing is written and done gets
	// ErrNotInOutbox.
	PutDeadLetter(d *DeadLetter, outboxSeq uint64, done func(error))
	// DeadLetters returns up to n of systemID's dead letters in order,
	// those after the one numbered after (0: from the first).
	DeadLetters(systemID string, after uint64, n int) ([]DeadLetter, error)
	// DeadLetterStats counts the dead letters of each of systemIDs.
	DeadLetterStats(systemIDs []string) ([]DeadLetterStat, error)
	// PurgeDeadLetters deletes systemID's dead letter seq, or all of them
	// when seq is 0, and returns how many it deleted.
	PurgeDeadLetters(systemID string, seq uint64) (int, error)
	// RequeueDeadLetters moves up to n of systemID's oldest dead letters
	// back to the end of its outbox, as items arrived now, in one atomic
	// durable write, and returns them as outbox items.
	RequeueDeadLetters(systemID string, n int) ([]*Item, error)
}

// DeadLetterSummary is what a dead letter says about itself without its
// text: the receipt's message id (the client's), its addresses, or an MO
// message's. Fields that do not decode are empty.
type DeadLetterSummary struct {
	Command     string // deliver_sm or data_sm
	Receipt     bool
	MessageID   string // a receipt's
	State       string // a receipt's: DELIVRD, UNDELIV, ENROUTE...
	Source      string
	Destination string
}

// Summary decodes what d.Raw says about itself, never its text.
func (d *DeadLetter) Summary() DeadLetterSummary { return Summarize(d.Raw) }
