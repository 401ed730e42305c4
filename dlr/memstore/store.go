package memstore

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smppmux/smppmux/dlr"
)

// Store is a dlr.Store in memory: nothing survives a restart. An Outbox
// given it keeps its items in the process (AddOutbox only numbers them).
// Expired mappings are dropped a few at a time as new ones are written,
// so no sweep ever blocks the hot path. Mappings are kept by their exact
// id; an id that is not its own folded form is also listed under that
// form, for GetFolded.
//
// LOCKING: imu may be held while taking a shard's mu, never the other
// way round.
type Store struct {
	now    func() time.Time
	shards [64]memShard
	seq    atomic.Uint64
	dead   memDead

	imu    sync.Mutex
	folded map[string][]string // foldKey -> ids that fold to it and differ from it

	mmu   sync.Mutex
	marks map[markKey]time.Time // relayed receipts, until when kept

	waiting memWaiting

	queues *dlr.QueueBook // store-and-forward queues (queue.go)
}

type memShard struct {
	mu      sync.Mutex
	m       map[string]dlr.Mapping
	expires []memExpiry // in insertion order
}

type memExpiry struct {
	key string
	exp time.Time
}

// New returns an empty Store reading the time from now (time.Now when
// nil).
func New(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	s := &Store{now: now, folded: make(map[string][]string), queues: dlr.NewQueueBook()}
	for i := range s.shards {
		s.shards[i].m = make(map[string]dlr.Mapping)
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

func (s *Store) shard(k string) *memShard {
	var h uint32 = 2166136261
	for i := 0; i < len(k); i++ {
		h = (h ^ uint32(k[i])) * 16777619
	}
	return &s.shards[h%uint32(len(s.shards))]
}

// put stores m under k and drops up to four expired entries of the
// shard, returning the keys of the mappings dropped whose ids are listed
// under their folded form.
func (s *Store) put(k string, m dlr.Mapping, now time.Time) (gone []string) {
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for n := 0; n < 4 && len(sh.expires) > 0 && !sh.expires[0].exp.After(now); n++ {
		x := sh.expires[0]
		sh.expires = sh.expires[1:]
		if cur, ok := sh.m[x.key]; ok && cur.Expires.Equal(x.exp) {
			delete(sh.m, x.key)
			if x.key[0] != clientKeyKind && dlr.FoldID(cur.UpstreamID) != cur.UpstreamID {
				gone = append(gone, x.key)
			}
		}
	}
	sh.m[k] = m
	sh.expires = append(sh.expires, memExpiry{key: k, exp: m.Expires})
	return gone
}

func (s *Store) get(k string) (dlr.Mapping, bool) {
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	m, ok := sh.m[k]
	if !ok || !m.Expires.After(s.now()) {
		return dlr.Mapping{}, false
	}
	return m, true
}

// list adds id to the ids folding to fk.
func (s *Store) list(fk, id string) {
	s.imu.Lock()
	defer s.imu.Unlock()
	if !slices.Contains(s.folded[fk], id) {
		s.folded[fk] = append(s.folded[fk], id)
	}
}

// unlist removes the id of the expired mapping of key k from its folded
// form's list, unless it was written again meanwhile.
func (s *Store) unlist(k string) {
	upstream, id, _ := strings.Cut(k, "\x00")
	fk := foldKey(upstream, dlr.FoldID(id))
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

// PutMapping implements dlr.Store; done is called before it returns.
func (s *Store) PutMapping(m dlr.Mapping, done func(error)) {
	now := s.now()
	gone := s.put(memKey(m.Upstream, m.UpstreamID), m, now)
	gone = append(gone, s.put(clientKey(m.SystemID, m.ClientID), m, now)...)
	if f := dlr.FoldID(m.UpstreamID); f != m.UpstreamID {
		s.list(foldKey(m.Upstream, f), m.UpstreamID)
	}
	for _, k := range gone {
		s.unlist(k)
	}
	done(nil)
}

// Get implements dlr.Store.
func (s *Store) Get(upstream, id string) (dlr.Origin, bool, error) {
	m, ok := s.get(memKey(upstream, id))
	return m.Origin, ok, nil
}

// GetFolded implements dlr.Store.
func (s *Store) GetFolded(upstream, folded string) (dlr.Origin, int, error) {
	s.imu.Lock()
	ids := append([]string{folded}, s.folded[foldKey(upstream, folded)]...)
	s.imu.Unlock()
	var route dlr.Origin
	n := 0
	for _, id := range ids {
		if m, ok := s.get(memKey(upstream, id)); ok && dlr.FoldID(id) == folded {
			route = m.Origin
			n++
		}
	}
	if n > 1 {
		return dlr.Origin{}, 2, nil
	}
	return route, n, nil
}

// ByClient implements dlr.Store.
func (s *Store) ByClient(systemID, clientID string) (dlr.Mapping, bool, error) {
	m, ok := s.get(clientKey(systemID, clientID))
	return m, ok, nil
}

// NextSeq implements dlr.Store.
func (s *Store) NextSeq() uint64 { return s.seq.Add(1) }

// AddOutbox implements dlr.Store: it only numbers the item.
func (s *Store) AddOutbox(_ string, it *dlr.Item, done func(error)) {
	if it.Seq == 0 {
		it.Seq = s.NextSeq()
	}
	if it.Mark != nil {
		s.mark(it.Mark)
	}
	if it.Settles != nil {
		s.queues.Remove(it.Settles)
	}
	done(nil)
}

// markKey is a Mark's identity.
type markKey struct {
	upstream, id string
	state        byte
}

func keyOf(m *dlr.Mark) markKey { return markKey{m.Upstream, m.ID, m.State} }

// mark keeps m, and forgets a few marks past their time.
func (s *Store) mark(m *dlr.Mark) {
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
	s.marks[keyOf(m)] = m.Expires
}

// PutMark implements dlr.MappingStore.
func (s *Store) PutMark(m dlr.Mark) { s.mark(&m) }

// Relayed implements dlr.Store.
func (s *Store) Relayed(m dlr.Mark) (bool, error) {
	s.mmu.Lock()
	defer s.mmu.Unlock()
	exp, ok := s.marks[keyOf(&m)]
	return ok && exp.After(s.now()), nil
}

// Forget implements dlr.Store.
func (s *Store) Forget(upstream, id, systemID, clientID string) {
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
	if dlr.FoldID(id) != id {
		s.unlist(k)
	}
}

// DeleteOutbox implements dlr.Store.
func (s *Store) DeleteOutbox(string, uint64) error { return nil }

// LoadOutbox implements dlr.Store: a Store starts empty.
func (s *Store) LoadOutbox(func(string, *dlr.Item)) error { return nil }

// Health implements dlr.Store: a Store always takes writes.
func (s *Store) Health() error { return nil }

// Close implements dlr.Store.
func (s *Store) Close() error { return nil }

// memWaiting is a Store's waiting receipts.
type memWaiting struct {
	mu sync.Mutex
	m  map[uint64]*dlr.Waiting
}

// PutWaiting implements dlr.Store.
func (s *Store) PutWaiting(w *dlr.Waiting, done func(error)) {
	w.Seq = s.NextSeq()
	s.waiting.mu.Lock()
	if s.waiting.m == nil {
		s.waiting.m = make(map[uint64]*dlr.Waiting)
	}
	c := *w
	s.waiting.m[w.Seq] = &c
	s.waiting.mu.Unlock()
	done(nil)
}

// DeleteWaiting implements dlr.Store.
func (s *Store) DeleteWaiting(_ string, seq uint64) {
	s.waiting.mu.Lock()
	delete(s.waiting.m, seq)
	s.waiting.mu.Unlock()
}

// LoadWaiting implements dlr.Store.
func (s *Store) LoadWaiting(fn func(*dlr.Waiting)) error {
	s.waiting.mu.Lock()
	ws := make([]*dlr.Waiting, 0, len(s.waiting.m))
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
