package pebblestore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/pdu"
)

// deadBounds returns the bounds of systemID's dead letter keys.
func deadBounds(systemID string) (lower, upper []byte) {
	lower = append(append([]byte{kindDead}, systemID...), 0)
	upper = append(append([]byte{kindDead}, systemID...), 1)
	return lower, upper
}

// appendDeadValue encodes d as the value of its key.
func appendDeadValue(v []byte, d *dlr.DeadLetter) []byte {
	v = u64(v, d.Origin)
	v = u64(v, uint64(d.Arrived.UnixNano()))
	v = u64(v, uint64(d.DeadAt.UnixNano()))
	v = binary.BigEndian.AppendUint32(v, uint32(d.Attempts))
	v = binary.BigEndian.AppendUint32(v, uint32(d.Refusals))
	v = binary.BigEndian.AppendUint32(v, uint32(d.LastStatus))
	v = append(v, byte(len(d.Reason)))
	v = append(v, d.Reason...)
	return append(v, d.Raw...)
}

// decodeDead reads a dead letter from its key and value.
func decodeDead(k, v []byte) (dlr.DeadLetter, error) {
	i := bytes.IndexByte(k[1:], 0)
	if i < 0 || len(k) != 1+i+1+8 || len(v) < 37 || len(v) < 37+int(v[36]) {
		return dlr.DeadLetter{}, fmt.Errorf("dlr: corrupt dead letter %q", k)
	}
	n := int(v[36])
	return dlr.DeadLetter{
		SystemID:   string(k[1 : 1+i]),
		Seq:        binary.BigEndian.Uint64(k[len(k)-8:]),
		Origin:     binary.BigEndian.Uint64(v),
		Arrived:    time.Unix(0, int64(binary.BigEndian.Uint64(v[8:]))),
		DeadAt:     time.Unix(0, int64(binary.BigEndian.Uint64(v[16:]))),
		Attempts:   int(binary.BigEndian.Uint32(v[24:])),
		Refusals:   int(binary.BigEndian.Uint32(v[28:])),
		LastStatus: pdu.Status(binary.BigEndian.Uint32(v[32:])),
		Reason:     dlr.DeadReason(v[37 : 37+n]),
		Raw:        bytes.Clone(v[37+n:]),
	}, nil
}

// applyDead adds a dead letter to b and, in the same batch, deletes the
// outbox item it replaces.
func (op *writeOp) applyDead(b *pebble.Batch, scratch []byte) ([]byte, error) {
	d := op.dead
	if op.outboxSeq != 0 {
		if err := b.SingleDelete(outboxKey(d.SystemID, op.outboxSeq), nil); err != nil {
			return scratch, err
		}
	}
	kv := appendSeqKey(scratch[:0], kindDead, d.SystemID, d.Seq)
	n := len(kv)
	kv = appendDeadValue(kv, d)
	return kv, b.Set(kv[:n], kv[n:], nil)
}

// checkDead refuses a dead letter whose outbox item is gone: written, it
// would keep the item twice. Other writes pass.
func (s *Store) checkDead(op *writeOp) error {
	if op.kind != kindDead || op.outboxSeq == 0 {
		return nil
	}
	_, ok, err := s.get(outboxKey(op.dead.SystemID, op.outboxSeq))
	switch {
	case err != nil:
		return err
	case !ok:
		return dlr.ErrNotInOutbox
	}
	return nil
}

// countDead adds n (1 or -1) to the counts of the dead letters of a
// batch: 1 before its commit, -1 when the commit failed.
func (s *Store) countDead(ops []writeOp, errs []error, n int) {
	for i := range ops {
		if ops[i].kind == kindDead && errs[i] == nil {
			s.addDead(ops[i].dead.SystemID, n)
		}
	}
}

// testHookCommitted, when set, runs after each batch's commit, before its
// writers are told.
var testHookCommitted func()

// testHookBegin, when set, runs as each batch of s is built, where a
// panic of Pebble's is recovered.
var testHookBegin func(s *Store)

// addDead changes the count of systemID's dead letters by n. A purge may
// count a dead letter out before its commit has counted it in: the count
// is briefly negative, never wrong for long.
func (s *Store) addDead(systemID string, n int) {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	if c := s.dead[systemID] + n; c != 0 {
		s.dead[systemID] = c
	} else {
		delete(s.dead, systemID)
	}
}

// scanDead calls fn with the client and number of every dead letter in db.
func scanDead(db *pebble.DB, fn func(systemID string, seq uint64)) error {
	return scanSeq(db, kindDead, "dead letter", 0, func(systemID string, seq uint64, _ []byte) { fn(systemID, seq) })
}

// open runs fn on the open database, which is not closed while fn runs.
// It fails when there is none, and when the database's fence trips while
// fn runs: what fn wrote may not be on the disk.
func (s *Store) open(fn func(db *pebble.DB) error) error {
	d, err := s.acquire()
	if err != nil {
		return err
	}
	defer d.release()
	return s.write(d, func() error { return fn(d.DB) })
}

