package memstore

import (
	"time"

	"github.com/smppmux/smppmux/dlr"
)

// Enqueue implements dlr.QueueStore: the message is kept at once.
func (s *Store) Enqueue(m *dlr.Queued, maxItems int, done func(error)) {
	if err := s.queues.Reserve(m.Group, maxItems); err != nil {
		done(err)
		return
	}
	m.Seq = s.seq.Add(1)
	s.queues.AddReserved(m)
	done(nil)
}

// Take implements dlr.QueueStore.
func (s *Store) Take(group string, n int) ([]*dlr.Queued, error) {
	return s.queues.Take(group, n), nil
}

// TakeExpired implements dlr.QueueStore.
func (s *Store) TakeExpired(group string, now time.Time, n int) ([]*dlr.Queued, error) {
	return s.queues.TakeExpired(group, now, n), nil
}

// PutBack implements dlr.QueueStore.
func (s *Store) PutBack(ms []*dlr.Queued) error {
	s.queues.PutBack(ms)
	return nil
}

// Settle implements dlr.QueueStore.
func (s *Store) Settle(m *dlr.Queued, done func(error)) {
	s.queues.Remove(m)
	done(nil)
}

// SettleSent implements dlr.QueueStore.
func (s *Store) SettleSent(m *dlr.Queued, mp dlr.Mapping, done func(error)) {
	s.PutMapping(mp, func(error) {})
	s.queues.Remove(m)
	done(nil)
}

// CancelQueued implements dlr.QueueStore.
func (s *Store) CancelQueued(systemID, clientID string) (*dlr.Queued, bool, error) {
	c, _, ok := s.queues.Cancel(systemID, clientID)
	return &c, ok, nil
}

// FindQueued implements dlr.QueueStore.
func (s *Store) FindQueued(systemID, clientID string) (*dlr.Queued, bool, error) {
	c, _, ok := s.queues.Find(systemID, clientID)
	return &c, ok, nil
}

// QueueLen implements dlr.QueueStore.
func (s *Store) QueueLen(group string) (int, time.Time, error) {
	n, oldest := s.queues.Len(group)
	return n, oldest, nil
}

// Orphans implements dlr.QueueStore: nothing survives the process, so
// there are none.
func (s *Store) Orphans(string) ([]*dlr.Queued, error) { return nil, nil }

var _ dlr.QueueStore = (*Store)(nil)
