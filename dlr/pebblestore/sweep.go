package pebblestore

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.uber.org/zap"

	"github.com/smppmux/smppmux/dlr"
)

// The sweep
//
// A mapping and a mark carry their expiry in the first eight octets of
// their value, and no other key says when they expire: the sweeper walks
// the mappings and the marks themselves, sweepSteps steps every
// SweepEvery, each step visiting up to sweepBudget keys of each from
// where the last stopped, and deletes what has expired (a mapping with
// its client's record). A pass over 10,000,000 outstanding mappings
// takes ten SweepEvery; a lookup treats an expired mapping or mark as
// absent meanwhile.
//
// Earlier versions wrote an expiry index beside each mapping (X) and each
// mark (y): a third and a fifth key per message, kept until the mapping's
// TTL ran out even when its final receipt had ended it hours before, and
// a write of its own to delete. Those entries are still swept, in the
// index's order, until none is left (oldIndex).
const (
	sweepSteps  = 16
	sweepBudget = 1 << 16
	// Entries of the earlier expiry indexes, and the kind of the old
	// layout's index (see Store's key layout).
	kindExpiry    = 'X'
	kindMarkIndex = 'y'
)

// sweepLoop runs a step of the sweep sweepSteps times every SweepEvery.
func (s *Store) sweepLoop() {
	t := time.NewTicker(max(s.cfg.SweepEvery/sweepSteps, time.Millisecond))
	defer t.Stop()
	var mappings, marks sweepPass
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if s.Health() != nil {
				// The sweep waits for a disk that takes writes.
				continue
			}
			n, err := s.sweepStep(&mappings, &marks, sweepBudget)
			if err != nil {
				s.log.Warn("deleting expired message id mappings failed", zap.Error(err))
			} else if n > 0 {
				s.log.Debug("expired message id mappings deleted", zap.Int("count", n))
			}
			s.passEnded(kindMapping, &mappings)
			s.passEnded(kindMark, &marks)
		}
	}
}

// sweepPass is the sweeper's pass over the keys of one kind: where its
// next step starts (nil: at the first key), how many keys it has visited
// and how many of them it deleted.
type sweepPass struct {
	from          []byte
	seen, deleted int
}

// sweepCompactMin is the least number of keys a pass must delete, and a
// quarter of those it visited, for the kind's span to be compacted at its
// end (passEnded).
const sweepCompactMin = 1 << 14

// passEnded, once a pass over the keys of kind has ended, compacts their
// span when the pass deleted a quarter of them or more (and at least
// sweepCompactMin), and starts the count of the next pass. A store that
// takes no more writes after many of its keys expired (a burst of
// traffic, then a quiet night) flushes no memtable and starts no
// compaction: the deletes sit in the memtable, the deleted keys in the
// tables, until writes resume. In steady traffic a pass deletes a small
// share (600 s of a 72 h TTL; 10 minutes of a 1 h resend window), and
// Pebble's own compactions, which weigh what the deletes free, give the
// space back.
func (s *Store) passEnded(kind byte, p *sweepPass) {
	if p.from != nil {
		return
	}
	seen, deleted := p.seen, p.deleted
	*p = sweepPass{}
	if deleted < sweepCompactMin || 4*deleted < seen {
		return
	}
	d, err := s.acquire()
	if err != nil {
		return
	}
	defer d.release()
	// Close does not wait for the compactions not yet started (Pebble
	// runs the ones it has started to their end, a table's worth each).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	start := time.Now()
	err = s.write(d, func() error { return d.Compact(ctx, []byte{kind}, []byte{kind + 1}, true) })
	if err != nil && ctx.Err() == nil {
		s.log.Warn("compacting the span of expired keys failed", zap.String("kind", string(kind)), zap.Error(err))
		return
	}
	s.log.Info("compacted the span of expired keys", zap.String("kind", string(kind)), zap.Int("deleted", deleted),
		zap.Int("of", seen), zap.Duration("took", time.Since(start)), zap.Bool("stopped", ctx.Err() != nil))
}

