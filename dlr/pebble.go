package dlr

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.uber.org/zap"
)

// Key layout of the Pebble store. Every key starts with a one-octet kind.
//
//	M upstream 0 folded 0 upstreamID   -> expires(8) session(8) submitted(8) len(systemID)(1) systemID clientID
//	c systemID 0 clientID              -> expires(8) len(upstream)(1) upstream upstreamID
//	X expires(8) upstream 0 upstreamID -> systemID 0 clientID   (expiry index)
//	o systemID 0 seq(8)                -> origin(8) arrived(8) PDU
//	d systemID 0 seq(8)                -> origin(8) arrived(8) dead(8) attempts(4) refusals(4) status(4) len(reason)(1) reason PDU
//
// upstreamID is the id as the SMSC wrote it and folded its FoldID, so a
// receipt's id is one point lookup and the ids of one folded form one
// short range. Earlier versions kept mappings under the folded id alone:
//
//	m upstream 0 folded                -> as M
//	x expires(8) upstream 0 folded     -> as X
//
// Those are read, as a fallback, and swept until the last has expired;
// their c records hold the folded id.
const (
	kindMapping    = 'M'
	kindClient     = 'c'
	kindExpiry     = 'X'
	kindOutbox     = 'o'
	kindDead       = 'd'
	kindOldMapping = 'm'
	kindOldExpiry  = 'x'
)

// ErrStoreClosed is passed to done for writes queued after Close.
var ErrStoreClosed = errors.New("dlr: store closed")

// PebbleConfig holds a PebbleStore's settings.
type PebbleConfig struct {
	// Dir is the directory of the database; it is created if missing.
	Dir string
	// SweepEvery is how often expired mappings are deleted; 1m.
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
	// OnCommit, if set, is told of each synced batch.
	OnCommit CommitObserver
}

// PebbleStore is a Store in an embedded Pebble database. One committer
// goroutine gathers the writes queued while it was busy into one batch and
// one sync (group commit) and runs their callbacks in the order queued; a
// sweeper goroutine deletes expired mappings; a keeper goroutine opens the
// database, watches the disk and opens the database again after a fault
// of the disk (pebblekeep.go). All three end with Close.
//
// LOCKING: openMu before hmu; openMu before fixMu; deadMu before countMu.
type PebbleStore struct {
	cfg PebbleConfig
	log *zap.Logger
	seq atomic.Uint64

	// cur is the open database, nil while there is none.
	cur    atomic.Pointer[pebbleDB]
	health atomic.Pointer[error]
	wake   chan struct{}
	limit  *logLimit
	// commitStart is when the commit under way began, in Unix
	// nanoseconds; 0 when none is.
	commitStart atomic.Int64

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

	// fixMu guards fixes: changes for the next open (pebblekeep.go).
	fixMu sync.Mutex
	fixes []fix

	q      chan writeOp
	stop   chan struct{}
	wg     sync.WaitGroup
	mu     sync.RWMutex // guards closed against sends on q
	closed bool

	// unsynced counts the mapping writes queued and not yet committed,
	// by upstream and folded id: Get and GetFolded answer "not found" for
	// them without searching the database, which is what a receipt that
	// beats its mapping costs otherwise.
	umu      sync.Mutex
	unsynced map[idKey]pendingIDs
	// recent holds the routes of the mappings committed last, by their
	// exact id. umu guards it too.
	recent *recent[idKey, recentRoute]

	// deadMu serialises the operator's changes to dead letters (purge,
	// requeue); countMu guards dead, the number of each client's, which
	// the committer changes too. LOCKING: deadMu before countMu.
	deadMu  sync.Mutex
	countMu sync.Mutex
	dead    map[string]int

	// old is set while mappings of the earlier key layout may be stored.
	old atomic.Bool
}

// idKey names an upstream message.
type idKey struct{ upstream, id string }

// pendingIDs are the queued writes of the ids of one folded form.
type pendingIDs struct {
	n     int
	id    string // the exact id of the first
	mixed bool   // another exact id was queued with it
}

// recentRoute is a route in PebbleStore.recent.
type recentRoute struct {
	Origin
	expires int64 // Unix nanoseconds
}

// recentRoutes is how many committed mappings a PebbleStore keeps in
// memory (about 3 MiB when full): a second of traffic at the most a
// 2-core machine relays, half a minute at a thousand messages a second.
// A larger map costs every message more in cache misses.
const recentRoutes = 1 << 15

