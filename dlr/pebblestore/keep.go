package pebblestore

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"go.uber.org/zap"

	"github.com/smppmux/smppmux/dlr"
)

// How a Store lives through a failing disk
//
// The database is opened through a fence (fence.go): the first
// write the disk refuses fences it, so the process never ends for a fault
// of the disk and the disk keeps a state Pebble recovers. Health turns
// non-nil at that moment, the batch under way and every write after it
// fail (the relay tries mappings again; a receipt's SMSC is answered
// ESME_RX_T_APPN and sends it again), and the keeper goroutine closes the
// database and opens it again, replaying its WAL, once the disk allows.
// The keeper also watches the free space: below a low-water mark the
// store takes no writes, so Pebble keeps room to flush and compact and
// rarely meets a full disk at all; it takes them again above twice that.
//
// Writes a fenced batch carried were reported failed, yet the disk may
// hold them (the fault came from another write, or after the sync). When
// the database opens again the store undoes them before it takes writes:
// an outbox item reported failed is deleted (its SMSC sends the receipt
// again), a dead letter reported failed is taken back and its outbox item
// restored (the item stayed in the outbox). Outbox deletes asked for while
// the database is down are applied then too. Mappings need nothing: the
// relay writes them again.

const (
	defaultCheckEvery = 250 * time.Millisecond
	defaultRetryMax   = 2 * time.Second
	defaultLogEvery   = time.Minute
	defaultStallAfter = 5 * time.Second
)

// pebbleDB is one open database of a Store and the fence it writes
// through. A call holds it (acquire, release) while it uses the database;
// the keeper closes it once it is retired and no call holds it.
type pebbleDB struct {
	*pebble.DB
	fence *fence
	// lazy is the file system of its WALs with Config.SyncInterval.
	lazy *lazyFS
	// refs counts the calls holding it, plus one for the store while it
	// is the current database.
	refs     atomic.Int64
	retired  atomic.Bool
	idle     chan struct{} // closed once retired and no call holds it
	idleOnce sync.Once
	// fixed is set once the fixes pending when it opened are applied:
	// from then on outbox deletes go straight to it.
	fixed atomic.Bool
}

func (d *pebbleDB) release() {
	if d.refs.Add(-1) == 0 && d.retired.Load() {
		d.idleOnce.Do(func() { close(d.idle) })
	}
}

// storeDown is a Store's answer to Health while it takes no writes,
// and the error of the writes it fails meanwhile.
type storeDown struct {
	dir  string
	kind string // what the condition is, for its log lines
	what string
	err  error
}

func (e *storeDown) Error() string { return "pebble store " + e.dir + ": " + e.what }
func (e *storeDown) Unwrap() error { return e.err }

// Kinds of storeDown besides a fault's cause.
const (
	downOpening = "opening"
	downStalled = "writes stalled"
	downOpen    = "cannot open"
)

// fix is a change applied when the database opens again, before the store
// takes writes: a key to delete, or an outbox item to put back.
type fix struct {
	del     []byte
	restore []byte // outbox key; value holds its value
	value   []byte
}

// acquire returns the current database, held, or why there is none.
func (s *Store) acquire() (*pebbleDB, error) {
	if d := s.cur.Load(); d != nil {
		d.refs.Add(1)
		if !d.retired.Load() && d.fence.tripped() == nil {
			return d, nil
		}
		d.release()
	}
	return nil, s.downError()
}

// downError is the error of a call the store cannot serve now.
func (s *Store) downError() error {
	if err := s.Health(); err != nil {
		return err
	}
	return &storeDown{dir: s.cfg.Dir, kind: downOpening, what: downOpening}
}

// Health implements dlr.Store: nil while the store takes writes, else why not.
func (s *Store) Health() error {
	if e := s.health.Load(); e != nil {
		return *e
	}
	return nil
}

