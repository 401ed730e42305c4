package pebblestore

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/smppmux/smppmux/dlr"
)

// The store-and-forward queues are kept under their own kind of key:
//
//	q group 0 seq(8) -> flags(1) expires(8) session(8) submitted(8)
//	                    len(system_id)(1) system_id len(client id)(1)
//	                    client id raw
//
// flags has queueTaken set once the message was taken for sending. The
// queues are read into a dlr.QueueBook on first use and kept there as
// the database is written: Take and the lookups read no disk. Every
// write goes through the group commit, synced: Take and PutBack wait for
// theirs.
const kindQueue = 'q'

const queueTaken = 1

// queueState is a Store's copy of its queues.
type queueState struct {
	mu   sync.Mutex // guards loading book
	book *dlr.QueueBook
}

func queueKey(group string, seq uint64) []byte { return seqKey(kindQueue, group, seq) }

func queueValue(m *dlr.Queued, taken bool) []byte {
	v := make([]byte, 0, 27+len(m.SystemID)+len(m.ClientID)+len(m.Raw))
	flags := byte(0)
	if taken {
		flags = queueTaken
	}
	v = append(v, flags)
	exp := int64(0)
	if !m.Expires.IsZero() {
		exp = m.Expires.UnixNano()
	}
	v = u64(v, uint64(exp))
	v = u64(v, m.Session)
	v = u64(v, uint64(m.Submitted))
	v = append(v, byte(len(m.SystemID)))
	v = append(v, m.SystemID...)
	v = append(v, byte(len(m.ClientID)))
	v = append(v, m.ClientID...)
	return append(v, m.Raw...)
}

var errCorruptQueued = errors.New("corrupt queued message")

func decodeQueued(group string, seq uint64, v []byte) (*dlr.Queued, error) {
	if len(v) < 27 {
		return nil, errCorruptQueued
	}
	m := &dlr.Queued{Group: group, Seq: seq, Taken: v[0]&queueTaken != 0}
	if exp := int64(binary.BigEndian.Uint64(v[1:])); exp != 0 {
		m.Expires = time.Unix(0, exp)
	}
	m.Session = binary.BigEndian.Uint64(v[9:])
	m.Submitted = int64(binary.BigEndian.Uint64(v[17:]))
	rest := v[25:]
	str := func() (string, bool) {
		if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
			return "", false
		}
		s := string(rest[1 : 1+rest[0]])
		rest = rest[1+rest[0]:]
		return s, true
	}
	var ok1, ok2 bool
	m.SystemID, ok1 = str()
	m.ClientID, ok2 = str()
	if !ok1 || !ok2 {
		return nil, errCorruptQueued
	}
	m.Raw = bytes.Clone(rest)
	return m, nil
}

func applyQueue(b *pebble.Batch, key, val []byte) error {
	if val == nil {
		return b.Delete(key, nil)
	}
	return b.Set(key, val, nil)
}

