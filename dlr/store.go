package dlr

import (
	"sync"
	"sync/atomic"
	"time"
)

// Route is where the receipts of one upstream message go.
type Route struct {
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
	UpstreamID string // the upstream's message id, canonical
	Route
	Expires time.Time
}

// Store keeps mappings and outboxes. Writes are asynchronous: done is
// called once, possibly from another goroutine, when the write is durable
// (synced, for a store on disk), so that callers on a connection's reader
// never wait for a disk and concurrent writes share one sync.
type Store interface {
	// PutMapping records m.
	PutMapping(m Mapping, done func(error))
	// Get returns the route of an upstream message by its canonical id.
	Get(upstream, id string) (Route, bool, error)
	// ByClient returns the mapping of a message by the id its client was
	// given.
	ByClient(systemID, clientID string) (Mapping, bool, error)
	// NextSeq reserves an outbox sequence number: an item given one when
	// its PDU arrived keeps its place even if it is stored later.
	NextSeq() uint64
	// AddOutbox records it in systemID's outbox, setting it.Seq unless it
	// holds a number from NextSeq.
	AddOutbox(systemID string, it *Item, done func(error))
	// DeleteOutbox removes a delivered item. It need not be synced: after
	// a crash the item is delivered again, never lost.
	DeleteOutbox(systemID string, seq uint64) error
	// LoadOutbox calls fn for every stored item, per system_id in order.
	LoadOutbox(fn func(systemID string, it *Item)) error
	// DeadLetterStore keeps what outboxes gave up on.
	DeadLetterStore
	// Health reports whether the store takes writes now: nil, or an
	// error that says why and names the store. It answers at once, from
	// state the store keeps current, without I/O.
	Health() error
	// Close releases the store.
	Close() error
}

// AsyncGetter is a Store whose lookups travel over a network: GetAsync
// calls done once, possibly on another goroutine, so that a connection's
// reader does not wait for the round trip and lookups share them. Calls
// made in a row are answered in the same order.
type AsyncGetter interface {
	GetAsync(upstream, id string, done func(Route, bool, error))
}

// SharedStore is a Store whose outboxes several smppmux instances share:
// an item added on one instance may be delivered by another. One instance
// at a time delivers a client's outbox, the one holding its lease, so the
// items go out in order and once; the others only add to it.
type SharedStore interface {
	Store
	// Lease takes or renews this instance's delivery lease on systemID's
	// outbox; false means another instance holds it.
	Lease(systemID string) (bool, error)
	// Release gives the lease up if this instance holds it, after every
	// DeleteOutbox called before it has taken effect.
	Release(systemID string)
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

// MemStore is a Store in memory: nothing survives a restart. Expired
// mappings are dropped a few at a time as new ones are written, so no
// sweep ever blocks the hot path.
type MemStore struct {
	now    func() time.Time
	shards [64]memShard
	seq    atomic.Uint64
	dead   memDead
}

type memShard struct {
	mu      sync.Mutex
	m       map[string]Mapping
	expires []memExpiry // in insertion order
}

type memExpiry struct {
	key string
	exp time.Time
}

// NewMemStore returns an empty MemStore.
func NewMemStore(now func() time.Time) *MemStore {
	if now == nil {
		now = time.Now
	}
	s := &MemStore{now: now}
	for i := range s.shards {
		s.shards[i].m = make(map[string]Mapping)
	}
	return s
}

func memKey(upstream, id string) string { return upstream + "\x00" + id }

func clientKey(systemID, clientID string) string { return "\x01" + systemID + "\x00" + clientID }

func (s *MemStore) shard(k string) *memShard {
	var h uint32 = 2166136261
	for i := 0; i < len(k); i++ {
		h = (h ^ uint32(k[i])) * 16777619
	}
	return &s.shards[h%uint32(len(s.shards))]
}

func (s *MemStore) put(k string, m Mapping, now time.Time) {
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for n := 0; n < 4 && len(sh.expires) > 0 && !sh.expires[0].exp.After(now); n++ {
		e := sh.expires[0]
		sh.expires = sh.expires[1:]
		if cur, ok := sh.m[e.key]; ok && cur.Expires.Equal(e.exp) {
			delete(sh.m, e.key)
		}
	}
	sh.m[k] = m
	sh.expires = append(sh.expires, memExpiry{key: k, exp: m.Expires})
}

func (s *MemStore) get(k string) (Mapping, bool) {
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	m, ok := sh.m[k]
	if !ok || !m.Expires.After(s.now()) {
		return Mapping{}, false
	}
	return m, true
}

// PutMapping implements Store; done is called before it returns.
func (s *MemStore) PutMapping(m Mapping, done func(error)) {
	now := s.now()
	s.put(memKey(m.Upstream, m.UpstreamID), m, now)
	s.put(clientKey(m.SystemID, m.ClientID), m, now)
	done(nil)
}

// Get implements Store.
func (s *MemStore) Get(upstream, id string) (Route, bool, error) {
	m, ok := s.get(memKey(upstream, id))
	return m.Route, ok, nil
}

// ByClient implements Store.
func (s *MemStore) ByClient(systemID, clientID string) (Mapping, bool, error) {
	m, ok := s.get(clientKey(systemID, clientID))
	return m, ok, nil
}

// NextSeq implements Store.
func (s *MemStore) NextSeq() uint64 { return s.seq.Add(1) }

// AddOutbox implements Store: it only numbers the item.
func (s *MemStore) AddOutbox(_ string, it *Item, done func(error)) {
	if it.Seq == 0 {
		it.Seq = s.NextSeq()
	}
	done(nil)
}

// DeleteOutbox implements Store.
func (s *MemStore) DeleteOutbox(string, uint64) error { return nil }

// LoadOutbox implements Store: a MemStore starts empty.
func (s *MemStore) LoadOutbox(func(string, *Item)) error { return nil }

// Health implements Store: a MemStore always takes writes.
func (s *MemStore) Health() error { return nil }

// Close implements Store.
func (s *MemStore) Close() error { return nil }