// evaluateLocked sets Health from the store's state. Called with hmu
// held.
func (s *Store) evaluateLocked() {
	var err error
	d := s.cur.Load()
	switch {
	case s.closedState:
		err = dlr.ErrStoreClosed
	case d == nil || d.retired.Load():
		err = s.down
		if err == nil {
			err = &storeDown{dir: s.cfg.Dir, kind: downOpening, what: downOpening}
		}
	case d.fence.tripped() != nil:
		ft := d.fence.tripped()
		err = &storeDown{dir: s.cfg.Dir, kind: ft.cause, what: ft.Error() + "; opening the database again once the disk allows", err: ft}
	case !s.ready:
		err = &storeDown{dir: s.cfg.Dir, kind: downOpening, what: downOpening}
	case s.low != nil:
		err = s.low
	case s.stalled != nil:
		err = s.stalled
	}
	var p *error
	if err != nil {
		p = &err
	}
	if old := s.health.Swap(p); (old == nil) != (p == nil) {
		s.healthChanged.Fire()
	}
}

// HealthChanged returns a channel closed the next time Health goes from
// nil to an error or back.
func (s *Store) HealthChanged() <-chan struct{} { return s.healthChanged.Next() }

func (s *Store) evaluate() {
	s.hmu.Lock()
	s.evaluateLocked()
	s.hmu.Unlock()
}

