package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/internal/recent"
	"github.com/smppmux/smppmux/internal/changes"
	"github.com/smppmux/smppmux/internal/defaults"
)

// Key layout of the Redis store, under Prefix (default "smppmux:"):
//
//	m:upstream:upstreamID   -> mapping (string, PX = time to expiry), of an id that is its own FoldID
//	f:upstream:folded       -> hash: upstreamID -> mapping, of each other id whose FoldID is folded
//	                           (PX = the latest expiry of its fields; each mapping holds its own)
//	c:{systemID}:clientID   -> the same mapping, by the client's id
//	old-layout-until        -> Unix ms until which an earlier version's mappings may be stored
//	o:{systemID}            -> stream of outbox items: o origin, a arrived (Unix ns), p PDU, and
//	                           for a receipt k, a key of its content (see limbo.go)
//	d:{systemID}            -> stream of dead letters: the same, and t dead since (Unix ns), n attempts,
//	                           f refusals, s last status, r reason
//	w:{systemID}:token      -> the fence of a process's receipt adds (PX an hour; limbo.go)
//	l:{systemID}            -> delivery lease: the token of the instance holding it (PX)
//	h:{systemID}            -> the token of the lease's last holder, until it releases the lease
//	                           (PX a day): a lease that lapsed from another holder is told from a
//	                           released one
//	instance:N              -> the token of the process using instance id N (PX)
//	events (channel)        -> a system_id whose outbox grew or whose lease was released
//	q:{group}:...           -> a group's store-and-forward queue: seq (counter), m (messages),
//	                           a (every seq), c:systemID (a client's seqs not taken), r (the
//	                           clients in turn), x (seqs by expiry), t (seq -> the taker's
//	                           stamp), i (client id -> seq), f:token (a process's fence); see queue.go
//	q:groups                -> set of the groups that have had a queue
//	q:events (channel)      -> a group whose queue had nothing to take and now has
//
// The keys of one client share the hash tag {systemID}, so on Redis
// Cluster the scripts that touch a client's outbox and lease stay on one
// slot; mappings are single-key commands and spread over the slots. The
// keys of one group's queue share the hash tag {group}: the queue's
// scripts, which name the clients' sorted sets themselves, stay on its
// slot; a lookup by client id reads every group's, in one pipeline, and
// whether a taker is alive is read from its instance key, apart. A
// receipt's id is one GET, or HGET for an id in upper case or with
// leading zeros; the ids of one folded form are the GET of that form and
// the HGETALL of its hash, in one round trip. A mapping costs two writes,
// as it did in earlier versions: a SET (or a script setting a hash field
// and the hash's expiry) and the SET of the client's key.
//
// Earlier versions kept mappings under the folded id alone, in the same
// m: keys, with values that lack the layout octet this version ends them
// with: those of ids that were their own folded form are found as they
// are; the others are looked for under the folded id, as a fallback,
// until old-layout-until.

// Config holds a Store's settings.
type Config struct {
	// Addrs is one address for a single Redis, or the Sentinels' addresses
	// with MasterName, or several cluster nodes.
	Addrs      []string
	MasterName string
	Username   string
	Password   string
	// SentinelPassword authenticates to the Sentinels.
	SentinelPassword string
	DB               int
	// Prefix starts every key; "smppmux:".
	Prefix string
	// Instance is this process's instance id, unique among the instances
	// sharing the store; the store refuses to open while another live
	// process holds it.
	Instance int
	// LeaseTTL bounds how long an instance that died keeps a client's
	// outbox and its instance id; 10s.
	LeaseTTL time.Duration
	// MaxItems bounds each client's outbox; 0 means no bound.
	MaxItems int
	// WaitReplicas, when positive, makes every write wait until that many
	// replicas have it (Redis WAIT), for up to WaitTimeout (1s).
	WaitReplicas int
	WaitTimeout  time.Duration
	// OldLayoutFor is how long after this version first opened the store
	// the mappings an earlier version wrote (under folded ids only) are
	// still looked for: the longest they live; 73h.
	OldLayoutFor time.Duration
	Logger       *zap.Logger
	Now          func() time.Time
	// OnCommit, if set, is told of each pipeline of writes.
	OnCommit dlr.CommitObserver
}