// writeOp is one queued write, encoded into the batch by the committer
// that takes it: a mapping (kind kindMapping), an outbox item
// (kindOutbox) or a dead letter (kindDead).
type writeOp struct {
	kind   byte
	done   func(error)
	m      Mapping
	folded string // FoldID(m.UpstreamID)
	// The outbox item's fields, taken when it was queued.
	systemID    string
	seq, origin uint64
	at          int64
	raw         []byte
	// The mark of a receipt's outbox item, written in the same batch.
	mark *Mark
	// A dead letter, a copy taken when it was queued, and the outbox item
	// it replaces (0: none).
	dead      *DeadLetter
	outboxSeq uint64
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
	if op.kind == kindDead {
		return op.applyDead(b, scratch)
	}
	if op.kind == kindWaiting {
		return op.applyWaiting(b, scratch)
	}
	if op.kind == kindOutbox {
		kv := appendOutboxKey(scratch[:0], op.systemID, op.seq)
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
	if err := b.Set(kv[:n], kv[n:], nil); err != nil {
		return kv, err
	}
	kv = append(kv[:0], kindExpiry)
	kv = u64(kv, exp)
	kv = append(kv, m.Upstream...)
	kv = append(kv, 0)
	kv = append(kv, m.UpstreamID...)
	n = len(kv)
	kv = append(kv, m.SystemID...)
	kv = append(kv, 0)
	kv = append(kv, m.ClientID...)
	return kv, b.Set(kv[:n], kv[n:], nil)
}

// OpenPebble opens or creates the store in cfg.Dir. A fault of the disk
// (full, read-only, failing) does not fail it: the store is returned not
// open, Health says why, and it opens on its own once the disk allows.
// Any other error (a corrupt database, one another process holds) does.
func OpenPebble(cfg PebbleConfig) (*PebbleStore, error) {
	if cfg.SweepEvery <= 0 {
		cfg.SweepEvery = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.FS == nil {
		cfg.FS = vfs.Default
	}
	if cfg.CheckEvery <= 0 {
		cfg.CheckEvery = defaultCheckEvery
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = defaultRetryMax
	}
	if cfg.LogEvery <= 0 {
		cfg.LogEvery = defaultLogEvery
	}
	if cfg.StallAfter <= 0 {
		cfg.StallAfter = defaultStallAfter
	}
	s := &PebbleStore{cfg: cfg, log: cfg.Logger, q: make(chan writeOp, 8192), stop: make(chan struct{}),
		wake: make(chan struct{}, 1), limit: newLogLimit(cfg.LogEvery),
		unsynced: make(map[idKey]pendingIDs), recent: newRecent[idKey, recentRoute](recentRoutes), dead: make(map[string]int)}
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
	s.wg.Add(3)
	go func() {
		defer s.wg.Done()
		s.commitLoop()
	}()
	go func() {
		defer s.wg.Done()
		s.sweepLoop()
	}()
	go func() {
		defer s.wg.Done()
		s.keep()
	}()
	return s, nil
}

func (s *PebbleStore) enqueue(op writeOp) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		s.umu.Lock()
		s.settledLocked(op.mapping())
		s.umu.Unlock()
		op.done(ErrStoreClosed)
		return
	}
	s.q <- op
	s.mu.RUnlock()
}

// memTableSize is the size of Pebble's memtable (its default is 4 MiB).
// A larger one is flushed less often, and each flush of a young database
// is compacted with every table below it: 16 MiB took the relay's CPU
// per message from about 34 to 23-26 us over 400k messages. An outbox
// item delivered before its memtable is flushed never reaches a table.
// The arena is touched only as it fills.
const memTableSize = 16 << 20

// maxGroup bounds the writes sharing one sync.
const maxGroup = 4096

// commitLoop is the only goroutine that commits: what is queued while one
// batch syncs goes out in the next. Four committers, whose batches Pebble
// syncs in turn, cost more syncs for the same writes: in paired runs
// through smppmux at 10,000 msg/s, 20-40% more CPU per message than one,
// and no more throughput at full speed.
func (s *PebbleStore) commitLoop() {
	ops := make([]writeOp, 0, maxGroup)
	for {
		select {
		case op := <-s.q:
			ops = append(ops[:0], op)
		case <-s.stop:
			// Writes queued before Close still land.
			for {
				select {
				case op := <-s.q:
					s.commit([]writeOp{op})
				default:
					return
				}
			}
		}
	gather:
		for len(ops) < maxGroup {
			select {
			case op := <-s.q:
				ops = append(ops, op)
			default:
				break gather
			}
		}
		s.commit(ops)
	}
}

