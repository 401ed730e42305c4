package memstore

import (
	"slices"
	"sync"

	"github.com/smppmux/smppmux/dlr"
)

// memDead holds a Store's dead letters.
type memDead struct {
	mu sync.Mutex
	m  map[string][]dlr.DeadLetter // per system_id, in Seq order
}

// PutDeadLetter implements dlr.DeadLetterStore: the outbox item needs no
// removal, a Store keeps none.
func (s *Store) PutDeadLetter(d *dlr.DeadLetter, _ uint64, done func(error)) {
	d.Seq = s.NextSeq()
	if d.DeadAt.IsZero() {
		d.DeadAt = s.now()
	}
	s.dead.mu.Lock()
	if s.dead.m == nil {
		s.dead.m = make(map[string][]dlr.DeadLetter)
	}
	c := *d
	c.Raw = slices.Clone(d.Raw)
	s.dead.m[d.SystemID] = append(s.dead.m[d.SystemID], c)
	s.dead.mu.Unlock()
	done(nil)
}

// DeadLetters implements dlr.DeadLetterStore.
func (s *Store) DeadLetters(systemID string, after uint64, n int) ([]dlr.DeadLetter, error) {
	s.dead.mu.Lock()
	defer s.dead.mu.Unlock()
	var out []dlr.DeadLetter
	for _, d := range s.dead.m[systemID] {
		if d.Seq > after && len(out) < n {
			out = append(out, d)
		}
	}
	return out, nil
}

// DeadLetterStats implements dlr.DeadLetterStore.
func (s *Store) DeadLetterStats(systemIDs []string) ([]dlr.DeadLetterStat, error) {
	s.dead.mu.Lock()
	defer s.dead.mu.Unlock()
	out := make([]dlr.DeadLetterStat, len(systemIDs))
	for i, id := range systemIDs {
		out[i] = dlr.DeadLetterStat{SystemID: id, Count: len(s.dead.m[id])}
		if l := s.dead.m[id]; len(l) > 0 {
			out[i].Oldest = l[0].DeadAt
		}
	}
	return out, nil
}

// PurgeDeadLetters implements dlr.DeadLetterStore.
func (s *Store) PurgeDeadLetters(systemID string, seq uint64) (int, error) {
	s.dead.mu.Lock()
	defer s.dead.mu.Unlock()
	l := s.dead.m[systemID]
	n := len(l)
	if seq == 0 {
		delete(s.dead.m, systemID)
		return n, nil
	}
	l = slices.DeleteFunc(l, func(d dlr.DeadLetter) bool { return d.Seq == seq })
	s.dead.m[systemID] = l
	return n - len(l), nil
}

// RequeueDeadLetters implements dlr.DeadLetterStore.
func (s *Store) RequeueDeadLetters(systemID string, n int) ([]*dlr.Item, error) {
	s.dead.mu.Lock()
	defer s.dead.mu.Unlock()
	l := s.dead.m[systemID]
	n = min(n, len(l))
	now := s.now()
	items := make([]*dlr.Item, n)
	for i, d := range l[:n] {
		items[i] = &dlr.Item{Raw: d.Raw, Origin: d.Origin, Seq: s.NextSeq(), At: now}
	}
	s.dead.m[systemID] = slices.Delete(l, 0, n)
	return items, nil
}
