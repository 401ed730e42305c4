package pebblestore

import (
	"bytes"
	"encoding/binary"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.uber.org/zap"

	"github.com/smppmux/smppmux/dlr"
)

// sweepLoop deletes expired mappings every SweepEvery.
func (s *Store) sweepLoop() {
	t := time.NewTicker(s.cfg.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if s.Health() != nil {
				// The sweep waits for a disk that takes writes.
				continue
			}
			if n, err := s.Sweep(); err != nil {
				s.log.Warn("deleting expired message id mappings failed", zap.Error(err))
			} else if n > 0 {
				s.log.Debug("expired message id mappings deleted", zap.Int("count", n))
			}
		}
	}
}

// Sweep deletes the mappings expired by now and returns how many. Once
// no mapping of the earlier layout is left, lookups stop looking for
// them.
func (s *Store) Sweep() (int, error) {
	n, err := s.sweep(kindExpiry, func(upstream, id string) []byte {
		return mappingKey(upstream, dlr.FoldID(id), id)
	})
	if err == nil {
		_, err = s.sweepMarks(s.cfg.Now())
	}
	if err != nil || !s.old.Load() {
		return n, err
	}
	m, err := s.sweep(kindOldExpiry, oldMappingKey)
	n += m
	if err != nil {
		return n, err
	}
	var old bool
	err = s.open(func(db *pebble.DB) (err error) {
		old, err = hasOldMappings(db)
		return err
	})
	if err == nil && !old {
		s.old.Store(false)
		s.log.Info("the last mapping of the earlier key layout has expired")
	}
	return n, err
}

// sweep deletes the mappings expired by now of the expiry index of kind,
// whose mappings are under key(upstream, id).
func (s *Store) sweep(kind byte, key func(upstream, id string) []byte) (int, error) {
	return s.sweepIndex(kind, s.cfg.Now(), func(b *pebble.Batch, k, v []byte) {
		exp := binary.BigEndian.Uint64(k[1:9])
		rest := k[9:]
		i := bytes.IndexByte(rest, 0)
		j := bytes.IndexByte(v, 0)
		if i < 0 || j < 0 {
			return
		}
		mk := key(string(rest[:i]), string(rest[i+1:]))
		// A newer write of the same id has a later expiry: keep it.
		if cur, ok, _ := s.get(mk); ok && len(cur) >= 8 && binary.BigEndian.Uint64(cur) == exp {
			_ = b.Delete(mk, nil)
		}
		_ = b.Delete(clientKeyBytes(string(v[:j]), string(v[j+1:])), nil)
	})
}

// sweepIndex deletes the entries of the expiry index of kind (kind
// expires(8) ...) up to now, and returns how many: for each, del adds to
// b the deletes of what it indexes, then the entry itself is deleted.
// The deletes are not synced, committed a megabyte at a time.
func (s *Store) sweepIndex(kind byte, now time.Time, del func(b *pebble.Batch, k, v []byte)) (int, error) {
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
	n := 0
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		if len(k) < 9 {
			continue
		}
		del(b, k, it.Value())
		_ = b.Delete(bytes.Clone(k), nil)
		n++
		if b.Len() > 1<<20 {
			if err := s.write(d, func() error { return b.Commit(pebble.NoSync) }); err != nil {
				return n, err
			}
			b.Reset()
		}
	}
	if err := it.Error(); err != nil {
		return n, err
	}
	return n, s.write(d, func() error { return b.Commit(pebble.NoSync) })
}
