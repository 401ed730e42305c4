package dlr

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// How a PebbleStore lives through a failing disk
//
// The database is opened through a fence (pebblefence.go): the first
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

// MinStateFS is the smallest file system the README's footprint
// allows for state_dir: the WAL files Pebble preallocates and keeps for
// reuse, a memtable's flush and its compaction, and the low-water mark,
// with room for some tens of thousands of outstanding messages.
// `smppmux check-config` warns below it.
const MinStateFS = 256 << 20

// StateFSSize returns the size of the file system that holds dir, or
// its nearest parent while dir does not exist.
func StateFSSize(dir string) (int64, error) {
	u, err := fsUsage(vfs.Default, dir)
	return u.total, err
}

// lowSpace returns the free space below which a store on a file system of
// total bytes takes no writes, and the free space at which it takes them
// again: a thirty-second of the file system, between 4 and 64 MiB, and
// twice that.
func lowSpace(total int64) (stop, resume int64) {
	stop = min(max(total/32, 4<<20), 64<<20)
	return stop, 2 * stop
}

const (
	defaultCheckEvery = 250 * time.Millisecond
	defaultRetryMax   = 2 * time.Second
	defaultLogEvery   = time.Minute
	defaultStallAfter = 5 * time.Second
)

// pebbleDB is one open database of a PebbleStore and the fence it writes
// through. A call holds it (acquire, release) while it uses the database;
// the keeper closes it once it is retired and no call holds it.
type pebbleDB struct {
	*pebble.DB
	fence *fence
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

// storeDown is a PebbleStore's answer to Health while it takes no writes,
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
func (s *PebbleStore) acquire() (*pebbleDB, error) {
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
func (s *PebbleStore) downError() error {
	if err := s.Health(); err != nil {
		return err
	}
	return &storeDown{dir: s.cfg.Dir, kind: downOpening, what: downOpening}
}

// Health implements Store: nil while the store takes writes, else why not.
func (s *PebbleStore) Health() error {
	if e := s.health.Load(); e != nil {
		return *e
	}
	return nil
}

// evaluateLocked sets Health from the store's state. Called with hmu
// held.
func (s *PebbleStore) evaluateLocked() {
	var err error
	d := s.cur.Load()
	switch {
	case s.closedState:
		err = ErrStoreClosed
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
	if err == nil {
		s.health.Store(nil)
	} else {
		s.health.Store(&err)
	}
}

func (s *PebbleStore) evaluate() {
	s.hmu.Lock()
	s.evaluateLocked()
	s.hmu.Unlock()
}

// tripped is called by a database's fence at its first fault: Health says
// so at once, and the keeper closes the database.
func (s *PebbleStore) tripped() {
	s.evaluate()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// firstOpen makes the first attempt to open the database, in OpenPebble: an
// error that is no fault of the disk (a corrupt database, one another
// process holds) is returned; a fault leaves the keeper to open it later.
func (s *PebbleStore) firstOpen() error {
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
func (s *PebbleStore) keep() {
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

func (s *PebbleStore) check() {
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
func (s *PebbleStore) watch(d *pebbleDB, now time.Time) {
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
	if start := s.commitStart.Load(); start != 0 {
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

// diskUsage is the space of the file system holding the store.
type diskUsage struct{ free, total int64 }

// usage reads the free space of the file system of the store's directory,
// or of its nearest parent while it does not exist.
func (s *PebbleStore) usage() (diskUsage, error) {
	return fsUsage(s.cfg.FS, s.cfg.Dir)
}

func fsUsage(fs vfs.FS, dir string) (diskUsage, error) {
	for {
		u, err := fs.GetDiskUsage(dir)
		if err == nil {
			return diskUsage{free: int64(u.AvailBytes), total: int64(u.TotalBytes)}, nil
		}
		parent := filepath.Dir(dir)
		if !errors.Is(err, os.ErrNotExist) || parent == dir {
			return diskUsage{}, err
		}
		dir = parent
	}
}

func (s *PebbleStore) lowSpaceError(u diskUsage, resume int64) error {
	return &storeDown{dir: s.cfg.Dir, kind: diskFull,
		what: fmt.Sprintf("disk full: %s free of %s; writes resume at %s free", mib(u.free), mib(u.total), mib(resume))}
}

// mib writes a size in MiB.
func mib(n int64) string {
	if n < 10<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d MiB", n>>20)
}

// mayPreallocate lets a WAL file preallocate length bytes only while the
// disk keeps twice the resume mark free after it.
func (s *PebbleStore) mayPreallocate(length int64) bool {
	u, err := s.usage()
	if err != nil {
		return true
	}
	_, resume := lowSpace(u.total)
	return u.free-length >= 2*resume
}

// tryOpen opens the database unless the disk is short of space, and makes
// it current once it has caught up with the store: dead letter counts,
// outbox numbering, fixes, the outboxes' first restore. Called with
// openMu held.
func (s *PebbleStore) tryOpen() (err error) {
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
func (s *PebbleStore) afterOpen() {
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
func (s *PebbleStore) AfterOpen(fn func()) {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	if s.opened {
		fn()
		return
	}
	s.then = append(s.then, fn)
}

// options are the Pebble options of a database opened through f.
func (s *PebbleStore) options(f *fence) *pebble.Options {
	logger := pebbleLogger{l: s.log, limit: s.limit, fence: f}
	opts := &pebble.Options{FS: f, Logger: logger, MemTableSize: memTableSize,
		EventListener: &pebble.EventListener{
			BackgroundError: func(err error) { logger.limited(zap.ErrorLevel, "pebble: background error", err) },
			DataCorruption: func(info pebble.DataCorruptionInfo) {
				logger.limited(zap.ErrorLevel, "pebble: data corruption", errors.New(info.String()))
			},
			DiskSlow: func(info pebble.DiskSlowInfo) {
				logger.limited(zap.WarnLevel, "pebble: disk slow", errors.New(info.String()))
			},
		}}
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
func (s *PebbleStore) prepare(d *pebbleDB) (err error) {
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
func (s *PebbleStore) WhenOpen(fn func() error) error {
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
func (s *PebbleStore) retire(d *pebbleDB) {
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
func (s *PebbleStore) closeDB(db *pebble.DB) {
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
func (s *PebbleStore) report(now time.Time) {
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
func (s *PebbleStore) unsure(ops []writeOp, errs []error) {
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
func (s *PebbleStore) deferDelete(key []byte) {
	s.fixMu.Lock()
	s.fixes = append(s.fixes, fix{del: key})
	s.fixMu.Unlock()
}

func (s *PebbleStore) pendingFixes() bool {
	s.fixMu.Lock()
	defer s.fixMu.Unlock()
	return len(s.fixes) > 0
}

// applyFixes applies the pending fixes to d, in the order they came, in
// one synced batch, and then lets outbox deletes go straight to d.
func (s *PebbleStore) applyFixes(d *pebbleDB) error {
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
func (s *PebbleStore) write(d *pebbleDB, fn func() error) (err error) {
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

// logLimit lets a line of a kind through at most once per interval,
// counting the ones it held back.
type logLimit struct {
	every time.Duration
	mu    sync.Mutex
	seen  map[string]*limitState
}

type limitState struct {
	last    time.Time
	skipped int
}

func newLogLimit(every time.Duration) *logLimit {
	return &logLimit{every: every, seen: make(map[string]*limitState)}
}

// allow reports whether a line of kind goes out now, and how many were
// held back since the last.
func (l *logLimit) allow(kind string) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	st := l.seen[kind]
	if st == nil {
		if len(l.seen) >= 256 {
			clear(l.seen)
		}
		st = &limitState{}
		l.seen[kind] = st
	} else if now.Sub(st.last) < l.every {
		st.skipped++
		return false, 0
	}
	n := st.skipped
	st.last, st.skipped = now, 0
	return true, n
}

// pebbleLogger sends Pebble's own messages to zap: information at debug,
// errors at most once a minute for each kind. Fatalf does not end the
// process: it fences the database, whose store then fails its writes and
// opens it again, and returns.
type pebbleLogger struct {
	l     *zap.Logger
	limit *logLimit
	fence *fence
}

func (p pebbleLogger) Infof(format string, args ...any) { p.l.Sugar().Debugf(format, args...) }

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.limited(zap.ErrorLevel, "pebble: "+format, fmt.Errorf(format, args...))
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	err := fmt.Errorf(format, args...)
	p.fence.trip(err, true)
	p.limited(zap.ErrorLevel, "pebble: fatal error: the store's writes stop until the database is opened again", err)
}

// limited logs msg with err, at most once per the limit's interval for
// each msg.
func (p pebbleLogger) limited(level zapcore.Level, msg string, err error) {
	ok, n := p.limit.allow(msg)
	if !ok {
		return
	}
	if ce := p.l.Check(level, msg); ce != nil {
		ce.Write(zap.Error(err), zap.Int("more_since_last_line", n))
	}
}