func (s *PebbleStore) commit(ops []writeOp) {
	errs := make([]error, len(ops))
	err := s.commitBatch(ops, errs)
	if err == nil {
		s.countDead(ops, errs)
	}
	// Committed, or failed for good: either way Get may look again.
	s.umu.Lock()
	for i := range ops {
		s.settledLocked(ops[i].mapping())
		if err == nil && errs[i] == nil && ops[i].kind == kindMapping {
			s.rememberLocked(&ops[i].m)
		}
	}
	s.umu.Unlock()
	for i, op := range ops {
		if errs[i] != nil {
			op.done(errs[i])
		} else {
			op.done(err)
		}
	}
}

// commitBatch writes ops in one synced batch, setting errs[i] for an op
// refused on its own. Nothing is written while the store takes no writes;
// a batch under which the database's fence trips fails, and its outbox
// items and dead letters are undone at the next open.
func (s *PebbleStore) commitBatch(ops []writeOp, errs []error) (err error) {
	if err := s.Health(); err != nil {
		return err
	}
	d, err := s.acquire()
	if err != nil {
		return err
	}
	defer d.release()
	committing := false
	defer func() {
		if p := recover(); p != nil {
			d.fence.trip(fmt.Errorf("pebble panicked: %v", p), true)
		}
		if d.fence.tripped() != nil {
			if committing {
				s.unsure(ops, errs)
			}
			err = s.downError()
		}
	}()
	b := d.NewBatch()
	var scratch []byte
	for i := range ops {
		if errs[i] = s.checkDead(&ops[i]); errs[i] == nil {
			scratch, errs[i] = ops[i].apply(b, scratch)
		}
	}
	committing = true
	start := time.Now()
	s.commitStart.Store(start.UnixNano())
	err = b.Commit(pebble.Sync)
	s.commitStart.Store(0)
	_ = b.Close()
	if s.cfg.OnCommit != nil {
		s.cfg.OnCommit(time.Since(start), len(ops), err)
	}
	return err
}

func u64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

func mappingKey(upstream, folded, id string) []byte {
	return appendMappingKey(make([]byte, 0, 3+len(upstream)+len(folded)+len(id)), upstream, folded, id)
}

func appendMappingKey(k []byte, upstream, folded, id string) []byte {
	k = appendFoldedPrefix(k, upstream, folded)
	return append(k, id...)
}

// appendFoldedPrefix appends the start shared by the mapping keys of the
// ids of one folded form.
func appendFoldedPrefix(k []byte, upstream, folded string) []byte {
	k = append(k, kindMapping)
	k = append(k, upstream...)
	k = append(k, 0)
	k = append(k, folded...)
	return append(k, 0)
}

// oldMappingKey is the key of a mapping of the earlier layout.
func oldMappingKey(upstream, folded string) []byte {
	k := make([]byte, 0, 2+len(upstream)+len(folded))
	k = append(k, kindOldMapping)
	k = append(k, upstream...)
	k = append(k, 0)
	return append(k, folded...)
}

func clientKeyBytes(systemID, clientID string) []byte {
	return appendClientKey(make([]byte, 0, 2+len(systemID)+len(clientID)), systemID, clientID)
}

func appendClientKey(k []byte, systemID, clientID string) []byte {
	k = append(k, kindClient)
	k = append(k, systemID...)
	k = append(k, 0)
	return append(k, clientID...)
}

// PutMapping implements Store.
func (s *PebbleStore) PutMapping(m Mapping, done func(error)) {
	if len(m.SystemID) > 255 || len(m.Upstream) > 255 {
		done(fmt.Errorf("dlr: names longer than 255 octets"))
		return
	}
	if strings.IndexByte(m.UpstreamID, 0) >= 0 {
		done(errNULInID)
		return
	}
	op := writeOp{kind: kindMapping, done: done, m: m, folded: FoldID(m.UpstreamID)}
	s.umu.Lock()
	k := op.mapping()
	p := s.unsynced[k]
	if p.n == 0 {
		p.id = m.UpstreamID
	} else if p.id != m.UpstreamID {
		p.mixed = true
	}
	p.n++
	s.unsynced[k] = p
	s.umu.Unlock()
	s.enqueue(op)
}

