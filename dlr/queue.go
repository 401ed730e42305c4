package dlr

import (
	"errors"
	"time"
)

// Queued is one submit_sm or data_sm accepted into a group's
// store-and-forward queue: answered ESME_ROK with the client's id once
// stored, and sent by the group's drainer as the members have room.
type Queued struct {
	// Group is the group whose queue holds it.
	Group string
	// Seq numbers the message in its store, in order of arrival; set by
	// Enqueue.
	Seq uint64
	// Origin is the client, the id it was given and when it was accepted
	// (Submitted); it becomes the message's Mapping once sent.
	Origin
	// Raw is the PDU as the client sent it; its sequence number is set
	// on sending.
	Raw []byte
	// Expires is when the message is given up unsent: its
	// validity_period or the queue's max_age, whichever comes first.
	Expires time.Time
	// Taken says the message was taken for sending and its outcome is not
	// recorded yet: it is neither taken again nor cancelled.
	Taken bool
}

// ErrQueueFull means a group's queue holds as many messages as allowed
// (the client is answered ESME_RMSGQFUL).
var ErrQueueFull = errors.New("dlr: store-and-forward queue full")

// QueueStore keeps the store-and-forward queues of the groups: one queue
// per group, first in first out per client, shared between the clients
// in turn. A message is taken before it is sent, durably, so that it is
// never sent twice, not even after the process was killed: one taken by
// a process that ended has an unknown outcome and is handed over by
// Orphans, never by Take.
//
// Enqueue, Settle and SettleSent are asynchronous, as a MappingStore's
// writes (an outbox item's Settles goes with AddOutbox's write); Take and
// PutBack return once their write is durable, which makes them for a
// drainer's goroutine, not a connection's reader.
type QueueStore interface {
	// Enqueue stores m at the tail of its client's queue in m.Group,
	// setting m.Seq, and calls done once it is durable (synced), or with
	// ErrQueueFull when the group holds maxItems messages already (taken
	// ones and those being stored included). done may run on another
	// goroutine.
	Enqueue(m *Queued, maxItems int, done func(error))
	// Take returns up to n messages of group that are not taken, each
	// client's in order of arrival, taking the clients in turn, after
	// marking them taken durably: Take never returns a message twice, on
	// any instance, unless it was put back.
	Take(group string, n int) ([]*Queued, error)
	// TakeExpired takes, as Take does, up to n messages of group whose
	// Expires is at or before now, wherever they are in their queue.
	TakeExpired(group string, now time.Time, n int) ([]*Queued, error)
	// PutBack puts taken messages that were not sent back in their place.
	PutBack(ms []*Queued) error
	// Settle removes a taken message whose outcome is known and calls done
	// once that is durable.
	Settle(m *Queued, done func(error))
	// SettleSent writes mp, the mapping of m, which an SMSC accepted, and
	// removes m from its queue in the same durable write, then calls done.
	// Written apart, a process that ended between the two would leave m
	// taken with its mapping written; its SMSC's receipt, relayed and its
	// mapping forgotten, could no longer tell the next start that m was
	// sent, and the client would get an UNKNOWN receipt besides.
	SettleSent(m *Queued, mp Mapping, done func(error))
	// CancelQueued removes systemID's message clientID unless it is taken. It
	// returns the message as it was found, its Taken set when it was not
	// removed, or false when no queue holds it.
	CancelQueued(systemID, clientID string) (*Queued, bool, error)
	// FindQueued returns systemID's queued message clientID, taken or not.
	FindQueued(systemID, clientID string) (*Queued, bool, error)
	// QueueLen returns how many messages group holds, taken ones
	// included, and when the oldest was accepted (zero when none).
	QueueLen(group string) (int, time.Time, error)
	// Orphans returns the messages of group taken by a process that has
	// ended (this one's earlier run, or an instance gone): they may have
	// reached an SMSC or not. The caller settles each with Settle.
	Orphans(group string) ([]*Queued, error)
}
