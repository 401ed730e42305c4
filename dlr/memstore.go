package dlr

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MemStore is a Store in memory: nothing survives a restart. It is the
// Outbox's store when it is given none (the items themselves stay in the
// Outbox), and it passes storetest as the other stores do. Expired
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