func (s *PebbleStore) get(key []byte) ([]byte, bool, error) {
	d, err := s.acquire()
	if err != nil {
		return nil, false, err
	}
	defer d.release()
	v, closer, err := d.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := bytes.Clone(v)
	_ = closer.Close()
	return out, true, nil
}

func (s *PebbleStore) isUnsynced(upstream, id string) bool {
	s.umu.Lock()
	defer s.umu.Unlock()
	return s.unsyncedLocked(upstream, FoldID(id), id)
}

// unsyncedLocked reports whether a write of the mapping of id, whose
// folded form is folded, may be queued. Called with umu held.
func (s *PebbleStore) unsyncedLocked(upstream, folded, id string) bool {
	if len(s.unsynced) == 0 {
		return false
	}
	p, ok := s.unsynced[idKey{upstream, folded}]
	return ok && (p.mixed || p.id == id)
}

// settledLocked ends the unsynced state of one write of k. Called with
// umu held.
func (s *PebbleStore) settledLocked(k idKey) {
	if k == (idKey{}) {
		return
	}
	if p := s.unsynced[k]; p.n > 1 {
		p.n--
		s.unsynced[k] = p
	} else {
		delete(s.unsynced, k)
	}
}

func (s *PebbleStore) expired(v []byte) bool {
	return len(v) < 8 || int64(binary.BigEndian.Uint64(v)) <= s.cfg.Now().UnixNano()
}

// Get implements Store. A mapping whose write is not committed yet is
// not found: its writer learns when it is, through PutMapping's done. One
// of the last committed is found in memory.
func (s *PebbleStore) Get(upstream, id string) (Origin, bool, error) {
	folded := FoldID(id)
	s.umu.Lock()
	if s.unsyncedLocked(upstream, folded, id) {
		s.umu.Unlock()
		return Origin{}, false, nil
	}
	r, ok := s.recent.get(idKey{upstream, id})
	s.umu.Unlock()
	if !ok {
		return s.route(upstream, folded, id)
	}
	if r.expires <= s.cfg.Now().UnixNano() {
		return Origin{}, false, nil
	}
	return r.Origin, true, nil
}

// rememberLocked keeps the route of a committed mapping in recent,
// forgetting the oldest. Called with umu held.
func (s *PebbleStore) rememberLocked(m *Mapping) {
	s.recent.put(idKey{m.Upstream, m.UpstreamID}, recentRoute{Origin: m.Origin, expires: m.Expires.UnixNano()})
}

// GetFolded implements Store: a range of the mappings of one folded
// form, and the mapping of the earlier layout under it while there may
// be some.
func (s *PebbleStore) GetFolded(upstream, folded string) (Origin, int, error) {
	s.umu.Lock()
	_, pending := s.unsynced[idKey{upstream, folded}]
	s.umu.Unlock()
	if pending {
		return Origin{}, 0, nil
	}
	d, err := s.acquire()
	if err != nil {
		return Origin{}, 0, err
	}
	defer d.release()
	lower := appendFoldedPrefix(nil, upstream, folded)
	upper := bytes.Clone(lower)
	upper[len(upper)-1]++
	it, err := d.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return Origin{}, 0, err
	}
	var route Origin
	n := 0
	for it.First(); it.Valid() && n < 2; it.Next() {
		v := it.Value()
		if s.expired(v) {
			continue
		}
		if route, err = decodeRoute(v); err != nil {
			_ = it.Close()
			return Origin{}, 0, fmt.Errorf("dlr: mapping %q: %w", it.Key(), err)
		}
		n++
	}
	err = errors.Join(it.Error(), it.Close())
	if err == nil && n < 2 && s.old.Load() {
		var r Origin
		var ok bool
		if r, ok, err = s.oldRoute(upstream, folded); ok {
			route = r
			n++
		}
	}
	if err != nil {
		return Origin{}, 0, err
	}
	if n > 1 {
		return Origin{}, 2, nil
	}
	return route, n, nil
}

// route reads the route of an upstream message from the database, by its
// exact id, or under its folded id as the earlier layout kept it.
func (s *PebbleStore) route(upstream, folded, id string) (Origin, bool, error) {
	v, ok, err := s.get(mappingKey(upstream, folded, id))
	if err != nil {
		return Origin{}, false, err
	}
	if !ok {
		if s.old.Load() {
			return s.oldRoute(upstream, folded)
		}
		return Origin{}, false, nil
	}
	if s.expired(v) {
		return Origin{}, false, nil
	}
	r, err := decodeRoute(v)
	if err != nil {
		return Origin{}, false, fmt.Errorf("dlr: mapping %s/%s: %w", upstream, id, err)
	}
	return r, true, nil
}