// Store is a SharedStore on Redis (single, Sentinel or Cluster). One
// writer goroutine sends the writes queued while it was busy as one
// pipeline, so writes share round trips and take effect in the order they
// were made; done is called when Redis has answered. The writer's client
// never sends a pipeline again by itself: an outbox add sent twice would
// be two items. A keeper goroutine renews the instance id; a watcher
// goroutine follows the events channel.
type Store struct {
	c     redis.UniversalClient
	w     redis.UniversalClient // the writer's: no retries
	cfg   Config
	log   *zap.Logger
	token string
	seq   atomic.Uint64

	keyEvents string

	q      chan redisOp
	rq     chan getOp
	stop   chan struct{}
	wg     sync.WaitGroup
	mu     sync.RWMutex // guards closed against sends on q
	closed bool

	watchMu sync.Mutex
	pubsub  *redis.PubSub
	qpubsub *redis.PubSub // WatchQueues's

	recent recentMappings

	// pending counts the mapping writes under way, by upstream and
	// folded id, which GetFolded waits for.
	pending pendingWrites
	// oldUntil is when the last mapping an earlier version wrote expires
	// at the latest, in Unix nanoseconds.
	oldUntil int64

	// health is the store's last known state: nil when writes go
	// through, else why they do not. The prober and the writer set it.
	health atomic.Pointer[error]
	// healthChanged fires when health goes from nil to an error or back.
	healthChanged changes.Signal

	// limbo holds the receipts whose adds had no answer; lastMs is the
	// ms of the latest stream entry id Redis gave; gen is the generation
	// receipt adds carry, raised by each look for them.
	limbo  limbo
	lastMs atomic.Int64
	gen    atomic.Int64

	// queue is what the store-and-forward queues need beyond Redis
	// (queue.go).
	queue queueState
}

// idKey names an upstream message.
type idKey struct{ upstream, id string }

// maxGroup bounds the writes sharing one pipeline, and the lookups.
const maxGroup = 4096

// recentSize bounds recentMappings: two keys per message, so the last
// 32,768 messages.
const recentSize = 1 << 16

func (r *recentMappings) add(k1, k2 string, m dlr.Mapping) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.r.Put(k1, m)
	r.r.Put(k2, m)
}

func (r *recentMappings) remove(keys ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		r.r.Remove(k)
	}
}

func (r *recentMappings) get(k string) (dlr.Mapping, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.r.Get(k)
}

// Lua scripts. The outbox bound and the event are applied where the item
// is added; leases change only when they hold the caller's token.
var (
	// scriptAdd appends an item to the outbox KEYS[1], unless it carries
	// a generation (ARGV[8]) older than the writer's fence KEYS[2] (see
	// limbo.go).
	scriptAdd = redis.NewScript(`
if ARGV[8] ~= '' then
  local f = redis.call('GET', KEYS[2])
  if f and tonumber(f) > tonumber(ARGV[8]) then
    return redis.error_reply('FENCED an add sent before its writer looked for it')
  end
end
local max = tonumber(ARGV[1])
if max > 0 and redis.call('XLEN', KEYS[1]) >= max then
  return redis.error_reply('OUTBOXFULL outbox full')
end
local id
if ARGV[7] ~= '' then
  id = redis.call('XADD', KEYS[1], '*', 'o', ARGV[2], 'a', ARGV[3], 'p', ARGV[4], 'k', ARGV[7])
else
  id = redis.call('XADD', KEYS[1], '*', 'o', ARGV[2], 'a', ARGV[3], 'p', ARGV[4])
end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return id`)
	scriptLease = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`)
	// scriptOutboxLease takes or renews a client's lease (KEYS[1]) and
	// records its holder (KEYS[2]); it returns a LeaseGrant.
	scriptOutboxLease = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then
  return 0
end
local last = redis.call('GET', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
if cur or last == ARGV[1] then
  return 1
end
if last then
  return 3
end
return 2`)
	// scriptRelease gives up a client's lease (KEYS[1]) unless another
	// instance holds it, and its holder record (KEYS[2]) if it is the
	// caller's: everything it delivered is removed.
	scriptRelease = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then
  return 0
end
if cur then
  redis.call('DEL', KEYS[1])
