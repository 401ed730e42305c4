package pebblestore

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.uber.org/zap"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/internal/recent"
	"github.com/smppmux/smppmux/internal/changes"
	"github.com/smppmux/smppmux/internal/defaults"
)

// Key layout of the Pebble store. Every key starts with a one-octet kind.
//
//	M upstream 0 folded 0 upstreamID   -> expires(8) session(8) submitted(8) len(systemID)(1) systemID clientID
//	c systemID 0 clientID              -> expires(8) len(upstream)(1) upstream upstreamID
//	o systemID 0 seq(8)                -> origin(8) arrived(8) PDU
//	d systemID 0 seq(8)                -> origin(8) arrived(8) dead(8) attempts(4) refusals(4) status(4) len(reason)(1) reason PDU
//
// upstreamID is the id as the SMSC wrote it and folded its FoldID, so a
// receipt's id is one point lookup and the ids of one folded form one
// short range. The sweeper finds expired mappings by their values
// (sweep.go). Earlier versions also kept an expiry index, swept until its
// last entry has expired:
//
//	X expires(8) upstream 0 upstreamID -> systemID 0 clientID
//
// and before that mappings under the folded id alone:
//
//	m upstream 0 folded                -> as M
//	x expires(8) upstream 0 folded     -> as X
//
// Those are read, as a fallback, and swept until the last has expired;
// their c records hold the folded id.
const (
	kindMapping    = 'M'
	kindClient     = 'c'
	kindOutbox     = 'o'
	kindDead       = 'd'
	kindOldMapping = 'm'
	kindOldExpiry  = 'x'
)

// Config holds a Store's settings.
type Config struct {
	// Dir is the directory of the database; it is created if missing.
	Dir string
	// SweepEvery is how long the sweeper takes to visit a million
	// mappings and as many marks, deleting the expired ones (sweep.go);
	// 1m.
	SweepEvery time.Duration
	Logger     *zap.Logger
	Now        func() time.Time
	// FS is the file system the database is on; nil: the disk.
	FS vfs.FS
	// CheckEvery is how often the free space is looked at (250ms); a
	// store that is not open tries to open at most that often.
	CheckEvery time.Duration
	// RetryMax bounds the wait between two failed opens; 2s.
	RetryMax time.Duration
	// LogEvery is how often a condition that lasts is logged again; 1m.
	LogEvery time.Duration
	// StallAfter is how long a commit may take before the store reports
	// its writes stalled; 5s, as Pebble's own DiskSlow event.
	StallAfter time.Duration
	// OnCommit, if set, is told of each synced batch; with SyncInterval,
	// of each sync of the WAL and each failed batch.
	OnCommit dlr.CommitObserver
	// SyncInterval, if positive, acknowledges a write once it is in the
	// WAL, unsynced, and syncs the WAL that often while it was written:
	// a power loss loses up to that much of acknowledged writes, the end
	// of the process nothing. 0: every batch is synced before its writes
	// are acknowledged.
	SyncInterval time.Duration
}