// tripped is called by a database's fence at its first fault: Health says
// so at once, and the keeper closes the database.
func (s *Store) tripped() {
	s.faulted.Store(true)
	s.evaluate()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// firstOpen makes the first attempt to open the database, in Open: an
// error that is no fault of the disk (a corrupt database, one another
// process holds) is returned; a fault leaves the keeper to open it later.
func (s *Store) firstOpen() error {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	err := s.tryOpen()
	var down *storeDown
	if err != nil && errors.As(err, &down) && down.kind == downOpen && faultCause(err) == "" {
		return fmt.Errorf("open store %s: %w", s.cfg.Dir, down.err)
	}
	return nil
}

// keep is the keeper goroutine: it opens the database when there is none
// and the disk allows, closes one whose fence tripped, watches the free
// space and long commits, and logs the store's condition when it changes
// and once per LogEvery while it lasts.
func (s *Store) keep() {
	t := time.NewTicker(s.cfg.CheckEvery)
	defer t.Stop()
	for {
		s.check()
		select {
		case <-s.stop:
			return
		case <-t.C:
		case <-s.wake:
		}
	}
}

func (s *Store) check() {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	now := time.Now()
	if d := s.cur.Load(); d != nil && d.fence.tripped() != nil {
		s.retire(d)
		s.retryAt = now
	}
	if d := s.cur.Load(); d != nil {
		s.watch(d, now)
	} else if !now.Before(s.retryAt) {
		if err := s.tryOpen(); err == nil {
			s.afterOpen()
		} else if s.cur.Load() == nil {
			var down *storeDown
			if !errors.As(err, &down) || down.kind != diskFull || down.err != nil {
				// A fault or a failed open: try again after a while. A
				// disk short of space is looked at every check.
				s.backoff = min(max(2*s.backoff, s.cfg.CheckEvery), s.cfg.RetryMax)
				s.retryAt = now.Add(s.backoff)
			}
		}
	}
	s.report(now)
}

// watch updates the free space and stall conditions of the open database
// d and applies outbox deletes asked for while it was opening.
func (s *Store) watch(d *pebbleDB, now time.Time) {
	var low, stalled error
	if u, err := s.usage(); err == nil {
		stop, resume := lowSpace(u.total)
		s.hmu.Lock()
		wasLow := s.low != nil
		s.hmu.Unlock()
		if u.free < stop || (wasLow && u.free < resume) {
			low = s.lowSpaceError(u, resume)
		}
	}
	start := s.commitStart.Load()
	if ss := s.syncStart.Load(); ss != 0 && (start == 0 || ss < start) {
		start = ss
	}
	if start != 0 {
		if took := now.Sub(time.Unix(0, start)); took > s.cfg.StallAfter {
			stalled = &storeDown{dir: s.cfg.Dir, kind: downStalled,
				what: fmt.Sprintf("writes stalled: a commit has waited %.1f s", took.Seconds())}
		}
	}
	s.hmu.Lock()
	s.low, s.stalled = low, stalled
	s.evaluateLocked()
	s.hmu.Unlock()
	if s.pendingFixes() {
		if err := s.applyFixes(d); err != nil {
			s.log.Warn("applying outbox deletes to the store failed", zap.Error(err))
		}
	}
}

// tryOpen opens the database unless the disk is short of space, and makes
// it current once it has caught up with the store: dead letter counts,
// outbox numbering, fixes, the outboxes' first restore. Called with
// openMu held.
func (s *Store) tryOpen() (err error) {
	defer func() {
		s.hmu.Lock()
		s.down = err
		if err == nil {
			s.ready = true
		}
		s.evaluateLocked()
		s.hmu.Unlock()
	}()
	if u, uerr := s.usage(); uerr == nil {
		if _, resume := lowSpace(u.total); u.free < resume {
			return s.lowSpaceError(u, resume)
		}
	}
	d := &pebbleDB{idle: make(chan struct{})}
	d.fence = &fence{FS: s.cfg.FS, onTrip: func(*fault) { s.tripped() }, prealloc: s.mayPreallocate}
	opts := s.options(d.fence)
	if s.cfg.SyncInterval > 0 {
		d.lazy = newLazyFS(d.fence)
		opts.FS = d.lazy
	}
	db, err := openSafe(s.cfg.Dir, opts)
	if ft := d.fence.tripped(); ft != nil {
		if db != nil {
			s.closeDB(db)
		}
		return &storeDown{dir: s.cfg.Dir, kind: ft.cause, what: ft.Error(), err: ft}
	}
	if err != nil {
		what := "cannot open: " + err.Error()
		kind := downOpen
		if c := faultCause(err); c != "" {
			kind, what = c, c+": "+err.Error()
		}
		return &storeDown{dir: s.cfg.Dir, kind: kind, what: what, err: err}
	}
	d.DB = db
	d.refs.Store(1)
	s.hmu.Lock()
	s.ready = false
	s.cur.Store(d)
	s.hmu.Unlock()
	if err := s.prepare(d); err != nil {
		s.retire(d)
		if ft := d.fence.tripped(); ft != nil {
			return &storeDown{dir: s.cfg.Dir, kind: ft.cause, what: ft.Error(), err: ft}
		}
		return &storeDown{dir: s.cfg.Dir, kind: downOpen, what: "cannot open: " + err.Error(), err: err}
	}
	s.backoff = 0
	s.opened = true
	return nil
}

// afterOpen runs what AfterOpen queued, once the store takes writes.
// Called with openMu held.
func (s *Store) afterOpen() {
	fns := s.then
	s.then = nil
	for _, fn := range fns {
		fn()
	}
}

// AfterOpen runs fn once the database has been open and taken writes:
// now, when it has, or on the keeper goroutine right after the open to
// come. Receipts a previous run kept, which go through the relay and
// write, are restored with it.
func (s *Store) AfterOpen(fn func()) {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	if s.opened {
		fn()
		return
	}
	s.then = append(s.then, fn)
}

// l0CompactionFiles is how many tables level 0 holds before Pebble
// compacts it into the levels below, whatever its sublevels (Pebble's
// default is 500). The store's keys come mostly in order (an SMSC's ids,
// smppmux's own), so each flush lands beside the last, level 0 stays one
// sublevel deep, and only this count moves it: with 500, a fill of 10M
// outstanding messages left 199 tables (most of the store) in level 0,
// for the first writes after it to compact at once, and the first 100,000
// messages measured after it cost 1.43 times the CPU of an empty store's.
// With 16 the fill compacts them as it goes, in the same time, level 0
// holds 12 tables after it, and those 100,000 messages cost 0.96 times
// (make bench-growth; README, "Outstanding messages").
const l0CompactionFiles = 16

// options are the Pebble options of a database opened through f.
func (s *Store) options(f *fence) *pebble.Options {
	logger := pebbleLogger{l: s.log, limit: s.limit, fence: f}
	opts := &pebble.Options{FS: f, Logger: logger, MemTableSize: memTableSize, CacheSize: cacheSize,
		EventListener: &pebble.EventListener{
			BackgroundError: func(err error) { logger.limited(zap.ErrorLevel, "pebble: background error", err) },
			DataCorruption: func(info pebble.DataCorruptionInfo) {
				logger.limited(zap.ErrorLevel, "pebble: data corruption", errors.New(info.String()))
			},
			DiskSlow: func(info pebble.DiskSlowInfo) {
				logger.limited(zap.WarnLevel, "pebble: disk slow", errors.New(info.String()))
			},
		}}
	// A Forget's and the sweep's deletes say the size of what they delete
	// (Batch.DeleteSized), which needs this format; a database of an
	// older one is moved to it as it opens.
	opts.FormatMajorVersion = pebble.FormatDeleteSizedAndObsolete
	opts.L0CompactionFileThreshold = l0CompactionFiles
	// Most lookups of a receipt's id miss the tables on disk (the mapping
	// is recent, or unknown): bloom filters answer those without reading
	// a block.
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	return opts
}

// openSafe is pebble.Open, with a panic turned into an error.
func openSafe(dir string, opts *pebble.Options) (db *pebble.DB, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("pebble panicked opening the database: %v", p)
		}
	}()
	return pebble.Open(dir, opts)
}

