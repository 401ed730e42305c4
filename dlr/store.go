package dlr

import (
	"errors"
	"time"
)

// Origin is where the receipts of one upstream message go.
type Origin struct {
	SystemID string // the client that submitted it
	ClientID string // the message_id the client was given
	Session  uint64 // the session that submitted it
	// Submitted is when the client was told the message was accepted,
	// in Unix nanoseconds; 0 when unknown.
	Submitted int64
}

// Mapping is the record of one relayed message.
type Mapping struct {
	Upstream   string // the upstream's name
	UpstreamID string // the upstream's message id, as the SMSC wrote it
	Origin
	Expires time.Time
}

// ErrStoreClosed is passed to done for writes queued after Close.
var ErrStoreClosed = errors.New("dlr: store closed")

// idKey names an upstream message.
type idKey struct{ upstream, id string }

// MappingStore keeps what brings a receipt to its client: the mapping of
// each relayed message, the marks of receipts relayed, and the receipts
// waiting for their message's mapping. Writes are asynchronous: done is
// called once, possibly from another goroutine, when the write is durable
// (synced, for a store on disk), so that callers on a connection's reader
// never wait for a disk and concurrent writes share one sync.
type MappingStore interface {
	// PutMapping records m.
	PutMapping(m Mapping, done func(error))
	// Get returns the route of an upstream message by its id, octet for
	// octet. A store written by an earlier version, which kept mappings
	// under folded ids only, also finds those by FoldID(id).
	Get(upstream, id string) (Origin, bool, error)
	// GetFolded counts the live mappings of upstream whose id folds
	// (FoldID) to folded: 0, 1, or 2 for two or more; with one it returns
	// its route. While a write of such a mapping is under way on this
	// instance it finds none: the receipt waits for the write, which
	// claims it.
	GetFolded(upstream, folded string) (Origin, int, error)
	// ByClient returns the mapping of a message by the id its client was
	// given.
	ByClient(systemID, clientID string) (Mapping, bool, error)
	// Relayed reports whether a receipt was relayed with mark m (its
	// Upstream, ID and State), the mark still kept: a carrier sent it
	// again. Marks are written with outbox items (Item.Mark), or by
	// PutMark.
	Relayed(m Mark) (bool, error)
	// PutMark records m without sync: a receipt delivered straight to its
	// client, with no outbox item to carry its mark. Lost in a crash, the
	// carrier sending the receipt again gets it relayed again: a
	// duplicate, never a loss.
	PutMark(m Mark)
	// Forget deletes, without sync, the mapping of upstream's message id
	// (octet for octet) and the client's record of clientID: the
	// message's final receipt was relayed. A mapping of another id, found
	// by folding, is left to expire.
	Forget(upstream, id, systemID, clientID string)
	// PutWaiting keeps w durably, setting w.Seq, and calls done once it
	// is.
	PutWaiting(w *Waiting, done func(error))
	// DeleteWaiting removes a waiting receipt relayed or given up. It need
	// not be synced: after a crash it waits again and is relayed once.
	DeleteWaiting(upstream string, seq uint64)
	// LoadWaiting calls fn for every waiting receipt stored.
	LoadWaiting(fn func(*Waiting)) error
	// Health reports whether the store takes writes now: nil, or an
	// error that says why and names the store. It answers at once, from
	// state the store keeps current, without I/O.
	Health() error
}

// OutboxStore keeps the clients' outboxes and what they gave up on (the
// dead letters). Its writes are asynchronous as a MappingStore's.
type OutboxStore interface {
	// NextSeq reserves an outbox sequence number: an item given one when
	// its PDU arrived keeps its place even if it is stored later.
	NextSeq() uint64
	// AddOutbox records it in systemID's outbox, setting it.Seq unless it
	// holds a number from NextSeq, and it.Mark, when set, in the same
	// durable write.
	AddOutbox(systemID string, it *Item, done func(error))
	// DeleteOutbox removes a delivered item. It need not be synced: after
	// a crash the item is delivered again, never lost.
	DeleteOutbox(systemID string, seq uint64) error
	// LoadOutbox calls fn for every stored item, per system_id in order.
	LoadOutbox(fn func(systemID string, it *Item)) error
	// DeadLetterStore keeps what outboxes gave up on.
	DeadLetterStore
	// Health is MappingStore.Health.
	Health() error
}

// Store is a backend that keeps both: one type, one database, so that a
// receipt's outbox item and its mark land in one write.
type Store interface {
	MappingStore
	OutboxStore
	// Close releases the store.
	Close() error
}

// CommitObserver is told of each durable write of a store: how long the
// commit or pipeline took (its sync included), how many writes it carried,
// and whether it failed. It runs on the store's writer goroutine and must
// be quick.
type CommitObserver func(d time.Duration, writes int, err error)

// AsyncGetter is a Store whose lookups travel over a network: GetAsync
// calls done once, possibly on another goroutine, so that a connection's
// reader does not wait for the round trip and lookups share them. Calls
// made in a row are answered in the same order.
type AsyncGetter interface {
	GetAsync(upstream, id string, done func(Origin, bool, error))
	// RelayedAsync is Relayed answered through done.
	RelayedAsync(m Mark, done func(bool, error))
	// FindAsync is Find answered through done.
	FindAsync(upstream string, ref Ref, done func(Origin, Result, error))
}

// SharedStore is an OutboxStore whose outboxes several smppmux instances share:
// an item added on one instance may be delivered by another. One instance
// at a time delivers a client's outbox, the one holding its lease, so the
// items go out in order and once; the others only add to it.
type SharedStore interface {
	OutboxStore
	// Lease takes or renews this instance's delivery lease on systemID's
	// outbox and says how: LeaseOther means another instance holds it.
	Lease(systemID string) (LeaseGrant, error)
	// Release gives the lease up if this instance holds it, after every
	// Remove and DeleteOutbox called before it has taken effect.
	Release(systemID string)
	// Remove removes delivered items from systemID's outbox and calls
	// done once, possibly on another goroutine, when it has taken effect;
	// an error means they may still be there (removing one that is gone
	// is no error). Removes and a later Release take effect in order.
	Remove(systemID string, seqs []uint64, done func(error))
	// Pending returns up to n items of systemID's outbox in order, those
	// after the one numbered after (0: from the first).
	Pending(systemID string, after uint64, n int) ([]*Item, error)
	// Watch makes fn be called with a system_id whenever an item was added
	// to its outbox or its lease was released, on any instance. Calls may
	// be lost (a reconnection), so a watcher also looks now and then.
	Watch(fn func(systemID string))
	// LeaseTTL is how long a lease lasts unless renewed.
	LeaseTTL() time.Duration
	// OutboxLen returns how many items systemID's outbox holds, in flight
	// included, and when the oldest arrived (zero when none).
	OutboxLen(systemID string) (int, time.Time, error)
}