// Store is a Store in an embedded Pebble database. One committer
// goroutine gathers the writes queued while it was busy into one batch and
// one sync (group commit), and a completer goroutine waits for each
// batch's sync and runs their callbacks in the order queued (commit.go); a
// sweeper goroutine deletes expired mappings; a keeper goroutine opens the
// database, watches the disk and opens the database again after a fault
// of the disk (keep.go); with SyncInterval a syncer goroutine syncs the
// WAL (lazysync.go). All end with Close.
//
// LOCKING: openMu before hmu; openMu before fixMu; deadMu before countMu.
type Store struct {
	cfg Config
	log *zap.Logger
	seq atomic.Uint64

	// cur is the open database, nil while there is none.
	cur    atomic.Pointer[pebbleDB]
	health atomic.Pointer[error]
	wake   chan struct{}
	limit  *logLimit
	// healthChanged fires when health goes from nil to an error or back.
	healthChanged changes.Signal
	// commitStart is when the oldest batch not yet committed began, in
	// Unix nanoseconds; 0 when none is under way. pmu guards starts, the
	// beginnings of the batches under way, oldest first.
	commitStart atomic.Int64
	pmu         sync.Mutex
	starts      []int64
	// With SyncInterval: the writes committed since the last sync of the
	// WAL, and when the sync under way began (as commitStart).
	unsyncedWrites atomic.Int64
	syncStart      atomic.Int64

	// openMu serialises opening and retiring databases, WhenOpen and
	// AfterOpen; it guards first, then, opened and the keeper's own state
	// below.
	openMu                sync.Mutex
	first                 func() error
	then                  []func()
	opened                bool // a database was open and caught up once
	retryAt               time.Time
	backoff               time.Duration
	reported              string // the kind of condition logged last; "" healthy
	reportedAt, downSince time.Time

	// hmu guards the conditions Health is made of.
	hmu          sync.Mutex
	down         error // why there is no database
	low, stalled error // the open database's conditions
	ready        bool  // the open database has caught up
	closedState  bool

	// fixMu guards fixes: changes for the next open (keep.go).
	fixMu sync.Mutex
	fixes []fix

	q    chan writeOp
	stop chan struct{}
	// The committer's pipeline (commit.go): the batches applied, in order,
	// for the completer; how many of them it has not yet seen synced; a
	// token the completer gives each time one is, and one a writer gives
	// when pipelineMin writes are queued.
	pipe     chan *pendingBatch
	inflight atomic.Int64
	synced   chan struct{}
	nudge    chan struct{}
	wg       sync.WaitGroup
	mu       sync.RWMutex // guards closed against sends on q
	closed   bool

	// unsynced counts the mapping writes queued and not yet committed,
	// by upstream and folded id: Get and GetFolded answer "not found" for
	// them without searching the database, which is what a receipt that
	// beats its mapping costs otherwise.
	umu      sync.Mutex
	unsynced map[idKey]pendingIDs
	// recent holds the routes of the mappings committed last, by their
	// exact id. umu guards it too.
	recent *recent.Ring[idKey, recentRoute]

	// deadMu serialises the operator's changes to dead letters (purge,
	// requeue); countMu guards dead, the number of each client's, which
	// the committer changes too. LOCKING: deadMu before countMu.
	deadMu  sync.Mutex
	countMu sync.Mutex
	dead    map[string]int

	// faulted is set once a database of this Store failed: a write it was
	// given may have landed in it and been written again since.
	faulted atomic.Bool

	// old is set while mappings of the earlier key layout may be stored,
	// oldIndex while entries of the earlier expiry indexes may be.
	old, oldIndex atomic.Bool

	// queues mirrors the store-and-forward queues stored (queue.go).
	queues queueState
}

// idKey names an upstream message.
type idKey struct{ upstream, id string }

// pendingIDs are the queued writes of the ids of one folded form.
type pendingIDs struct {
	n     int
	id    string // the exact id of the first
	mixed bool   // another exact id was queued with it
}

// recentRoute is a route in Store.recent.
type recentRoute struct {
	dlr.Origin
	expires int64 // Unix nanoseconds
	// relayed has bit s set when a receipt of the message in message
	// state s was relayed, its mark kept until markExpires (Unix
	// nanoseconds, the latest of them): see noteMarkLocked.
	relayed     uint16
	markExpires int64
	// rewritten: the mapping was committed again while kept here, by an
	// id the SMSC gave twice (see Forget).
	rewritten bool
}

// recentRoutes is how many committed mappings a Store keeps in
// memory (about 3 MiB when full): a second of traffic at the most a
// 2-core machine relays, half a minute at a thousand messages a second.
// A larger map costs every message more in cache misses.
const recentRoutes = 1 << 15