// oldRoute reads a mapping of the earlier layout.
func (s *PebbleStore) oldRoute(upstream, folded string) (Origin, bool, error) {
	v, ok, err := s.get(oldMappingKey(upstream, folded))
	if !ok || err != nil || s.expired(v) {
		return Origin{}, false, err
	}
	r, err := decodeRoute(v)
	if err != nil {
		return Origin{}, false, fmt.Errorf("dlr: mapping %s/%s: %w", upstream, folded, err)
	}
	return r, true, nil
}

var (
	errCorrupt = errors.New("corrupt record")
	// errNULInID refuses a message id no SMPP C-string can carry.
	errNULInID = errors.New("dlr: message id with a NUL octet")
)

// decodeRoute reads the route of a mapping's value.
func decodeRoute(v []byte) (Origin, error) {
	if len(v) < 25 || len(v) < 25+int(v[24]) {
		return Origin{}, errCorrupt
	}
	n := int(v[24])
	return Origin{
		Session:   binary.BigEndian.Uint64(v[8:16]),
		Submitted: int64(binary.BigEndian.Uint64(v[16:24])),
		SystemID:  string(v[25 : 25+n]),
		ClientID:  string(v[25+n:]),
	}, nil
}

// hasOldMappings reports whether a mapping of the earlier layout, or an
// entry of its expiry index, is stored in db, expired or not.
func hasOldMappings(db *pebble.DB) (bool, error) {
	for _, kind := range []byte{kindOldMapping, kindOldExpiry} {
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{kind}, UpperBound: []byte{kind + 1}})
		if err != nil {
			return false, err
		}
		found := it.First()
		if err := errors.Join(it.Error(), it.Close()); err != nil || found {
			return found, err
		}
	}
	return false, nil
}

// ByClient implements Store.
func (s *PebbleStore) ByClient(systemID, clientID string) (Mapping, bool, error) {
	v, ok, err := s.get(clientKeyBytes(systemID, clientID))
	if !ok || err != nil || s.expired(v) {
		return Mapping{}, false, err
	}
	if len(v) < 9 || len(v) < 9+int(v[8]) {
		return Mapping{}, false, fmt.Errorf("dlr: corrupt client mapping for %s/%s", systemID, clientID)
	}
	n := int(v[8])
	m := Mapping{
		Upstream:   string(v[9 : 9+n]),
		UpstreamID: string(v[9+n:]),
		Expires:    time.Unix(0, int64(binary.BigEndian.Uint64(v))),
	}
	// Read as stored: a write of the same upstream id under way (an id
	// the SMSC gave twice) does not hide a message its client asks about.
	r, ok, err := s.route(m.Upstream, FoldID(m.UpstreamID), m.UpstreamID)
	if !ok || err != nil {
		return Mapping{}, false, err
	}
	m.Origin = r
	return m, true, nil
}

func outboxKey(systemID string, seq uint64) []byte {
	return appendOutboxKey(make([]byte, 0, 10+len(systemID)), systemID, seq)
}

func appendOutboxKey(k []byte, systemID string, seq uint64) []byte {
	k = append(k, kindOutbox)
	k = append(k, systemID...)
	k = append(k, 0)
	return u64(k, seq)
}

// NextSeq implements Store.
func (s *PebbleStore) NextSeq() uint64 { return s.seq.Add(1) }

// AddOutbox implements Store.
func (s *PebbleStore) AddOutbox(systemID string, it *Item, done func(error)) {
	if it.Seq == 0 {
		it.Seq = s.NextSeq()
	}
	s.enqueue(writeOp{kind: kindOutbox, done: done, systemID: systemID,
		seq: it.Seq, origin: it.Origin, at: it.At.UnixNano(), raw: it.Raw, mark: it.Mark})
}

// DeleteOutbox implements Store. Every outbox key is set once before it
// is deleted (numbers are never given again while their item is stored),
// so a single delete suffices, and an item delivered while its set is
// still in the memtable leaves nothing on disk. While the database is not
// open, or has fixes to apply first, the delete waits for the next open.
func (s *PebbleStore) DeleteOutbox(systemID string, seq uint64) error {
	s.deleteSetOnce(outboxKey(systemID, seq))
	return nil
}

