package pebblestore

import (
	"bytes"
	"encoding/binary"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/smppmux/smppmux/dlr"
)

// Waiting receipts in the Pebble store:
//
//	w upstream 0 seq(8) -> arrived(8) PDU
const kindWaiting = 'w'

// PutWaiting implements dlr.Store: the receipt is written by the committer,
// synced, like an outbox item.
func (s *Store) PutWaiting(w *dlr.Waiting, done func(error)) {
	w.Seq = s.NextSeq()
	s.enqueue(writeOp{kind: kindWaiting, done: done, systemID: w.Upstream,
		seq: w.Seq, at: w.Arrived.UnixNano(), raw: w.Raw})
}

// applyWaiting adds op, a waiting receipt, to b.
func (op *writeOp) applyWaiting(b *pebble.Batch, scratch []byte) ([]byte, error) {
	kv := appendSeqKey(scratch[:0], kindWaiting, op.systemID, op.seq)
	n := len(kv)
	kv = u64(kv, uint64(op.at))
	kv = append(kv, op.raw...)
	return kv, b.Set(kv[:n], kv[n:], nil)
}

// DeleteWaiting implements dlr.Store. Each key is set once, so one single
// delete removes it; while the database is not open the delete waits for
// the next open, as an outbox item's.
func (s *Store) DeleteWaiting(upstream string, seq uint64) {
	s.deleteSetOnce(waitingKey(upstream, seq))
}

// LoadWaiting implements dlr.Store.
func (s *Store) LoadWaiting(fn func(*dlr.Waiting)) error {
	d, err := s.acquire()
	if err != nil {
		return err
	}
	defer d.release()
	return loadWaiting(d.DB, fn)
}

// loadWaiting calls fn for every waiting receipt of db.
func loadWaiting(db *pebble.DB, fn func(*dlr.Waiting)) error {
	return scanSeq(db, kindWaiting, "waiting receipt", 8, func(upstream string, seq uint64, v []byte) {
		fn(&dlr.Waiting{
			Upstream: upstream,
			Seq:      seq,
			Arrived:  time.Unix(0, int64(binary.BigEndian.Uint64(v))),
			Raw:      bytes.Clone(v[8:]),
		})
	})
}