// writeOp is one queued write, encoded into the batch by the committer
// that takes it: a mapping (kind kindMapping), an outbox item
// (kindOutbox), a dead letter (kindDead), a waiting receipt
// (kindWaiting), or, unsynced, a mark (kindMark) or a Forget (opForget).
type writeOp struct {
	kind byte
	// done is told the outcome; nil for the unsynced writes, which nobody
	// waits for.
	done   func(error)
	m      dlr.Mapping
	folded string // FoldID(m.UpstreamID)
	// The outbox item's fields, taken when it was queued.
	systemID    string
	seq, origin uint64
	at          int64
	raw         []byte
	// The mark of a receipt's outbox item, written in the same batch.
	mark *dlr.Mark
	// single: a Forget's mapping and client record were each written once
	// (see Forget).
	single bool
	// A dead letter, a copy taken when it was queued, and the outbox item
	// it replaces (0: none).
	dead      *dlr.DeadLetter
	outboxSeq uint64
	// A store-and-forward queue's key and value (kindQueue); a nil
	// value deletes the key. With a mapping or an outbox item, qkey is
	// the queued message they settle, deleted in the same batch.
	qkey, qval []byte
}

// mapping returns the upstream and folded id a PutMapping records; zero
// for other writes.
func (op *writeOp) mapping() idKey {
	if op.kind != kindMapping {
		return idKey{}
	}
	return idKey{op.m.Upstream, op.folded}
}

// apply adds op to b, encoding its keys and values in scratch, which it
// returns for the next op (Pebble copies what it is given).
func (op *writeOp) apply(b *pebble.Batch, scratch []byte) ([]byte, error) {
	scratch, err := op.applyKind(b, scratch)
	if err == nil && op.qkey != nil && (op.kind == kindMapping || op.kind == kindOutbox) {
		err = b.Delete(op.qkey, nil)
	}
	return scratch, err
}

func (op *writeOp) applyKind(b *pebble.Batch, scratch []byte) ([]byte, error) {
	if op.kind == kindDead {
		return op.applyDead(b, scratch)
	}
	if op.kind == kindWaiting {
		return op.applyWaiting(b, scratch)
	}
	if op.kind == kindMark {
		return applyMark(b, op.mark, scratch)
	}
	if op.kind == opForget {
		return op.applyForget(b, scratch)
	}
	if op.kind == kindQueue {
		return scratch, applyQueue(b, op.qkey, op.qval)
	}
	if op.kind == kindOutbox {
		kv := appendSeqKey(scratch[:0], kindOutbox, op.systemID, op.seq)
		n := len(kv)
		kv = u64(kv, op.origin)
		kv = u64(kv, uint64(op.at))
		kv = append(kv, op.raw...)
		if err := b.Set(kv[:n], kv[n:], nil); err != nil || op.mark == nil {
			return kv, err
		}
		return applyMark(b, op.mark, kv)
	}
	m := &op.m
	exp := uint64(m.Expires.UnixNano())
	kv := appendMappingKey(scratch[:0], m.Upstream, op.folded, m.UpstreamID)
	n := len(kv)
	kv = u64(kv, exp)
	kv = u64(kv, m.Session)
	kv = u64(kv, uint64(m.Submitted))
	kv = append(kv, byte(len(m.SystemID)))
	kv = append(kv, m.SystemID...)
	kv = append(kv, m.ClientID...)
	if err := b.Set(kv[:n], kv[n:], nil); err != nil {
		return kv, err
	}
	kv = appendClientKey(kv[:0], m.SystemID, m.ClientID)
	n = len(kv)
	kv = u64(kv, exp)
	kv = append(kv, byte(len(m.Upstream)))
	kv = append(kv, m.Upstream...)
	kv = append(kv, m.UpstreamID...)
	return kv, b.Set(kv[:n], kv[n:], nil)
}