// deleteSetOnce deletes a key that was set once, without a sync. While
// the database is not open, or has fixes to apply first, the delete waits
// for the next open.
func (s *PebbleStore) deleteSetOnce(key []byte) {
	if d, err := s.acquire(); err == nil {
		defer d.release()
		if d.fixed.Load() && s.write(d, func() error { return d.SingleDelete(key, pebble.NoSync) }) == nil {
			return
		}
	}
	s.deferDelete(key)
}

// LoadOutbox implements Store.
func (s *PebbleStore) LoadOutbox(fn func(string, *Item)) error {
	d, err := s.acquire()
	if err != nil {
		return err
	}
	defer d.release()
	return loadOutbox(d.DB, fn)
}

// loadOutbox calls fn for every outbox item of db.
func loadOutbox(db *pebble.DB, fn func(string, *Item)) error {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{kindOutbox}, UpperBound: []byte{kindOutbox + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		k, v := it.Key(), it.Value()
		i := bytes.IndexByte(k[1:], 0)
		if i < 0 || len(k) != 1+i+1+8 || len(v) < 16 {
			return fmt.Errorf("dlr: corrupt outbox key %q", k)
		}
		fn(string(k[1:1+i]), &Item{
			Seq:    binary.BigEndian.Uint64(k[len(k)-8:]),
			Origin: binary.BigEndian.Uint64(v),
			At:     time.Unix(0, int64(binary.BigEndian.Uint64(v[8:16]))),
			Raw:    bytes.Clone(v[16:]),
		})
	}
	return it.Error()
}

// loadSeq continues outbox numbering after the highest item, dead letter
// or waiting receipt stored in db, when it is above the numbers given so
// far, and counts the dead letters of each client again.
func (s *PebbleStore) loadSeq(db *pebble.DB) error {
	var top uint64
	err := loadOutbox(db, func(_ string, it *Item) { top = max(top, it.Seq) })
	if err != nil {
		return err
	}
	if err := loadWaiting(db, func(w *Waiting) { top = max(top, w.Seq) }); err != nil {
		return err
	}
	s.deadMu.Lock()
	defer s.deadMu.Unlock()
	count := make(map[string]int)
	err = scanDead(db, func(systemID string, seq uint64) {
		top = max(top, seq)
		count[systemID]++
	})
	if err != nil {
		return err
	}
	s.countMu.Lock()
	s.dead = count
	s.countMu.Unlock()
	for cur := s.seq.Load(); cur < top; cur = s.seq.Load() {
		if s.seq.CompareAndSwap(cur, top) {
			break
		}
	}
	return nil
}

// sweepLoop deletes expired mappings every SweepEvery.
func (s *PebbleStore) sweepLoop() {
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
func (s *PebbleStore) Sweep() (int, error) {
	n, err := s.sweep(kindExpiry, func(upstream, id string) []byte {
		return mappingKey(upstream, FoldID(id), id)
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
func (s *PebbleStore) sweep(kind byte, key func(upstream, id string) []byte) (int, error) {
	d, err := s.acquire()
	if err != nil {
		return 0, err
	}
	defer d.release()
	upper := u64([]byte{kind}, uint64(s.cfg.Now().UnixNano()))
	it, err := d.NewIter(&pebble.IterOptions{LowerBound: []byte{kind}, UpperBound: upper})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	b := d.NewBatch()
	defer func() { _ = b.Close() }()
	n := 0
	for it.First(); it.Valid(); it.Next() {
		k, v := it.Key(), it.Value()
		if len(k) < 9 {
			continue
		}
		exp := binary.BigEndian.Uint64(k[1:9])
		rest := k[9:]
		i := bytes.IndexByte(rest, 0)
		j := bytes.IndexByte(v, 0)
		if i < 0 || j < 0 {
			continue
		}
		mk := key(string(rest[:i]), string(rest[i+1:]))
		// A newer write of the same id has a later expiry: keep it.
		if cur, ok, _ := s.get(mk); ok && len(cur) >= 8 && binary.BigEndian.Uint64(cur) == exp {
			_ = b.Delete(mk, nil)
		}
		_ = b.Delete(clientKeyBytes(string(v[:j]), string(v[j+1:])), nil)
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

// Close stops the goroutines, lets queued writes land (while the store
// takes writes) and closes the database.
func (s *PebbleStore) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()
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