// prepare brings the store up to date with a database just opened; it
// fails if the database's fence trips meanwhile.
func (s *Store) prepare(d *pebbleDB) (err error) {
	defer func() {
		if p := recover(); p != nil {
			d.fence.trip(fmt.Errorf("pebble panicked: %v", p), true)
		}
		if ft := d.fence.tripped(); ft != nil && err == nil {
			err = ft
		}
	}()
	if err := s.loadSeq(d.DB); err != nil {
		return err
	}
	old, err := hasOldMappings(d.DB)
	if err != nil {
		return err
	}
	if old && !s.old.Load() {
		s.log.Info("mappings of the earlier key layout found: they are read until the last expires")
	}
	s.old.Store(old)
	index, err := hasOldIndex(d.DB)
	if err != nil {
		return err
	}
	s.oldIndex.Store(index)
	if err := s.applyFixes(d); err != nil {
		return err
	}
	if s.first != nil {
		if err := s.first(); err != nil {
			return fmt.Errorf("restoring the outboxes: %w", err)
		}
		s.first = nil
	}
	if ft := d.fence.tripped(); ft != nil {
		return ft
	}
	s.hmu.Lock()
	s.ready = true
	s.hmu.Unlock()
	return nil
}

// WhenOpen runs fn once the database is open and caught up, before the
// store takes writes: now, when it is, or on the keeper goroutine after
// the open to come. It returns fn's error when fn ran now. The daemon
// restores the outboxes with it, so a store that could not open at start
// restores them when it does.
func (s *Store) WhenOpen(fn func() error) error {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	if d, err := s.acquire(); err == nil {
		d.release()
		err := fn()
		var down *storeDown
		if err == nil || !errors.As(err, &down) {
			return err
		}
		// The disk failed between the open and now: nothing was read.
	}
	s.first = fn
	return nil
}

// retire takes d out of use and closes it once no call holds it. Called
// with openMu held.
func (s *Store) retire(d *pebbleDB) {
	s.hmu.Lock()
	if s.cur.Load() == d {
		s.cur.Store(nil)
	}
	s.ready, s.low, s.stalled = false, nil, nil
	if ft := d.fence.tripped(); ft != nil {
		s.down = &storeDown{dir: s.cfg.Dir, kind: ft.cause, what: ft.Error() + "; opening the database again once the disk allows", err: ft}
	}
	s.evaluateLocked()
	s.hmu.Unlock()
	if d.retired.Swap(true) {
		return
	}
	d.release()
	<-d.idle
	s.closeDB(d.DB)
}

// closeDB closes a database, logging what goes wrong: a fenced one may
// report leaks of the work its fault interrupted.
func (s *Store) closeDB(db *pebble.DB) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Warn("closing the store's database panicked", zap.Any("panic", p))
		}
	}()
	if err := db.Close(); err != nil {
		s.log.Warn("closing the store's database", zap.Error(err))
	}
}