// book returns the store's queues, reading them from the database the
// first time.
func (s *Store) book() (*dlr.QueueBook, error) {
	q := &s.queues
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.book != nil {
		return q.book, nil
	}
	d, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer d.release()
	b := dlr.NewQueueBook()
	var bad error
	err = scanSeq(d.DB, kindQueue, "queue", 27, func(group string, seq uint64, v []byte) {
		m, err := decodeQueued(group, seq, v)
		if err != nil {
			bad = fmt.Errorf("dlr: %w %s/%d", err, group, seq)
			return
		}
		b.Add(m)
		// Numbers keep increasing past what is stored.
		for cur := s.seq.Load(); cur < seq && !s.seq.CompareAndSwap(cur, seq); cur = s.seq.Load() {
		}
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return nil, err
	}
	q.book = b
	return b, nil
}

// Enqueue implements dlr.QueueStore.
func (s *Store) Enqueue(m *dlr.Queued, maxItems int, done func(error)) {
	b, err := s.book()
	if err == nil {
		err = b.Reserve(m.Group, maxItems)
	}
	if err != nil {
		done(err)
		return
	}
	m.Seq = s.NextSeq()
	s.enqueue(writeOp{kind: kindQueue, qkey: queueKey(m.Group, m.Seq), qval: queueValue(m, false),
		done: func(err error) {
			if err == nil {
				b.AddReserved(m)
			} else {
				b.Unreserve(m.Group)
			}
			done(err)
		}})
}

// Take implements dlr.QueueStore.
func (s *Store) Take(group string, n int) ([]*dlr.Queued, error) {
	return s.take(func(b *dlr.QueueBook) []*dlr.Queued { return b.Take(group, n) })
}

// TakeExpired implements dlr.QueueStore.
func (s *Store) TakeExpired(group string, now time.Time, n int) ([]*dlr.Queued, error) {
	return s.take(func(b *dlr.QueueBook) []*dlr.Queued { return b.TakeExpired(group, now, n) })
}

// take marks what f takes from the book taken in one synced batch, or
// puts it back when that fails.
func (s *Store) take(f func(*dlr.QueueBook) []*dlr.Queued) ([]*dlr.Queued, error) {
	b, err := s.book()
	if err != nil {
		return nil, err
	}
	ms := f(b)
	if len(ms) == 0 {
		return nil, nil
	}
	if err := s.writeQueued(ms, true); err != nil {
		b.PutBack(ms)
		return nil, err
	}
	return ms, nil
}

// writeQueued writes ms, taken or not, through the group commit and
// returns once they are synced: a Take shares its sync with the submits
// being queued meanwhile, where a batch of its own synced on its own
// (one sync per Take competing with theirs).
func (s *Store) writeQueued(ms []*dlr.Queued, taken bool) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	wg.Add(len(ms))
	for _, m := range ms {
		s.enqueue(writeOp{kind: kindQueue, qkey: queueKey(m.Group, m.Seq), qval: queueValue(m, taken), done: func(err error) {
			if err != nil {
				mu.Lock()
				first = cmp.Or(first, err)
				mu.Unlock()
			}
			wg.Done()
		}})
	}
	wg.Wait()
	return first
}

// PutBack implements dlr.QueueStore. The messages are back in the queue
// once written; a failed write leaves them taken, to be settled as
// orphans at the next start.
func (s *Store) PutBack(ms []*dlr.Queued) error {
	b, err := s.book()
	if err != nil {
		return err
	}
	if err := s.writeQueued(ms, false); err != nil {
		return err
	}
	b.PutBack(ms)
	return nil
}

// Settle implements dlr.QueueStore.
func (s *Store) Settle(m *dlr.Queued, done func(error)) {
	b, err := s.book()
	if err != nil {
		done(err)
		return
	}
	s.enqueue(writeOp{kind: kindQueue, qkey: queueKey(m.Group, m.Seq), done: func(err error) {
		if err == nil {
			b.Remove(m)
		}
		done(err)
	}})
}

// SettleSent implements dlr.QueueStore: the mapping and the queue's key
// go in one batch.
func (s *Store) SettleSent(m *dlr.Queued, mp dlr.Mapping, done func(error)) {
	b, err := s.book()
	if err != nil {
		done(err)
		return
	}
	s.putMapping(mp, queueKey(m.Group, m.Seq), func(err error) {
		if err == nil {
			b.Remove(m)
		}
		done(err)
	})
}

// CancelQueued implements dlr.QueueStore. It returns once the removal is
// durable: a cancelled message never comes back.
func (s *Store) CancelQueued(systemID, clientID string) (*dlr.Queued, bool, error) {
	b, err := s.book()
	if err != nil {
		return nil, false, err
	}
	c, m, ok := b.Cancel(systemID, clientID)
	if m == nil {
		return &c, ok, nil
	}
	errc := make(chan error, 1)
	s.enqueue(writeOp{kind: kindQueue, qkey: queueKey(m.Group, m.Seq), done: func(err error) { errc <- err }})
	if err := <-errc; err != nil {
		b.Add(m)
		return nil, false, err
	}
	return &c, true, nil
}

// FindQueued implements dlr.QueueStore.
func (s *Store) FindQueued(systemID, clientID string) (*dlr.Queued, bool, error) {
	b, err := s.book()
	if err != nil {
		return nil, false, err
	}
	c, _, ok := b.Find(systemID, clientID)
	return &c, ok, nil
}

// QueueLen implements dlr.QueueStore.
func (s *Store) QueueLen(group string) (int, time.Time, error) {
	b, err := s.book()
	if err != nil {
		return 0, time.Time{}, err
	}
	n, oldest := b.Len(group)
	return n, oldest, nil
}

// Orphans implements dlr.QueueStore: the messages found taken when the
// queues were read, the process that took them having ended.
func (s *Store) Orphans(group string) ([]*dlr.Queued, error) {
	b, err := s.book()
	if err != nil {
		return nil, err
	}
	return b.Orphans(group), nil
}

var _ dlr.QueueStore = (*Store)(nil)