// Sweep deletes the mappings and marks expired by now, in one pass over
// all of them, and returns how many mappings. Once no mapping of the
// earlier layout is left, lookups stop looking for them.
func (s *Store) Sweep() (int, error) {
	var mappings, marks sweepPass
	return s.sweepStep(&mappings, &marks, 0)
}

// sweepStep visits up to budget mappings (all when 0) of the pass
// mappings, and as many marks of marks, deleting the expired ones. Then
// it sweeps the expiry indexes of earlier versions while they hold
// entries. It returns how many mappings it deleted.
func (s *Store) sweepStep(mappings, marks *sweepPass, budget int) (int, error) {
	now := s.cfg.Now().UnixNano()
	n, err := s.sweepKind(kindMapping, mappings, budget, now, deleteMapping)
	if err == nil {
		_, err = s.sweepKind(kindMark, marks, budget, now, func(b *pebble.Batch, k, v []byte) {
			_ = b.DeleteSized(k, uint32(len(v)), nil)
		})
	}
	if err == nil && (s.oldIndex.Load() || s.old.Load()) {
		var m int
		m, err = s.sweepOldIndexes(time.Unix(0, now))
		n += m
	}
	return n, err
}

// deleteMapping adds to b the deletes of the mapping k, whose value is v,
// and of its client's record.
func deleteMapping(b *pebble.Batch, k, v []byte) {
	_ = b.DeleteSized(k, uint32(len(v)), nil)
	i := bytes.IndexByte(k[1:], 0)
	j := bytes.LastIndexByte(k, 0)
	if i < 0 || j <= i+1 || len(v) < 25 || len(v) < 25+int(v[24]) {
		return
	}
	upstream, id := k[1:1+i], k[j+1:]
	sys := v[25 : 25+int(v[24])]
	client := v[25+int(v[24]):]
	ck := appendClientKey(make([]byte, 0, 2+len(sys)+len(client)), string(sys), string(client))
	_ = b.DeleteSized(ck, uint32(9+len(upstream)+len(id)), nil)
}

// sweepKind visits up to budget keys of kind (all when 0) of the pass p,
// and deletes, through del, those whose value's first eight octets say
// they expired by now; p is left where the next visit starts, its from
// nil at the end. It returns how many it deleted. The deletes are not
// synced, committed a megabyte at a time.
func (s *Store) sweepKind(kind byte, p *sweepPass, budget int, now int64, del func(b *pebble.Batch, k, v []byte)) (n int, err error) {
	d, err := s.acquire()
	if err != nil {
		return 0, err
	}
	defer d.release()
	lower := p.from
	if lower == nil {
		lower = []byte{kind}
	}
	p.from = nil
	seen := 0
	defer func() {
		p.seen += seen
		p.deleted += n
	}()
	it, err := d.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: []byte{kind + 1}})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	b := d.NewBatch()
	defer func() { _ = b.Close() }()
	for it.First(); it.Valid(); it.Next() {
		if budget > 0 && seen == budget {
			p.from = bytes.Clone(it.Key())
			break
		}
		seen++
		v := it.Value()
		if len(v) < 8 || int64(binary.BigEndian.Uint64(v)) > now {
			continue
		}
		del(b, it.Key(), v)
		n++
		if err := s.commitFull(d, b); err != nil {
			return n, err
		}
	}
	if err := it.Error(); err != nil {
		return n, err
	}
	if b.Empty() {
		return n, nil
	}
	return n, s.write(d, func() error { return b.Commit(pebble.NoSync) })
}

// sweepOldIndexes sweeps the expiry indexes earlier versions wrote, up to
// now, and returns how many mappings it deleted; once they are empty it
// stops being called, and once no mapping of the earlier layout is left,
// lookups stop looking for them.
func (s *Store) sweepOldIndexes(now time.Time) (int, error) {
	n, err := s.sweepIndex(kindExpiry, now, func(upstream, id string) []byte {
		return mappingKey(upstream, dlr.FoldID(id), id)
	})
	if err == nil {
		_, err = s.sweepMarkIndex(now)
	}
	if err == nil && s.old.Load() {
		var m int
		m, err = s.sweepIndex(kindOldExpiry, now, oldMappingKey)
		n += m
	}
	if err != nil {
		return n, err
	}
	var old, index bool
	err = s.open(func(db *pebble.DB) (err error) {
		if old, err = hasOldMappings(db); err == nil {
			index, err = hasOldIndex(db)
		}
		return err
	})
	if err != nil {
		return n, err
	}
	if s.old.Load() && !old {
		s.old.Store(false)
		s.log.Info("the last mapping of the earlier key layout has expired")
	}
	if s.oldIndex.Load() && !index {
		s.oldIndex.Store(false)
		s.log.Info("the last entry of the earlier expiry indexes has expired")
	}
	return n, nil
}