// PutDeadLetter implements dlr.DeadLetterStore: the dead letter and the
// outbox item's delete are one synced batch, committed with the other
// writes.
func (s *Store) PutDeadLetter(d *dlr.DeadLetter, outboxSeq uint64, done func(error)) {
	d.Seq = s.NextSeq()
	if d.DeadAt.IsZero() {
		d.DeadAt = s.cfg.Now()
	}
	c := *d
	s.enqueue(writeOp{kind: kindDead, done: done, dead: &c, outboxSeq: outboxSeq})
}

// DeadLetters implements dlr.DeadLetterStore.
func (s *Store) DeadLetters(systemID string, after uint64, n int) ([]dlr.DeadLetter, error) {
	var out []dlr.DeadLetter
	err := s.open(func(db *pebble.DB) error {
		_, upper := deadBounds(systemID)
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: deadKey(systemID, after+1), UpperBound: upper})
		if err != nil {
			return err
		}
		defer it.Close()
		for it.First(); it.Valid() && len(out) < n; it.Next() {
			d, err := decodeDead(it.Key(), it.Value())
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return it.Error()
	})
	return out, err
}

// DeadLetterStats implements dlr.DeadLetterStore: the counts are kept in
// memory, the oldest is read from each client's first key.
func (s *Store) DeadLetterStats(systemIDs []string) ([]dlr.DeadLetterStat, error) {
	out := make([]dlr.DeadLetterStat, len(systemIDs))
	err := s.open(func(db *pebble.DB) error {
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{kindDead}, UpperBound: []byte{kindDead + 1}})
		if err != nil {
			return err
		}
		defer it.Close()
		for i, id := range systemIDs {
			out[i].SystemID = id
			s.countMu.Lock()
			out[i].Count = max(s.dead[id], 0)
			s.countMu.Unlock()
			lower, upper := deadBounds(id)
			if it.SeekGE(lower) && bytes.Compare(it.Key(), upper) < 0 {
				d, err := decodeDead(it.Key(), it.Value())
				if err != nil {
					return err
				}
				out[i].Oldest = d.DeadAt
			}
		}
		return it.Error()
	})
	return out, err
}

// PurgeDeadLetters implements dlr.DeadLetterStore.
func (s *Store) PurgeDeadLetters(systemID string, seq uint64) (int, error) {
	s.deadMu.Lock()
	defer s.deadMu.Unlock()
	lower, upper := deadBounds(systemID)
	if seq != 0 {
		lower, upper = deadKey(systemID, seq), deadKey(systemID, seq+1)
	}
	n, err := s.changeDead(lower, upper, math.MaxInt, func(b *pebble.Batch, k, _ []byte) error {
		return b.Delete(k, nil)
	})
	if err != nil {
		return 0, err
	}
	s.addDead(systemID, -n)
	return n, nil
}

// RequeueDeadLetters implements dlr.DeadLetterStore: the dead letters' deletes
// and the new outbox items are one synced batch.
func (s *Store) RequeueDeadLetters(systemID string, n int) ([]*dlr.Item, error) {
	s.deadMu.Lock()
	defer s.deadMu.Unlock()
	var items []*dlr.Item
	now := s.cfg.Now()
	lower, upper := deadBounds(systemID)
	_, err := s.changeDead(lower, upper, n, func(b *pebble.Batch, k, v []byte) error {
		d, err := decodeDead(k, v)
		if err != nil {
			return err
		}
		it := &dlr.Item{Raw: d.Raw, Origin: d.Origin, Seq: s.NextSeq(), At: now}
		val := u64(nil, it.Origin)
		val = u64(val, uint64(now.UnixNano()))
		val = append(val, it.Raw...)
		items = append(items, it)
		return errors.Join(b.Delete(k, nil), b.Set(outboxKey(systemID, it.Seq), val, nil))
	})
	if err != nil {
		return nil, err
	}
	s.addDead(systemID, -len(items))
	return items, nil
}

// changeDead calls fn with up to n dead letters from lower to upper, in
// order, and commits what fn adds to the batch as one synced write. It
// returns how many dead letters fn was given. Called with deadMu held.
func (s *Store) changeDead(lower, upper []byte, n int, fn func(b *pebble.Batch, k, v []byte) error) (int, error) {
	count := 0
	err := s.open(func(db *pebble.DB) error {
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
		if err != nil {
			return err
		}
		defer it.Close()
		b := db.NewBatch()
		defer func() { _ = b.Close() }()
		for it.First(); it.Valid() && count < n; it.Next() {
			if err := fn(b, it.Key(), it.Value()); err != nil {
				return err
			}
			count++
		}
		if err := it.Error(); err != nil {
			return err
		}
		return b.Commit(pebble.Sync)
	})
	if err != nil {
		return 0, err
	}
	return count, nil
}
