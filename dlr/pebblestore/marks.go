package pebblestore

import (
	"bytes"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/smppmux/smppmux/dlr"
)

// The marks of relayed receipts in the Pebble store, written in the batch
// of the receipt's outbox item, or on their own (PutMark):
//
//	r upstream 0 id 0 state      -> expires(8)
//	y expires(8) upstream 0 id 0 state -> (nothing: expiry index)
const (
	kindMark      = 'r'
	kindMarkIndex = 'y'
)

func appendMarkKey(k []byte, m *dlr.Mark) []byte {
	k = append(k, kindMark)
	k = append(k, m.Upstream...)
	k = append(k, 0)
	k = append(k, m.ID...)
	return append(k, 0, m.State)
}

// applyMark adds m's two keys to b, encoding them in scratch.
func applyMark(b *pebble.Batch, m *dlr.Mark, scratch []byte) ([]byte, error) {
	exp := uint64(m.Expires.UnixNano())
	kv := appendMarkKey(scratch[:0], m)
	n := len(kv)
	kv = u64(kv, exp)
	if err := b.Set(kv[:n], kv[n:], nil); err != nil {
		return kv, err
	}
	idx := append(u64(append(kv[len(kv):], kindMarkIndex), exp), kv[1:n]...)
	return kv, b.Set(idx, nil, nil)
}

// noteMarkLocked keeps m in recent, with the route of its message when
// that is there. A receipt of a message in recent is then known relayed
// or not without reading the database (most receipts come soon after
// their message): recent is empty when the store opens and takes a
// message's route as its mapping is committed, and every mark this
// process writes of it after that is noted here (PutMark's at once, an
// outbox item's once committed). Called with umu held.
func (s *Store) noteMarkLocked(m *dlr.Mark) {
	if m.State >= 16 {
		return
	}
	k := idKey{m.Upstream, m.ID}
	if r, ok := s.recent.Get(k); ok {
		r.relayed |= 1 << m.State
		r.markExpires = max(r.markExpires, m.Expires.UnixNano())
		s.recent.Replace(k, r)
	}
}

// Relayed implements dlr.Store. A receipt of a message among the last
// committed is answered from memory (see noteMarkLocked), as is one whose
// message's mapping is being written: that message is new, none of its
// receipts was relayed.
func (s *Store) Relayed(m dlr.Mark) (bool, error) {
	k := idKey{m.Upstream, m.ID}
	s.umu.Lock()
	if r, recent := s.recent.Get(k); recent && m.State < 16 {
		s.umu.Unlock()
		return r.relayed&(1<<m.State) != 0 && r.markExpires > s.cfg.Now().UnixNano(), nil
	}
	p, pending := s.unsynced[idKey{m.Upstream, dlr.FoldID(m.ID)}]
	s.umu.Unlock()
	if pending && p.id == m.ID && !p.mixed {
		return false, nil
	}
	v, ok, err := s.get(appendMarkKey(nil, &m))
	if !ok || err != nil {
		return false, err
	}
	return !s.expired(v), nil
}

// PutMark implements dlr.MappingStore: the committer writes the mark
// without a sync, in the batch of the writes queued with it. It is noted
// at once in the recent routes (noteMarkLocked).
func (s *Store) PutMark(m dlr.Mark) {
	s.umu.Lock()
	s.noteMarkLocked(&m)
	s.umu.Unlock()
	s.enqueue(writeOp{kind: kindMark, mark: &m})
}

// Forget implements dlr.Store. The committer deletes the mapping and the
// client's record without a sync, in the batch of the writes queued with
// them (a receipt's mark, often): after a crash the mapping lives until
// it expires, as before. The message leaves the recent routes once the
// deletes are written, so that its marks, queued before, are found in the
// database from then on.
func (s *Store) Forget(upstream, id, systemID, clientID string) {
	s.enqueue(writeOp{kind: opForget, folded: dlr.FoldID(id), m: dlr.Mapping{Upstream: upstream, UpstreamID: id,
		Origin: dlr.Origin{SystemID: systemID, ClientID: clientID}}})
}

// applyForget adds the deletes of a Forget to b.
func (op *writeOp) applyForget(b *pebble.Batch, scratch []byte) ([]byte, error) {
	k := appendMappingKey(scratch[:0], op.m.Upstream, op.folded, op.m.UpstreamID)
	if err := b.Delete(k, nil); err != nil {
		return k, err
	}
	k = appendClientKey(k[:0], op.m.SystemID, op.m.ClientID)
	return k, b.Delete(k, nil)
}

// sweepMarks deletes the marks past their time and returns how many.
func (s *Store) sweepMarks(now time.Time) (int, error) {
	return s.sweepIndex(kindMarkIndex, now, func(b *pebble.Batch, k, _ []byte) {
		mk := append([]byte{kindMark}, k[9:]...)
		// A mark written again later has a later time: keep it.
		if cur, ok, _ := s.get(mk); ok && len(cur) >= 8 && bytes.Equal(cur[:8], k[1:9]) {
			_ = b.Delete(mk, nil)
		}
	})
}