// commitFull commits b, unsynced, and empties it once it holds a
// megabyte.
func (s *Store) commitFull(d *pebbleDB, b *pebble.Batch) error {
	if b.Len() <= 1<<20 {
		return nil
	}
	if err := s.write(d, func() error { return b.Commit(pebble.NoSync) }); err != nil {
		return err
	}
	b.Reset()
	return nil
}

// hasOldIndex reports whether an entry of the expiry indexes of earlier
// versions is stored in db, expired or not.
func hasOldIndex(db *pebble.DB) (bool, error) {
	return hasAny(db, kindExpiry, kindMarkIndex, kindOldExpiry)
}

// sweepIndex deletes the mappings expired by now of the expiry index of
// kind (an earlier version's), whose mappings are under key(upstream, id).
func (s *Store) sweepIndex(kind byte, now time.Time, key func(upstream, id string) []byte) (int, error) {
	return s.sweepIndexEntries(kind, now, func(b *pebble.Batch, k, v []byte) bool {
		exp := binary.BigEndian.Uint64(k[1:9])
		rest := k[9:]
		i := bytes.IndexByte(rest, 0)
		j := bytes.IndexByte(v, 0)
		if i < 0 || j < 0 {
			return false
		}
		mk := key(string(rest[:i]), string(rest[i+1:]))
		_ = b.Delete(clientKeyBytes(string(v[:j]), string(v[j+1:])), nil)
		// A newer write of the same id has a later expiry: keep it. One
		// the sweep of the mappings deleted is not counted again.
		if cur, ok, _ := s.get(mk); ok && len(cur) >= 8 && binary.BigEndian.Uint64(cur) == exp {
			_ = b.Delete(mk, nil)
			return true
		}
		return false
	})
}

// sweepMarkIndex deletes the marks of an earlier version's mark index
// past their time and returns how many.
func (s *Store) sweepMarkIndex(now time.Time) (int, error) {
	return s.sweepIndexEntries(kindMarkIndex, now, func(b *pebble.Batch, k, _ []byte) bool {
		mk := append([]byte{kindMark}, k[9:]...)
		// A mark written again later has a later time: keep it.
		if cur, ok, _ := s.get(mk); ok && len(cur) >= 8 && bytes.Equal(cur[:8], k[1:9]) {
			_ = b.Delete(mk, nil)
			return true
		}
		return false
	})
}

// sweepIndexEntries deletes the entries of the expiry index of kind (kind
// expires(8) ...) up to now: for each, del adds to b the deletes of what
// it indexes, and says whether there was something to delete; it returns
// how many there were. The deletes are not synced, committed a megabyte at
// a time; the entries go with one range delete.
func (s *Store) sweepIndexEntries(kind byte, now time.Time, del func(b *pebble.Batch, k, v []byte) bool) (int, error) {
	d, err := s.acquire()
	if err != nil {
		return 0, err
	}
	defer d.release()
	upper := u64([]byte{kind}, uint64(now.UnixNano()))
	it, err := d.NewIter(&pebble.IterOptions{LowerBound: []byte{kind}, UpperBound: upper})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	b := d.NewBatch()
	defer func() { _ = b.Close() }()
	n, entries := 0, 0
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		if len(k) < 9 {
			continue
		}
		if del(b, k, it.Value()) {
			n++
		}
		entries++
		if err := s.commitFull(d, b); err != nil {
			return n, err
		}
	}
	if err := it.Error(); err != nil {
		return n, err
	}
	if entries > 0 {
		_ = b.DeleteRange([]byte{kind}, upper, nil)
	}
	return n, s.write(d, func() error { return b.Commit(pebble.NoSync) })
}
