package dlr

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Waiting receipts in the Pebble store:
//
//	w upstream 0 seq(8) -> arrived(8) PDU
const kindWaiting = 'w'

func waitingKey(upstream string, seq uint64) []byte {
	k := make([]byte, 0, 10+len(upstream))
	k = append(k, kindWaiting)
	k = append(k, upstream...)
	k = append(k, 0)
	return u64(k, seq)
}

// PutWaiting implements Store: the receipt is written by the committer,
// synced, like an outbox item.
func (s *PebbleStore) PutWaiting(w *Waiting, done func(error)) {
	w.Seq = s.NextSeq()
	s.enqueue(writeOp{kind: kindWaiting, done: done, systemID: w.Upstream,
		seq: w.Seq, at: w.Arrived.UnixNano(), raw: w.Raw})
}

// applyWaiting adds op, a waiting receipt, to b.
func (op *writeOp) applyWaiting(b *pebble.Batch, scratch []byte) ([]byte, error) {
	kv := append(scratch[:0], kindWaiting)
	kv = append(kv, op.systemID...)
	kv = append(kv, 0)
	kv = u64(kv, op.seq)
	n := len(kv)
	kv = u64(kv, uint64(op.at))
	kv = append(kv, op.raw...)
	return kv, b.Set(kv[:n], kv[n:], nil)
}

// DeleteWaiting implements Store. Each key is set once, so one single
// delete removes it; while the database is not open the delete waits for
// the next open, as an outbox item's.
func (s *PebbleStore) DeleteWaiting(upstream string, seq uint64) {
	s.deleteSetOnce(waitingKey(upstream, seq))
}

// LoadWaiting implements Store.
func (s *PebbleStore) LoadWaiting(fn func(*Waiting)) error {
	d, err := s.acquire()
	if err != nil {
		return err
	}
	defer d.release()
	return loadWaiting(d.DB, fn)
}

// loadWaiting calls fn for every waiting receipt of db.
func loadWaiting(db *pebble.DB, fn func(*Waiting)) error {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{kindWaiting}, UpperBound: []byte{kindWaiting + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		k, v := it.Key(), it.Value()
		i := bytes.IndexByte(k[1:], 0)
		if i < 0 || len(k) != 1+i+1+8 || len(v) < 8 {
			return fmt.Errorf("dlr: corrupt waiting receipt key %q", k)
		}
		fn(&Waiting{
			Upstream: string(k[1 : 1+i]),
			Seq:      binary.BigEndian.Uint64(k[len(k)-8:]),
			Arrived:  time.Unix(0, int64(binary.BigEndian.Uint64(v))),
			Raw:      bytes.Clone(v[8:]),
		})
	}
	return it.Error()
}
