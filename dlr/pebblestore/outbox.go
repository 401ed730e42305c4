package pebblestore

import (
	"bytes"
	"encoding/binary"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/smppmux/smppmux/dlr"
)

// NextSeq implements dlr.Store.
func (s *Store) NextSeq() uint64 { return s.seq.Add(1) }

// AddOutbox implements dlr.Store.
func (s *Store) AddOutbox(systemID string, it *dlr.Item, done func(error)) {
	if it.Seq == 0 {
		it.Seq = s.NextSeq()
	}
	op := writeOp{kind: kindOutbox, done: done, systemID: systemID,
		seq: it.Seq, origin: it.Origin, at: it.At.UnixNano(), raw: it.Raw, mark: it.Mark}
	if m := it.Settles; m != nil {
		b, err := s.book()
		if err != nil {
			done(err)
			return
		}
		op.qkey = queueKey(m.Group, m.Seq)
		op.done = func(err error) {
			if err == nil {
				b.Remove(m)
			}
			done(err)
		}
	}
	s.enqueue(op)
}

// DeleteOutbox implements dlr.Store. Every outbox key is set once before it
// is deleted (numbers are never given again while their item is stored),
// so a single delete suffices, and an item delivered while its set is
// still in the memtable leaves nothing on disk. While the database is not
// open, or has fixes to apply first, the delete waits for the next open.
func (s *Store) DeleteOutbox(systemID string, seq uint64) error {
	s.deleteSetOnce(outboxKey(systemID, seq))
	return nil
}

// deleteSetOnce deletes a key that was set once, without a sync. While
// the database is not open, or has fixes to apply first, the delete waits
// for the next open.
func (s *Store) deleteSetOnce(key []byte) {
	if d, err := s.acquire(); err == nil {
		defer d.release()
		if d.fixed.Load() && s.write(d, func() error { return d.SingleDelete(key, pebble.NoSync) }) == nil {
			return
		}
	}
	s.deferDelete(key)
}

// LoadOutbox implements dlr.Store.
func (s *Store) LoadOutbox(fn func(string, *dlr.Item)) error {
	d, err := s.acquire()
	if err != nil {
		return err
	}
	defer d.release()
	return loadOutbox(d.DB, fn)
}

// loadOutbox calls fn for every outbox item of db.
func loadOutbox(db *pebble.DB, fn func(string, *dlr.Item)) error {
	return scanSeq(db, kindOutbox, "outbox", 16, func(systemID string, seq uint64, v []byte) {
		fn(systemID, &dlr.Item{
			Seq:    seq,
			Origin: binary.BigEndian.Uint64(v),
			At:     time.Unix(0, int64(binary.BigEndian.Uint64(v[8:16]))),
			Raw:    bytes.Clone(v[16:]),
		})
	})
}

// loadSeq continues outbox numbering after the highest item, dead letter
// or waiting receipt stored in db, when it is above the numbers given so
// far, and counts the dead letters of each client again.
func (s *Store) loadSeq(db *pebble.DB) error {
	var top uint64
	err := loadOutbox(db, func(_ string, it *dlr.Item) { top = max(top, it.Seq) })
	if err != nil {
		return err
	}
	if err := loadWaiting(db, func(w *dlr.Waiting) { top = max(top, w.Seq) }); err != nil {
		return err
	}
	s.deadMu.Lock()
	defer s.deadMu.Unlock()
	count := make(map[string]int)
	err = scanDead(db, func(systemID string, seq uint64) {
		top = max(top, seq)
		count[systemID]++
	})
	if err != nil {
		return err
	}
	s.countMu.Lock()
	s.dead = count
	s.countMu.Unlock()
	for cur := s.seq.Load(); cur < top; cur = s.seq.Load() {
		if s.seq.CompareAndSwap(cur, top) {
			break
		}
	}
	return nil
}