// Open opens or creates the store in cfg.Dir. A fault of the disk
// (full, read-only, failing) does not fail it: the store is returned not
// open, Health says why, and it opens on its own once the disk allows.
// Any other error (a corrupt database, one another process holds) does.
func Open(cfg Config) (*Store, error) {
	defaults.Positive(&cfg.SweepEvery, time.Minute)
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.FS == nil {
		cfg.FS = vfs.Default
	}
	defaults.Positive(&cfg.CheckEvery, defaultCheckEvery)
	defaults.Positive(&cfg.RetryMax, defaultRetryMax)
	defaults.Positive(&cfg.LogEvery, defaultLogEvery)
	defaults.Positive(&cfg.StallAfter, defaultStallAfter)
	s := &Store{cfg: cfg, log: cfg.Logger, q: make(chan writeOp, 8192), stop: make(chan struct{}),
		pipe: make(chan *pendingBatch, pipeDepth), synced: make(chan struct{}, 1), nudge: make(chan struct{}, 1),
		wake: make(chan struct{}, 1), limit: newLogLimit(cfg.LogEvery),
		unsynced: make(map[idKey]pendingIDs), recent: recent.New[idKey, recentRoute](recentRoutes), dead: make(map[string]int)}
	// Numbers from the clock keep order across a wiped outbox too, and
	// are given while the database is not open yet.
	s.seq.Store(uint64(cfg.Now().UnixNano()))
	if err := s.firstOpen(); err != nil {
		return nil, err
	}
	if u, err := s.usage(); err == nil && u.total < MinStateFS {
		s.log.Warn("the store's file system is smaller than it needs at least", zap.String("dir", cfg.Dir),
			zap.String("size", mib(u.total)), zap.String("minimum", mib(MinStateFS)))
	}
	s.wg.Go(s.commitLoop)
	s.wg.Go(s.completeLoop)
	s.wg.Go(s.sweepLoop)
	s.wg.Go(s.keep)
	if cfg.SyncInterval > 0 {
		s.wg.Go(s.syncLoop)
	}
	return s, nil
}

func (s *Store) enqueue(op writeOp) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		s.umu.Lock()
		s.settledLocked(op.mapping())
		s.umu.Unlock()
		op.finish(dlr.ErrStoreClosed)
		return
	}
	s.q <- op
	s.mu.RUnlock()
	if len(s.q) >= pipelineMin {
		select {
		case s.nudge <- struct{}{}:
		default:
		}
	}
}

// finish tells op's writer the outcome, if it waits for one.
func (op *writeOp) finish(err error) {
	if op.done != nil {
		op.done(err)
	}
}

// unsynced reports whether op is written without a sync.
func (op *writeOp) unsynced() bool { return op.kind == kindMark || op.kind == opForget }

// memTableSize is the size of Pebble's memtable (its default is 4 MiB).
// A larger one is flushed less often, and each flush of a young database
// is compacted with every table below it: 16 MiB took the relay's CPU
// per message from about 34 to 23-26 us over 400k messages. An outbox
// item delivered before its memtable is flushed never reaches a table.
// The arena is touched only as it fills.
const memTableSize = 16 << 20

// cacheSize is the size of Pebble's block cache (its default is 8 MiB).
// Every receipt looks its mark up (Relayed), and the mark is usually not
// there: with 8 MiB the index and filter blocks of the tables that lookup
// consults were read from the disk and decompressed again and again,
// Relayed took 25-28% of smppmux's CPU at full speed and a message cost
// 53-58 us of CPU; with 64 MiB, 7-8% and 38-42 us, and 20% more messages
// a second.
const cacheSize = 64 << 20

// Close stops the goroutines, lets queued writes land (while the store
// takes writes) and closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()
	s.syncWAL()
	s.openMu.Lock()
	defer s.openMu.Unlock()
	d := s.cur.Load()
	s.hmu.Lock()
	s.closedState = true
	s.cur.Store(nil)
	s.evaluateLocked()
	s.hmu.Unlock()
	if d == nil {
		return nil
	}
	d.retired.Store(true)
	d.release()
	<-d.idle
	return d.Close()
}
