package dlr

import (
	"sync"
	"time"
)

// Route is where the receipts of one upstream message go.
type Route struct {
	SystemID string // the client that submitted it
	ClientID string // the message_id the client was given
	Session  uint64 // the session that submitted it
}

// Store maps (upstream name, canonical upstream message id) to a Route.
type Store interface {
	Put(upstream, id string, r Route) error
	Get(upstream, id string) (Route, bool, error)
}

// MemStore is a Store in memory with a time to live per mapping. Expired
// mappings are dropped a shard at a time as new ones are written, so no
// sweep ever blocks the hot path for long.
type MemStore struct {
	ttl    time.Duration
	now    func() time.Time
	shards [64]memShard
}

type memShard struct {
	mu      sync.Mutex
	m       map[string]memEntry
	expires []memExpiry // in insertion order, so in expiry order
}

type memEntry struct {
	r   Route
	exp int64
}

type memExpiry struct {
	key string
	exp int64
}

// NewMemStore returns a MemStore keeping mappings for ttl.
func NewMemStore(ttl time.Duration, now func() time.Time) *MemStore {
	if now == nil {
		now = time.Now
	}
	s := &MemStore{ttl: ttl, now: now}
	for i := range s.shards {
		s.shards[i].m = make(map[string]memEntry)
	}
	return s
}

func memKey(upstream, id string) string { return upstream + "\x00" + id }

func (s *MemStore) shard(k string) *memShard {
	var h uint32 = 2166136261
	for i := 0; i < len(k); i++ {
		h = (h ^ uint32(k[i])) * 16777619
	}
	return &s.shards[h%uint32(len(s.shards))]
}

// Put records r under (upstream, id).
func (s *MemStore) Put(upstream, id string, r Route) error {
	k := memKey(upstream, id)
	now := s.now().UnixNano()
	exp := now + int64(s.ttl)
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	// Drop a few expired mappings on every write.
	for n := 0; n < 4 && len(sh.expires) > 0 && sh.expires[0].exp <= now; n++ {
		e := sh.expires[0]
		sh.expires = sh.expires[1:]
		if cur, ok := sh.m[e.key]; ok && cur.exp == e.exp {
			delete(sh.m, e.key)
		}
	}
	sh.m[k] = memEntry{r: r, exp: exp}
	sh.expires = append(sh.expires, memExpiry{key: k, exp: exp})
	return nil
}

// Get returns the Route under (upstream, id).
func (s *MemStore) Get(upstream, id string) (Route, bool, error) {
	k := memKey(upstream, id)
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.m[k]
	if !ok || e.exp <= s.now().UnixNano() {
		return Route{}, false, nil
	}
	return e.r, true, nil
}

// Len returns how many mappings are held, expired ones not yet dropped
// included.
func (s *MemStore) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
