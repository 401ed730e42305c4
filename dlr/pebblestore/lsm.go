package pebblestore

// LSM is the shape of the store's LSM tree, from Pebble's metrics: what an
// operator watches to see compaction keep up (the metrics
// smppmux_store_l0_* and smppmux_store_compact*).
type LSM struct {
	// L0Tables and L0Sublevels are level 0's tables and sublevels: a
	// lookup reads one table per sublevel, and Pebble compacts level 0 once
	// it holds 4 sublevels or l0CompactionFiles tables.
	L0Tables, L0Sublevels int64
	// L0Bytes is the size of level 0's tables; TableBytes of all tables.
	L0Bytes, TableBytes uint64
	// DebtBytes is Pebble's estimate of the bytes compactions must still
	// write to bring every level within its size.
	DebtBytes uint64
	// Since the open: compactions run, and the bytes compactions and
	// flushes wrote to tables.
	Compactions                  int64
	CompactedBytes, FlushedBytes uint64
}

// LSM returns the shape of the store's LSM tree, false while the database
// is not open.
func (s *Store) LSM() (LSM, bool) {
	d, err := s.acquire()
	if err != nil {
		return LSM{}, false
	}
	defer d.release()
	m := d.Metrics()
	l := LSM{L0Tables: m.Levels[0].TablesCount, L0Sublevels: int64(m.Levels[0].Sublevels), L0Bytes: uint64(m.Levels[0].TablesSize),
		DebtBytes: m.Compact.EstimatedDebt, Compactions: m.Compact.Count}
	for i := range m.Levels {
		lv := &m.Levels[i]
		l.TableBytes += uint64(lv.TablesSize)
		l.CompactedBytes += lv.TableBytesCompacted
		l.FlushedBytes += lv.TableBytesFlushed
	}
	return l, true
}