end
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1`)
	scriptDrop = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)
	// scriptIndex sets one field of a folded form's hash and makes the
	// hash live at least as long as that mapping (PEXPIRE GT alone would
	// leave a new hash without expiry).
	scriptIndex = redis.NewScript(`
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local ttl = tonumber(ARGV[3])
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1`)
)

// ErrInstanceInUse means another live process uses the instance id.
var ErrInstanceInUse = errors.New("dlr: instance id in use by another process")

// Open connects to Redis and takes the instance id, waiting up to two
// lease lifetimes for a dead process's claim to lapse.
func Open(cfg Config) (*Store, error) {
	if len(cfg.Addrs) == 0 {
		return nil, errors.New("redis store: no address")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "smppmux:"
	}
	defaults.Positive(&cfg.LeaseTTL, 10*time.Second)
	defaults.Positive(&cfg.WaitTimeout, time.Second)
	defaults.Positive(&cfg.OldLayoutFor, 73*time.Hour)
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	opts := &redis.UniversalOptions{
		Addrs: cfg.Addrs, MasterName: cfg.MasterName, Username: cfg.Username, Password: cfg.Password,
		SentinelPassword: cfg.SentinelPassword, DB: cfg.DB,
		// Every call's context bounds its reads and writes on the
		// socket: without it a Redis that answers nothing holds a call
		// for the client's read timeout, whatever its context says (the
		// health probe took 5 s to notice a hung Redis).
		ContextTimeoutEnabled: true,
	}
	c := redis.NewUniversalClient(opts)
	wopts := *opts
	wopts.MaxRetries = -1
	w := redis.NewUniversalClient(&wopts)
	s := &Store{
		c: c, w: w, cfg: cfg, log: cfg.Logger, token: newToken(cfg.Instance),
		keyEvents: cfg.Prefix + "events",
		recent:    recentMappings{r: recent.New[string, dlr.Mapping](recentSize)},
		q:         make(chan redisOp, 8192), rq: make(chan getOp, 8192), stop: make(chan struct{}),
	}
	// Outbox numbers only order items within this process; seed them from
	// the clock like message ids.
	s.seq.Store(uint64(cfg.Now().UnixMicro()))
	for _, step := range []func() error{s.loadScripts, s.claimInstance, s.loadOldUntil} {
		if err := step(); err != nil {
			_ = c.Close()
			_ = w.Close()
			return nil, err
		}
	}
	s.wg.Go(s.writeLoop)
	s.wg.Go(s.probeLoop)
	s.wg.Go(s.readLoop)
	s.wg.Go(s.keepInstance)
	return s, nil
}

// SetLogger sends the Redis client's own messages (reconnections,
// Sentinel failovers) to l. The client has one logger for the whole
// process, whichever store it serves, so the process sets it once, at
// start; until then the client writes to the standard logger.
func SetLogger(l *zap.Logger) { redis.SetLogger(redisLogger{l.Sugar()}) }

type redisLogger struct{ l *zap.SugaredLogger }

func (r redisLogger) Printf(_ context.Context, format string, v ...any) { r.l.Infof(format, v...) }

// loadScripts loads the scripts that pipelines call by their digest.
func (s *Store) loadScripts() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, sc := range append([]*redis.Script{scriptAdd, scriptRelease, scriptDead, scriptIndex, scriptFind}, queueScripts...) {
		if err := sc.Load(ctx, s.c).Err(); err != nil {
			return fmt.Errorf("redis store: %w", err)
		}
	}
	return nil
}

func newToken(instance int) string {
	host, _ := os.Hostname()
	var r [6]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("%d/%s/%d/%s", instance, host, os.Getpid(), hex.EncodeToString(r[:]))
}

func (s *Store) instanceKey() string {
	return s.cfg.Prefix + "instance:" + strconv.Itoa(s.cfg.Instance)
}

// claimInstance takes the instance id, or fails once it has stayed taken
// for two lease lifetimes (a live process renews it).
func (s *Store) claimInstance() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*s.cfg.LeaseTTL+5*time.Second)
	defer cancel()
	tick := time.NewTicker(s.cfg.LeaseTTL / 10)
	defer tick.Stop()
	deadline := s.cfg.Now().Add(2 * s.cfg.LeaseTTL)
	for {
		ok, err := s.lease(ctx, s.instanceKey())
		if err != nil {
			return fmt.Errorf("redis store: %w", err)
		}
		if ok {
			return nil
		}
		if s.cfg.Now().After(deadline) {
			holder, _ := s.c.Get(ctx, s.instanceKey()).Result()
			return fmt.Errorf("%w: instance %d is held by %s", ErrInstanceInUse, s.cfg.Instance, holder)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("redis store: %w", ctx.Err())
		}
	}
}

// keepInstance renews the instance id until Close.
func (s *Store) keepInstance() {
	tick := time.NewTicker(s.cfg.LeaseTTL / 3)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.LeaseTTL/3)
		ok, err := s.lease(ctx, s.instanceKey())
		cancel()
		switch {
		case err != nil:
			s.log.Warn("renewing the instance id in Redis failed", zap.Error(err))
		case !ok:
			s.log.Error("another process took this instance id: message ids may collide",
				zap.Int("instance", s.cfg.Instance))
		}
	}
}

// Health implements dlr.Store.
func (s *Store) Health() error {
	if p := s.health.Load(); p != nil {
		return *p
	}
	return nil
}

// setHealth records the store's state; err nil means healthy. A change is
// logged once.
func (s *Store) setHealth(err error) {
	var p *error
	if err != nil {
		err = fmt.Errorf("redis store (%s): %w", strings.Join(s.cfg.Addrs, ","), err)
		p = &err
	}
	old := s.health.Swap(p)
	switch {
	case old == nil && p != nil:
		s.log.Error("the store takes no writes: new submits are refused until it does", zap.Error(err))
		s.healthChanged.Fire()
	case old != nil && p == nil:
		s.log.Info("the store takes writes again")
		s.healthChanged.Fire()
	}
}

// HealthChanged returns a channel closed the next time Health goes from
// nil to an error or back.
func (s *Store) HealthChanged() <-chan struct{} { return s.healthChanged.Next() }

// probeEvery is how often the prober writes to Redis; probeTimeout bounds
// one probe. A Redis down or unreachable is noticed within their sum, or
// at once by a write that fails.
const (
	probeEvery   = 500 * time.Millisecond
	probeTimeout = 500 * time.Millisecond
)

// probeLoop writes a short-lived key now and then, with WAIT when writes
// need replicas, and records whether Redis took it. The same round trip
// looks for the receipts in limbo: the store is healthy again only once
// each has been looked for.
func (s *Store) probeLoop() {
	key := s.cfg.Prefix + "health:" + strconv.Itoa(s.cfg.Instance)
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		err := s.probe(key)
		select {
		case <-s.stop:
			return // Close: the probe's failure says nothing
		default:
		}
		s.setHealth(err)
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

func (s *Store) probe(key string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*probeTimeout)
	defer cancel()
	s.sweepLimbo(s.cfg.Now())
	pipe := s.c.Pipeline()
	// The looks go first: the WAIT after the SET then also covers the
	// entries they find, written before.
	finds := s.queueFinds(ctx, pipe)
	undos := s.queueUndos(ctx, pipe)
	pipe.Set(ctx, key, s.token, 10*probeEvery)
	var wait *redis.Cmd
	if s.cfg.WaitReplicas > 0 {
		wait = pipe.Do(ctx, "wait", s.cfg.WaitReplicas, min(s.cfg.WaitTimeout, probeTimeout).Milliseconds())
	}
	if _, err := pipe.Exec(ctx); err != nil {
		if redis.HasErrorPrefix(err, "NOSCRIPT") {
			if lerr := s.loadScripts(); lerr != nil {
				s.log.Warn("loading scripts into Redis failed", zap.Error(lerr))
			}
		}
		return err
	}
	if wait != nil {
		if n, err := wait.Int64(); err != nil || n < int64(s.cfg.WaitReplicas) {
			return fmt.Errorf("written to %d replicas of %d", n, s.cfg.WaitReplicas)
		}
	}
	if err := s.settleFinds(finds); err != nil {
		return err
	}
	if err := s.settleUndos(undos); err != nil {
		return err
	}
	if n := s.unresolved(); n > 0 {
		// Put in limbo since the look was queued.
		return fmt.Errorf("%d outbox writes had no answer and are not looked for yet", n)
	}
	if n := s.queueUnresolved(); n > 0 {
		return fmt.Errorf("%d queue writes had no answer and are not undone yet", n)
	}
	return nil
}

func (s *Store) lease(ctx context.Context, key string) (bool, error) {
	n, err := scriptLease.Run(ctx, s.c, []string{key}, s.token, s.cfg.LeaseTTL.Milliseconds()).Int()
	return n == 1, err
}

// Close implements dlr.Store: queued writes are sent, the instance id is
// given up and the connections closed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.q)
	close(s.rq)
	close(s.stop)
	s.mu.Unlock()
	s.watchMu.Lock()
	if s.pubsub != nil {
		_ = s.pubsub.Close()
	}
	if s.qpubsub != nil {
		_ = s.qpubsub.Close()
	}
	s.watchMu.Unlock()
	s.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	s.undoQueuesNow(ctx)
	if err := scriptDrop.Run(ctx, s.c, []string{s.instanceKey()}, s.token).Err(); err != nil {
		s.log.Warn("giving up the instance id failed: it lapses by itself", zap.Error(err))
	}
	cancel()
	if n := s.unresolved(); n > 0 {
		s.log.Warn("receipts whose adds had no answer were not looked for before the stop: a copy the SMSC sends again may be delivered twice",
			zap.Int("count", n))
	}
	return errors.Join(s.w.Close(), s.c.Close())
}
