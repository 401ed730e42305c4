package dlr

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Origin is the client a relayed message came from, which its mapping
// records: where the receipts of the upstream message go.
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

// Store keeps mappings and outboxes. Writes are asynchronous: done is
// called once, possibly from another goroutine, when the write is durable
// (synced, for a store on disk), so that callers on a connection's reader
// never wait for a disk and concurrent writes share one sync.
type Store interface {
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
	// Relayed reports whether a receipt was relayed with mark m (its
	// Upstream, ID and State), the mark still kept: a carrier sent it
	// again.
	Relayed(m Mark) (bool, error)
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

// SharedStore is a Store whose outboxes several smppmux instances share:
// an item added on one instance may be delivered by another. One instance
// at a time delivers a client's outbox, the one holding its lease, so the
// items go out in order and once; the others only add to it.
type SharedStore interface {
	Store
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

// MemStore is a Store in memory: nothing survives a restart. Expired
// mappings are dropped a few at a time as new ones are written, so no
// sweep ever blocks the hot path. Mappings are kept by their exact id;
// an id that is not its own folded form is also listed under that form,
// for GetFolded.
//
// LOCKING: imu may be held while taking a shard's mu, never the other
// way round.
type MemStore struct {
	now    func() time.Time
	shards [64]memShard
	seq    atomic.Uint64
	dead   memDead

	imu    sync.Mutex
	folded map[string][]string // foldKey -> ids that fold to it and differ from it

	mmu   sync.Mutex
	marks map[markKey]time.Time // relayed receipts, until when kept

	waiting memWaiting
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
	s := &MemStore{now: now, folded: make(map[string][]string)}
	for i := range s.shards {
		s.shards[i].m = make(map[string]Mapping)
	}
	return s
}

func memKey(upstream, id string) string { return upstream + "\x00" + id }

// clientKeyKind starts the keys of clientKey; upstream names do not.
const clientKeyKind = '\x01'

func clientKey(systemID, clientID string) string {
	return string(clientKeyKind) + systemID + "\x00" + clientID
}

func foldKey(upstream, folded string) string { return "\x02" + upstream + "\x00" + folded }

func (s *MemStore) shard(k string) *memShard {
	var h uint32 = 2166136261
	for i := 0; i < len(k); i++ {
		h = (h ^ uint32(k[i])) * 16777619
	}
	return &s.shards[h%uint32(len(s.shards))]
}

// put stores m under k and drops up to four expired entries of the
// shard, returning the keys of the mappings dropped whose ids are listed
// under their folded form.
func (s *MemStore) put(k string, m Mapping, now time.Time) (gone []string) {
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for n := 0; n < 4 && len(sh.expires) > 0 && !sh.expires[0].exp.After(now); n++ {
		x := sh.expires[0]
		sh.expires = sh.expires[1:]
		if cur, ok := sh.m[x.key]; ok && cur.Expires.Equal(x.exp) {
			delete(sh.m, x.key)
			if x.key[0] != clientKeyKind && FoldID(cur.UpstreamID) != cur.UpstreamID {
				gone = append(gone, x.key)
			}
		}
	}
	sh.m[k] = m
	sh.expires = append(sh.expires, memExpiry{key: k, exp: m.Expires})
	return gone
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

// list adds id to the ids folding to fk.
func (s *MemStore) list(fk, id string) {
	s.imu.Lock()
	defer s.imu.Unlock()
	if !slices.Contains(s.folded[fk], id) {
		s.folded[fk] = append(s.folded[fk], id)
	}
}

// unlist removes the id of the expired mapping of key k from its folded
// form's list, unless it was written again meanwhile.
func (s *MemStore) unlist(k string) {
	upstream, id, _ := strings.Cut(k, "\x00")
	fk := foldKey(upstream, FoldID(id))
	s.imu.Lock()
	defer s.imu.Unlock()
	if _, ok := s.get(k); ok {
		return
	}
	ids := slices.DeleteFunc(s.folded[fk], func(listed string) bool { return listed == id })
	if len(ids) == 0 {
		delete(s.folded, fk)
	} else {
		s.folded[fk] = ids
	}
}

// PutMapping implements Store; done is called before it returns.
func (s *MemStore) PutMapping(m Mapping, done func(error)) {
	now := s.now()
	gone := s.put(memKey(m.Upstream, m.UpstreamID), m, now)
	gone = append(gone, s.put(clientKey(m.SystemID, m.ClientID), m, now)...)
	if f := FoldID(m.UpstreamID); f != m.UpstreamID {
		s.list(foldKey(m.Upstream, f), m.UpstreamID)
	}
	for _, k := range gone {
		s.unlist(k)
	}
	done(nil)
}

// Get implements Store.
func (s *MemStore) Get(upstream, id string) (Origin, bool, error) {
	m, ok := s.get(memKey(upstream, id))
	return m.Origin, ok, nil
}

// GetFolded implements Store.
func (s *MemStore) GetFolded(upstream, folded string) (Origin, int, error) {
	s.imu.Lock()
	ids := append([]string{folded}, s.folded[foldKey(upstream, folded)]...)
	s.imu.Unlock()
	var route Origin
	n := 0
	for _, id := range ids {
		if m, ok := s.get(memKey(upstream, id)); ok && FoldID(id) == folded {
			route = m.Origin
			n++
		}
	}
	if n > 1 {
		return Origin{}, 2, nil
	}
	return route, n, nil
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
	if it.Mark != nil {
		s.mark(it.Mark)
	}
	done(nil)
}

// mark keeps m, and forgets a few marks past their time.
func (s *MemStore) mark(m *Mark) {
	now := s.now()
	s.mmu.Lock()
	defer s.mmu.Unlock()
	if s.marks == nil {
		s.marks = make(map[markKey]time.Time)
	}
	n := 0
	for k, exp := range s.marks {
		if n++; n > 4 {
			break
		}
		if !exp.After(now) {
			delete(s.marks, k)
		}
	}
	s.marks[m.key()] = m.Expires
}

// Relayed implements Store.
func (s *MemStore) Relayed(m Mark) (bool, error) {
	s.mmu.Lock()
	defer s.mmu.Unlock()
	exp, ok := s.marks[m.key()]
	return ok && exp.After(s.now()), nil
}

// Forget implements Store.
func (s *MemStore) Forget(upstream, id, systemID, clientID string) {
	k := memKey(upstream, id)
	sh := s.shard(k)
	sh.mu.Lock()
	delete(sh.m, k)
	sh.mu.Unlock()
	ck := clientKey(systemID, clientID)
	sh = s.shard(ck)
	sh.mu.Lock()
	delete(sh.m, ck)
	sh.mu.Unlock()
	if FoldID(id) != id {
		s.unlist(k)
	}
}

// DeleteOutbox implements Store.
func (s *MemStore) DeleteOutbox(string, uint64) error { return nil }

// LoadOutbox implements Store: a MemStore starts empty.
func (s *MemStore) LoadOutbox(func(string, *Item)) error { return nil }

// Health implements Store: a MemStore always takes writes.
func (s *MemStore) Health() error { return nil }

// Close implements Store.
func (s *MemStore) Close() error { return nil }