// report logs the store's condition when it changes, and again once per
// LogEvery while it lasts.
func (s *Store) report(now time.Time) {
	err := s.Health()
	kind := ""
	var down *storeDown
	if errors.As(err, &down) {
		kind = down.kind
	} else if err != nil {
		return // closed
	}
	switch {
	case kind == s.reported && kind == "":
	case kind == "":
		s.log.Info("the store takes writes again", zap.String("dir", s.cfg.Dir),
			zap.Duration("after", now.Sub(s.downSince).Round(time.Millisecond)))
		s.reported = ""
	case kind != s.reported:
		if s.reported == "" {
			s.downSince = now
		}
		s.log.Warn("the store takes no writes", zap.String("dir", s.cfg.Dir), zap.String("reason", down.what))
		s.reported, s.reportedAt = kind, now
	case now.Sub(s.reportedAt) >= s.cfg.LogEvery:
		s.log.Warn("the store still takes no writes", zap.String("dir", s.cfg.Dir), zap.String("reason", down.what),
			zap.Duration("for", now.Sub(s.downSince).Round(time.Second)))
		s.reportedAt = now
	}
}

// unsure records the fixes of a batch a fence tripped under: its outbox
// items and dead letters were reported failed and may be on the disk.
func (s *Store) unsure(ops []writeOp, errs []error) {
	s.fixMu.Lock()
	defer s.fixMu.Unlock()
	for i := range ops {
		if errs[i] != nil {
			continue
		}
		switch op := &ops[i]; op.kind {
		case kindOutbox:
			s.fixes = append(s.fixes, fix{del: outboxKey(op.systemID, op.seq)})
			if op.mark != nil {
				// Its receipt must not count as relayed: its SMSC sends it again.
				s.fixes = append(s.fixes, fix{del: appendMarkKey(nil, op.mark)})
			}
		case kindWaiting:
			s.fixes = append(s.fixes, fix{del: waitingKey(op.systemID, op.seq)})
		case kindDead:
			d := op.dead
			if op.outboxSeq != 0 {
				v := u64(nil, d.Origin)
				v = u64(v, uint64(d.Arrived.UnixNano()))
				v = append(v, d.Raw...)
				s.fixes = append(s.fixes, fix{restore: outboxKey(d.SystemID, op.outboxSeq), value: v})
			}
			s.fixes = append(s.fixes, fix{del: deadKey(d.SystemID, d.Seq)})
		}
	}
}

// deferDelete keeps an outbox delete for the next open.
func (s *Store) deferDelete(key []byte) {
	s.fixMu.Lock()
	s.fixes = append(s.fixes, fix{del: key})
	s.fixMu.Unlock()
}

func (s *Store) pendingFixes() bool {
	s.fixMu.Lock()
	defer s.fixMu.Unlock()
	return len(s.fixes) > 0
}

// applyFixes applies the pending fixes to d, in the order they came, in
// one synced batch, and then lets outbox deletes go straight to d.
func (s *Store) applyFixes(d *pebbleDB) error {
	s.fixMu.Lock()
	defer s.fixMu.Unlock()
	if len(s.fixes) > 0 {
		b := d.NewBatch()
		var err error
		for _, f := range s.fixes {
			if f.restore != nil {
				// A Delete first: the key is then set once since, as a
				// SingleDelete of it requires.
				err = errors.Join(err, b.Delete(f.restore, nil), b.Set(f.restore, f.value, nil))
			} else {
				err = errors.Join(err, b.Delete(f.del, nil))
			}
		}
		if err == nil {
			err = b.Commit(pebble.Sync)
		}
		_ = b.Close()
		if err == nil {
			if ft := d.fence.tripped(); ft != nil {
				err = ft
			}
		}
		if err != nil {
			return err
		}
		s.log.Info("store: changes of the time the disk failed applied", zap.Int("count", len(s.fixes)))
		s.fixes = nil
	}
	d.fixed.Store(true)
	return nil
}

// write runs fn, a write to d, and fails it if d's fence tripped meanwhile
// or Pebble panicked.
func (s *Store) write(d *pebbleDB, fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			d.fence.trip(fmt.Errorf("pebble panicked: %v", p), true)
		}
		if ft := d.fence.tripped(); ft != nil {
			err = s.downError()
		}
	}()
	return fn()
}
