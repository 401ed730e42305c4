package pebblestore

import (
	"github.com/cockroachdb/pebble/v2"

	"github.com/smppmux/smppmux/dlr"
)

// The marks of relayed receipts in the Pebble store, written in the batch
// of the receipt's outbox item, or on their own (PutMark), and swept by
// their value (sweep.go):
//
//	r upstream 0 id 0 state      -> expires(8)
//
// Earlier versions indexed them by expiry too (sweep.go, kindMarkIndex).
const kindMark = 'r'

func appendMarkKey(k []byte, m *dlr.Mark) []byte {
	k = append(k, kindMark)
	k = append(k, m.Upstream...)
	k = append(k, 0)
	k = append(k, m.ID...)
	return append(k, 0, m.State)
}

// applyMark adds m to b, encoding it in scratch.
func applyMark(b *pebble.Batch, m *dlr.Mark, scratch []byte) ([]byte, error) {
	kv := appendMarkKey(scratch[:0], m)
	n := len(kv)
	kv = u64(kv, uint64(m.Expires.UnixNano()))
	return kv, b.Set(kv[:n], kv[n:], nil)
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
//
// A message among the recent routes whose mapping this Store committed
// once, with no fault of the database since it opened, is forgotten with
// single deletes: a single delete and the write it deletes vanish together
// in the first flush or compaction that holds both, most often the
// memtable's flush, where a plain delete stays and is carried down to the
// lowest level holding the key range, through every compaction on the way,
// before it goes. With 10,000,000 outstanding mappings that carrying was
// most of what made a message cost more than with an empty store. Any
// other message is forgotten with plain deletes: a single delete over two
// writes of a key may uncover the older one. An older write this Store
// cannot know of (an SMSC that gave the same id to a message still
// outstanding from before its restart, or more than the recent routes
// ago) may be uncovered so: that message's mapping is then read again
// until its TTL, where a plain delete lost it with the newer message's.
func (s *Store) Forget(upstream, id, systemID, clientID string) {
	s.umu.Lock()
	r, ok := s.recent.Get(idKey{upstream, id})
	s.umu.Unlock()
	single := ok && !r.rewritten && r.SystemID == systemID && r.ClientID == clientID && !s.faulted.Load()
	s.enqueue(writeOp{kind: opForget, folded: dlr.FoldID(id), single: single, m: dlr.Mapping{Upstream: upstream, UpstreamID: id,
		Origin: dlr.Origin{SystemID: systemID, ClientID: clientID}}})
}

// applyForget adds the deletes of a Forget to b: single deletes (see
// Forget), or deletes with the size of the value they delete, which
// Pebble weighs when it picks what to compact.
func (op *writeOp) applyForget(b *pebble.Batch, scratch []byte) ([]byte, error) {
	m := &op.m
	del := func(k []byte, size int) error {
		if op.single {
			return b.SingleDelete(k, nil)
		}
		return b.DeleteSized(k, uint32(size), nil)
	}
	k := appendMappingKey(scratch[:0], m.Upstream, op.folded, m.UpstreamID)
	if err := del(k, 25+len(m.SystemID)+len(m.ClientID)); err != nil {
		return k, err
	}
	k = appendClientKey(k[:0], m.SystemID, m.ClientID)
	return k, del(k, 9+len(m.Upstream)+len(m.UpstreamID))
}
