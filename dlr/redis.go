package dlr

import (
	"context"
	"crypto/rand"
	"encoding/binary"
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
)

// Key layout of the Redis store, under Prefix (default "smppmux:"):
//
//	m:upstream:upstreamID   -> mapping (string, PX = time to expiry), of an id that is its own FoldID
//	f:upstream:folded       -> hash: upstreamID -> mapping, of each other id whose FoldID is folded
//	                           (PX = the latest expiry of its fields; each mapping holds its own)
//	c:{systemID}:clientID   -> the same mapping, by the client's id
//	old-layout-until        -> Unix ms until which an earlier version's mappings may be stored
//	o:{systemID}            -> stream of outbox items: o origin, a arrived (Unix ns), p PDU, and
//	                           for a receipt k, a key of its content (see redis_limbo.go)
//	d:{systemID}            -> stream of dead letters: the same, and t dead since (Unix ns), n attempts,
//	                           f refusals, s last status, r reason
//	w:{systemID}:token      -> the fence of a process's receipt adds (PX an hour; redis_limbo.go)
//	l:{systemID}            -> delivery lease: the token of the instance holding it (PX)
//	h:{systemID}            -> the token of the lease's last holder, until it releases the lease
//	                           (PX a day): a lease that lapsed from another holder is told from a
//	                           released one
//	instance:N              -> the token of the process using instance id N (PX)
//	events (channel)        -> a system_id whose outbox grew or whose lease was released
//
// The keys of one client share the hash tag {systemID}, so on Redis
// Cluster the scripts that touch a client's outbox and lease stay on one
// slot; mappings are single-key commands and spread over the slots. A
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

// RedisConfig holds a RedisStore's settings.
type RedisConfig struct {
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
	OnCommit CommitObserver
}

// RedisStore is a SharedStore on Redis (single, Sentinel or Cluster). One
// writer goroutine sends the writes queued while it was busy as one
// pipeline, so writes share round trips and take effect in the order they
// were made; done is called when Redis has answered. The writer's client
// never sends a pipeline again by itself: an outbox add sent twice would
// be two items. A keeper goroutine renews the instance id; a watcher
// goroutine follows the events channel.
type RedisStore struct {
	c     redis.UniversalClient
	w     redis.UniversalClient // the writer's: no retries
	cfg   RedisConfig
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

	// limbo holds the receipts whose adds had no answer; lastMs is the
	// ms of the latest stream entry id Redis gave; gen is the generation
	// receipt adds carry, raised by each look for them.
	limbo  limbo
	lastMs atomic.Int64
	gen    atomic.Int64
}

// getOp is a lookup, for readLoop or getNow: of an id as written (GET
// key, or HGET hkey field; and old, an earlier version's key of its
// folded form), of a folded form (fkey, the form as an id when that is
// not key, and index, its hash), or both in one round trip; the folded
// part counts only when the id as written is not found.
type getOp struct {
	key, hkey, field, old string
	fkey, index           string
	mark                  string // a relayed receipt's mark, looked for alone
	folded                idKey  // the folded form looked up
	done                  func(*lookupReply)
}

// lookupReply is what a getOp found.
type lookupReply struct {
	m       Mapping // the mapping of the id as written
	ok      bool
	relayed bool   // the mark looked for is there
	route   Origin // the only mapping of the folded form
	n       int    // mappings of the folded form: 0, 1, or 2 for two or more
	err     error
}

// getCmds are a getOp's commands in a pipeline.
type getCmds struct {
	one, old, fone *redis.StringCmd
	all            *redis.MapStringStringCmd
	mark           *redis.IntCmd
}

// recentMappings keeps the last mappings this instance wrote, so that the
// receipts of its own messages, most of them, are matched without a round
// trip.
type recentMappings struct {
	mu sync.Mutex
	r  *recent[string, Mapping]
}

// recentSize bounds recentMappings: two keys per message, so the last
// 32,768 messages.
const recentSize = 1 << 16

func (r *recentMappings) add(k1, k2 string, m Mapping) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.r.put(k1, m)
	r.r.put(k2, m)
}

func (r *recentMappings) remove(keys ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		r.r.remove(k)
	}
}

func (r *recentMappings) get(k string) (Mapping, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.r.get(k)
}

type redisOp struct {
	queue func(redis.Pipeliner) redis.Cmder
	done  func(error)
}

// Lua scripts. The outbox bound and the event are applied where the item
// is added; leases change only when they hold the caller's token.
var (
	// scriptAdd appends an item to the outbox KEYS[1], unless it carries
	// a generation (ARGV[8]) older than the writer's fence KEYS[2] (see
	// redis_limbo.go).
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

// OpenRedis connects to Redis and takes the instance id, waiting up to two
// lease lifetimes for a dead process's claim to lapse.
func OpenRedis(cfg RedisConfig) (*RedisStore, error) {
	if len(cfg.Addrs) == 0 {
		return nil, errors.New("redis store: no address")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "smppmux:"
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 10 * time.Second
	}
	if cfg.WaitTimeout <= 0 {
		cfg.WaitTimeout = time.Second
	}
	if cfg.OldLayoutFor <= 0 {
		cfg.OldLayoutFor = 73 * time.Hour
	}
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
	s := &RedisStore{
		c: c, w: w, cfg: cfg, log: cfg.Logger, token: newToken(cfg.Instance),
		keyEvents: cfg.Prefix + "events",
		recent:    recentMappings{r: newRecent[string, Mapping](recentSize)},
		q:         make(chan redisOp, 8192), rq: make(chan getOp, 8192), stop: make(chan struct{}),
	}
	// Outbox numbers only order items within this process; seed them from
	// the clock like message ids.
	s.seq.Store(uint64(cfg.Now().UnixMicro()))
	if err := s.loadScripts(); err != nil {
		_ = c.Close()
		_ = w.Close()
		return nil, err
	}
	if err := s.claimInstance(); err != nil {
		_ = c.Close()
		_ = w.Close()
		return nil, err
	}
	if err := s.loadOldUntil(); err != nil {
		_ = c.Close()
		_ = w.Close()
		return nil, err
	}
	s.wg.Add(4)
	go func() {
		defer s.wg.Done()
		s.writeLoop()
	}()
	go func() {
		defer s.wg.Done()
		s.probeLoop()
	}()
	go func() {
		defer s.wg.Done()
		s.readLoop()
	}()
	go func() {
		defer s.wg.Done()
		s.keepInstance()
	}()
	return s, nil
}

// SetRedisLogger sends the Redis client's own messages (reconnections,
// Sentinel failovers) to l. The client has one logger for the whole
// process, whichever store it serves, so the process sets it once, at
// start; until then the client writes to the standard logger.
func SetRedisLogger(l *zap.Logger) { redis.SetLogger(redisLogger{l.Sugar()}) }

type redisLogger struct{ l *zap.SugaredLogger }

func (r redisLogger) Printf(_ context.Context, format string, v ...any) { r.l.Infof(format, v...) }

// loadScripts loads the scripts that pipelines call by their digest.
func (s *RedisStore) loadScripts() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, sc := range []*redis.Script{scriptAdd, scriptRelease, scriptDead, scriptIndex, scriptFind} {
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

func (s *RedisStore) instanceKey() string {
	return s.cfg.Prefix + "instance:" + strconv.Itoa(s.cfg.Instance)
}

// claimInstance takes the instance id, or fails once it has stayed taken
// for two lease lifetimes (a live process renews it).
func (s *RedisStore) claimInstance() error {
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
func (s *RedisStore) keepInstance() {
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

// Health implements Store.
func (s *RedisStore) Health() error {
	if p := s.health.Load(); p != nil {
		return *p
	}
	return nil
}

// setHealth records the store's state; err nil means healthy. A change is
// logged once.
func (s *RedisStore) setHealth(err error) {
	var p *error
	if err != nil {
		err = fmt.Errorf("redis store (%s): %w", strings.Join(s.cfg.Addrs, ","), err)
		p = &err
	}
	old := s.health.Swap(p)
	switch {
	case old == nil && p != nil:
		s.log.Error("the store takes no writes: new submits are refused until it does", zap.Error(err))
	case old != nil && p == nil:
		s.log.Info("the store takes writes again")
	}
}

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
func (s *RedisStore) probeLoop() {
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

func (s *RedisStore) probe(key string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*probeTimeout)
	defer cancel()
	s.sweepLimbo(s.cfg.Now())
	pipe := s.c.Pipeline()
	// The looks go first: the WAIT after the SET then also covers the
	// entries they find, written before.
	finds := s.queueFinds(ctx, pipe)
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
	if n := s.unresolved(); n > 0 {
		// Put in limbo since the look was queued.
		return fmt.Errorf("%d outbox writes had no answer and are not looked for yet", n)
	}
	return nil
}

func (s *RedisStore) lease(ctx context.Context, key string) (bool, error) {
	n, err := scriptLease.Run(ctx, s.c, []string{key}, s.token, s.cfg.LeaseTTL.Milliseconds()).Int()
	return n == 1, err
}

func (s *RedisStore) enqueue(op redisOp) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		op.done(ErrStoreClosed)
		return
	}
	s.q <- op
	s.mu.RUnlock()
}

// writeLoop sends queued writes, many per pipeline, until Close has been
// called and the queue is empty.
func (s *RedisStore) writeLoop() {
	ops := make([]redisOp, 0, maxGroup)
	for {
		var ok bool
		if ops, ok = gather(s.q, ops[:0]); !ok {
			return
		}
		s.write(ops)
	}
}

// gather waits for one value from c, then takes those already queued, up
// to maxGroup in all, appending them to buf. It reports false once c is
// closed and empty.
func gather[T any](c <-chan T, buf []T) ([]T, bool) {
	v, ok := <-c
	if !ok {
		return buf, false
	}
	buf = append(buf, v)
	for len(buf) < maxGroup {
		select {
		case v, ok := <-c:
			if !ok {
				return buf, true
			}
			buf = append(buf, v)
		default:
			return buf, true
		}
	}
	return buf, true
}

// write sends ops as one pipeline, loading the scripts into a Redis that
// lost them (a restart or failover) and sending those ops again.
func (s *RedisStore) write(ops []redisOp) {
	start := time.Now()
	errs := s.pipeline(ops)
	if s.cfg.OnCommit != nil {
		var err error
		for _, e := range errs {
			if e != nil && !isReply(e) {
				err = e
				break
			}
		}
		s.cfg.OnCommit(time.Since(start), len(ops), err)
	}
	var again []redisOp
	var againIdx []int
	for i, err := range errs {
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			again = append(again, ops[i])
			againIdx = append(againIdx, i)
		}
	}
	if len(again) > 0 {
		if err := s.loadScripts(); err != nil {
			s.log.Warn("loading scripts into Redis failed", zap.Error(err))
		}
		for j, err := range s.pipeline(again) {
			errs[againIdx[j]] = err
		}
	}
	for i, op := range ops {
		op.done(errs[i])
	}
}

func (s *RedisStore) pipeline(ops []redisOp) []error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pipe := s.w.Pipeline()
	cmds := make([]redis.Cmder, len(ops))
	for i, op := range ops {
		cmds[i] = op.queue(pipe)
	}
	var wait *redis.Cmd
	if s.cfg.WaitReplicas > 0 {
		wait = pipe.Do(ctx, "wait", s.cfg.WaitReplicas, s.cfg.WaitTimeout.Milliseconds())
	}
	_, execErr := pipe.Exec(ctx)
	if execErr != nil && !errors.Is(execErr, redis.Nil) && !isReply(execErr) {
		// Redis is down or unreachable: new submits stop at once,
		// before the next probe says so.
		s.setHealth(execErr)
	}
	errs := make([]error, len(ops))
	for i, c := range cmds {
		errs[i] = c.Err()
		if errs[i] == nil && execErr != nil && !errors.Is(execErr, redis.Nil) && !isReply(execErr) {
			errs[i] = execErr
		}
	}
	if wait != nil {
		if n, err := wait.Int64(); err != nil || n < int64(s.cfg.WaitReplicas) {
			werr := replicaError{n, int64(s.cfg.WaitReplicas), err}
			for i := range errs {
				if errs[i] == nil {
					errs[i] = werr
				}
			}
		}
	}
	return errs
}

// isReply tells a Redis error reply to one command from a failure of the
// whole pipeline (a lost connection).
func isReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}

// loadOldUntil reads until when mappings of the earlier layout may be
// stored: OldLayoutFor after the first opening of a store of this layout
// on this Redis, which records that time.
func (s *RedisStore) loadOldUntil() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	key := s.cfg.Prefix + "old-layout-until"
	if err := s.c.SetNX(ctx, key, s.cfg.Now().Add(s.cfg.OldLayoutFor).UnixMilli(), 0).Err(); err != nil {
		return fmt.Errorf("redis store: %w", err)
	}
	ms, err := s.c.Get(ctx, key).Int64()
	if err != nil {
		return fmt.Errorf("redis store: %s: %w", key, err)
	}
	s.oldUntil = time.UnixMilli(ms).UnixNano()
	return nil
}

func (s *RedisStore) mappingKey(upstream, id string) string {
	return s.cfg.Prefix + "m:" + upstream + ":" + id
}

// indexKey is the hash of the mappings of the ids, other than folded
// itself, whose FoldID is folded.
func (s *RedisStore) indexKey(upstream, folded string) string {
	return s.cfg.Prefix + "f:" + upstream + ":" + folded
}

func (s *RedisStore) clientKey(systemID, clientID string) string {
	return s.cfg.Prefix + "c:{" + systemID + "}:" + clientID
}

func (s *RedisStore) outboxKey(systemID string) string { return s.cfg.Prefix + "o:{" + systemID + "}" }

func (s *RedisStore) leaseKey(systemID string) string { return s.cfg.Prefix + "l:{" + systemID + "}" }

func (s *RedisStore) holderKey(systemID string) string { return s.cfg.Prefix + "h:{" + systemID + "}" }

func (s *RedisStore) fenceKey(systemID string) string {
	return s.cfg.Prefix + "w:{" + systemID + "}:" + s.token
}

// layoutExact ends the mappings this version writes, keyed by the id as
// the SMSC wrote it; earlier versions, which keyed them by the folded id,
// wrote nothing after the fields.
const layoutExact = 1

// encodeMapping writes m as expires(8) session(8) submitted(8) then
// upstream, upstreamID, systemID and clientID each after a one-octet
// length, then layoutExact.
func encodeMapping(m Mapping) []byte {
	b := make([]byte, 24, 29+len(m.Upstream)+len(m.UpstreamID)+len(m.SystemID)+len(m.ClientID))
	binary.BigEndian.PutUint64(b, uint64(m.Expires.UnixNano()))
	binary.BigEndian.PutUint64(b[8:], m.Session)
	binary.BigEndian.PutUint64(b[16:], uint64(m.Submitted))
	for _, f := range []string{m.Upstream, m.UpstreamID, m.SystemID, m.ClientID} {
		b = append(b, byte(len(f)))
		b = append(b, f...)
	}
	return append(b, layoutExact)
}

// earlierLayout reports whether b is a mapping an earlier version wrote,
// under the folded id: its fields end it.
func earlierLayout(b []byte) bool {
	n := 24
	for range 4 {
		if len(b) <= n {
			return false
		}
		n += 1 + int(b[n])
	}
	return len(b) == n
}

var errBadRecord = errors.New("dlr: malformed record in the store")

func decodeMapping(b []byte) (Mapping, error) {
	var m Mapping
	if len(b) < 24 {
		return m, errBadRecord
	}
	m.Expires = time.Unix(0, int64(binary.BigEndian.Uint64(b)))
	m.Session = binary.BigEndian.Uint64(b[8:])
	m.Submitted = int64(binary.BigEndian.Uint64(b[16:]))
	b = b[24:]
	for _, f := range []*string{&m.Upstream, &m.UpstreamID, &m.SystemID, &m.ClientID} {
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return m, errBadRecord
		}
		*f = string(b[1 : 1+b[0]])
		b = b[1+b[0]:]
	}
	return m, nil
}

// PutMapping implements Store: done is called once Redis holds the
// mapping under its id (in its folded form's hash for an id other than
// that form) and under the client's.
func (s *RedisStore) PutMapping(m Mapping, done func(error)) {
	if len(m.Upstream) > 255 || len(m.UpstreamID) > 255 || len(m.SystemID) > 255 || len(m.ClientID) > 255 {
		done(fmt.Errorf("dlr: names longer than 255 octets"))
		return
	}
	ttl := m.Expires.Sub(s.cfg.Now())
	if ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	v := encodeMapping(m)
	pk := idKey{m.Upstream, FoldID(m.UpstreamID)}
	k1, k2 := s.mappingKey(m.Upstream, m.UpstreamID), s.clientKey(m.SystemID, m.ClientID)
	k3 := "" // the hash of an id other than its folded form, which k1 does not hold
	if pk.id != m.UpstreamID {
		k3 = s.indexKey(pk.upstream, pk.id)
	}
	s.pending.add(pk, 1)
	// One op, so every key goes in one pipeline and done hears of all. The
	// script's reply is the op's, so that a Redis that lost its scripts
	// gets them again and the op is sent again.
	var other *redis.StatusCmd
	s.enqueue(redisOp{queue: func(p redis.Pipeliner) redis.Cmder {
		other = p.Set(context.Background(), k2, v, ttl)
		if k3 == "" {
			return p.Set(context.Background(), k1, v, ttl)
		}
		return scriptIndex.EvalSha(context.Background(), p, []string{k3}, m.UpstreamID, v, ttl.Milliseconds())
	}, done: func(err error) {
		if err == nil && other != nil {
			err = other.Err()
		}
		if err == nil {
			s.recent.add(k1, k2, m)
		}
		s.pending.add(pk, -1)
		done(err)
	}})
}

// isPending reports whether a write of a mapping of this folded form is
// under way.
func (s *RedisStore) isPending(upstream, folded string) bool {
	return s.pending.has(idKey{upstream, folded})
}

// pendingWrites counts writes by key, in shards so that concurrent
// writers seldom wait for one another.
type pendingWrites struct {
	shards [16]struct {
		mu sync.Mutex
		m  map[idKey]int
	}
}

func (p *pendingWrites) shard(k idKey) int {
	var h uint32 = 2166136261
	for i := 0; i < len(k.id); i++ {
		h = (h ^ uint32(k.id[i])) * 16777619
	}
	return int(h % uint32(len(p.shards)))
}

// add adds n to k's count.
func (p *pendingWrites) add(k idKey, n int) {
	sh := &p.shards[p.shard(k)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m == nil {
		sh.m = make(map[idKey]int)
	}
	if c := sh.m[k] + n; c > 0 {
		sh.m[k] = c
	} else {
		delete(sh.m, k)
	}
}

// has reports whether k's count is not zero.
func (p *pendingWrites) has(k idKey) bool {
	sh := &p.shards[p.shard(k)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.m[k] > 0
}

func (s *RedisStore) getMapping(key string) (Mapping, bool, error) {
	if m, ok := s.recent.get(key); ok {
		return s.live(m, nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.decodeReply(s.c.Get(ctx, key))
}

// decodeReply turns a GET's reply into a live mapping.
func (s *RedisStore) decodeReply(c *redis.StringCmd) (Mapping, bool, error) {
	return s.reply(c, false)
}

// reply turns a GET's reply into a live mapping; with earlier, only into
// one an earlier version wrote.
func (s *RedisStore) reply(c *redis.StringCmd, earlier bool) (Mapping, bool, error) {
	b, err := c.Bytes()
	if errors.Is(err, redis.Nil) {
		return Mapping{}, false, nil
	}
	if err != nil {
		return Mapping{}, false, err
	}
	if earlier && !earlierLayout(b) {
		return Mapping{}, false, nil
	}
	return s.live(decodeMapping(b))
}

// live reports m found unless it has expired.
func (s *RedisStore) live(m Mapping, err error) (Mapping, bool, error) {
	if err != nil || !m.Expires.After(s.cfg.Now()) {
		return Mapping{}, false, err
	}
	return m, true, nil
}

// exactOp is the lookup of one id: its own key, or for an id other than
// its folded form its field in that form's hash and, while an earlier
// version's mappings may be stored, the folded form's own key.
func (s *RedisStore) exactOp(upstream, id string, done func(*lookupReply)) getOp {
	folded := FoldID(id)
	if folded == id {
		return getOp{key: s.mappingKey(upstream, id), done: done}
	}
	op := getOp{hkey: s.indexKey(upstream, folded), field: id, done: done}
	if s.cfg.Now().UnixNano() < s.oldUntil {
		op.old = s.mappingKey(upstream, folded)
	}
	return op
}

// foldedPart adds to op the lookup of the ids of one folded form: the
// form itself, as an id or as an earlier version's key, and its hash;
// none while a write of such a mapping is under way here.
func (s *RedisStore) foldedPart(op *getOp, upstream, folded string) {
	if s.isPending(upstream, folded) {
		return
	}
	if k := s.mappingKey(upstream, folded); k != op.key {
		op.fkey = k
	}
	op.index, op.folded = s.indexKey(upstream, folded), idKey{upstream, folded}
}

// queueGet adds op's commands to p.
func queueGet(ctx context.Context, p redis.Pipeliner, op *getOp, c *getCmds) {
	*c = getCmds{}
	if op.key != "" {
		c.one = p.Get(ctx, op.key)
	} else if op.hkey != "" {
		c.one = p.HGet(ctx, op.hkey, op.field)
	}
	if op.old != "" {
		c.old = p.Get(ctx, op.old)
	}
	if op.fkey != "" {
		c.fone = p.Get(ctx, op.fkey)
	}
	if op.index != "" {
		c.all = p.HGetAll(ctx, op.index)
	}
	if op.mark != "" {
		c.mark = p.Exists(ctx, op.mark)
	}
}

// answerGet calls op's callback with what its commands found.
func (s *RedisStore) answerGet(op *getOp, c *getCmds) {
	var f lookupReply
	if c.mark != nil {
		n, err := c.mark.Result()
		f.relayed, f.err = n > 0, err
		op.done(&f)
		return
	}
	if c.one != nil {
		f.m, f.ok, f.err = s.reply(c.one, false)
	}
	if !f.ok && f.err == nil && c.old != nil {
		f.m, f.ok, f.err = s.reply(c.old, true)
	}
	if f.ok || f.err != nil || c.all == nil || s.isPending(op.folded.upstream, op.folded.id) {
		op.done(&f)
		return
	}
	count := func(m Mapping, ok bool, err error) error {
		if ok {
			f.route = m.Origin
			f.n++
		}
		return err
	}
	if c.fone != nil {
		f.err = count(s.reply(c.fone, false))
	}
	fields, err := c.all.Result()
	if f.err == nil {
		f.err = err
	}
	for _, v := range fields {
		if f.err == nil {
			f.err = count(s.live(decodeMapping([]byte(v))))
		}
	}
	switch {
	case f.err != nil:
		f.route, f.n = Origin{}, 0
	case f.n > 1:
		f.route, f.n = Origin{}, 2
	}
	op.done(&f)
}

// getNow runs op in a pipeline of its own.
func (s *RedisStore) getNow(op getOp) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var c getCmds
	pipe := s.c.Pipeline()
	queueGet(ctx, pipe, &op, &c)
	_, _ = pipe.Exec(ctx) // each command carries its own error
	s.answerGet(&op, &c)
}

// queueLookup hands op to readLoop.
func (s *RedisStore) queueLookup(op getOp) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		op.done(&lookupReply{err: ErrStoreClosed})
		return
	}
	s.rq <- op
	s.mu.RUnlock()
}

// recentRoute looks an id up in the mappings this instance wrote last.
func (s *RedisStore) recentRoute(upstream, id string) (Origin, bool, error) {
	m, ok := s.recent.get(s.mappingKey(upstream, id))
	if !ok {
		return Origin{}, false, nil
	}
	m, ok, err := s.live(m, nil)
	return m.Origin, ok, err
}

// GetAsync implements AsyncGetter: lookups queued while one is under way
// go as one pipeline.
func (s *RedisStore) GetAsync(upstream, id string, done func(Origin, bool, error)) {
	if r, ok, err := s.recentRoute(upstream, id); ok || err != nil {
		done(r, ok, err)
		return
	}
	s.queueLookup(s.exactOp(upstream, id, func(f *lookupReply) { done(f.m.Origin, f.ok, f.err) }))
}

// FindAsync implements AsyncGetter: a receipt's id as written and, when
// ref allows folding, its folded form go in one round trip, with the
// lookups queued while one is under way.
func (s *RedisStore) FindAsync(upstream string, ref Ref, done func(Origin, Result, error)) {
	if r, ok, err := s.recentRoute(upstream, ref.ID); ok || err != nil {
		done(r, found(ok), err)
		return
	}
	op := s.exactOp(upstream, ref.ID, func(f *lookupReply) {
		switch {
		case f.err != nil:
			done(Origin{}, NotFound, f.err)
		case f.ok:
			done(f.m.Origin, Found, nil)
		default:
			done(f.route, foldedResult(f.n), nil)
		}
	})
	if ref.Folded != "" {
		s.foldedPart(&op, upstream, ref.Folded)
	}
	s.queueLookup(op)
}

// readLoop answers queued lookups, many per pipeline, in order.
func (s *RedisStore) readLoop() {
	ops := make([]getOp, 0, maxGroup)
	cmds := make([]getCmds, maxGroup)
	for {
		var ok bool
		if ops, ok = gather(s.rq, ops[:0]); !ok {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		pipe := s.c.Pipeline()
		for i := range ops {
			queueGet(ctx, pipe, &ops[i], &cmds[i])
		}
		_, _ = pipe.Exec(ctx) // each command carries its own error
		cancel()
		for i := range ops {
			s.answerGet(&ops[i], &cmds[i])
		}
	}
}

// Get implements Store.
func (s *RedisStore) Get(upstream, id string) (Origin, bool, error) {
	if r, ok, err := s.recentRoute(upstream, id); ok || err != nil {
		return r, ok, err
	}
	var f *lookupReply
	s.getNow(s.exactOp(upstream, id, func(res *lookupReply) { f = res }))
	return f.m.Origin, f.ok, f.err
}

// GetFolded implements Store.
func (s *RedisStore) GetFolded(upstream, folded string) (Origin, int, error) {
	var f *lookupReply
	op := getOp{done: func(res *lookupReply) { f = res }}
	s.foldedPart(&op, upstream, folded)
	if op.index == "" {
		return Origin{}, 0, nil
	}
	s.getNow(op)
	return f.route, f.n, f.err
}

// ByClient implements Store.
func (s *RedisStore) ByClient(systemID, clientID string) (Mapping, bool, error) {
	return s.getMapping(s.clientKey(systemID, clientID))
}

// NextSeq implements Store. In a shared outbox items are ordered by when
// Redis added them; this number only orders them within this process.
func (s *RedisStore) NextSeq() uint64 { return s.seq.Add(1) }

// AddOutbox implements Store: the item is appended to systemID's stream,
// which numbers it, and every instance is told. A receipt whose earlier
// copy had no answer is not appended while the store cannot tell whether
// that copy is stored (ErrAddUnresolved), nor once it is found stored:
// then it is answered as stored (see redis_limbo.go).
func (s *RedisStore) AddOutbox(systemID string, it *Item, done func(error)) {
	k := receiptKey(it.Raw)
	if k != "" {
		switch state, seq := s.limbo.take(systemID, k); state {
		case limboStored:
			it.Seq = seq
			done(nil)
			return
		case limboUnresolved:
			done(ErrAddUnresolved)
			return
		}
	}
	keys := []string{s.outboxKey(systemID), s.fenceKey(systemID)}
	var cmd *redis.Cmd
	var floor int64
	var mark *redis.StatusCmd
	s.enqueue(redisOp{queue: func(p redis.Pipeliner) redis.Cmder {
		floor = s.floor()
		gen := ""
		if k != "" {
			gen = strconv.FormatInt(s.gen.Load(), 10)
		}
		if m := it.Mark; m != nil {
			// In the item's pipeline: a mark not written only lets a
			// receipt sent again through, never loses one.
			mark = p.SetArgs(context.Background(), s.markKey(m), "1", redis.SetArgs{ExpireAt: m.Expires})
		}
		cmd = scriptAdd.EvalSha(context.Background(), p, keys,
			s.cfg.MaxItems, it.Origin, it.At.UnixNano(), it.Raw, s.keyEvents, systemID, k, gen)
		return cmd
	}, done: func(err error) {
		if mark != nil && mark.Err() != nil && err == nil {
			s.log.Warn("writing the mark of a relayed receipt failed: if the carrier sends it again it is relayed again",
				zap.Error(mark.Err()))
		}
		if err != nil && strings.HasPrefix(err.Error(), "OUTBOXFULL") {
			err = ErrOutboxFull
		}
		if err == nil {
			var id string
			id, err = cmd.Text()
			if err == nil {
				it.Seq, err = streamSeq(id)
				s.sawStreamID(it.Seq)
			}
		}
		if k != "" && mayHaveLanded(err) {
			s.remember(systemID, k, floor, err)
		}
		done(err)
	}})
}

func (s *RedisStore) markKey(m *Mark) string {
	return s.cfg.Prefix + "r:" + m.Upstream + ":" + strconv.Itoa(int(m.State)) + ":" + m.ID
}

// Relayed implements Store.
func (s *RedisStore) Relayed(m Mark) (bool, error) {
	var f *lookupReply
	s.getNow(getOp{mark: s.markKey(&m), done: func(r *lookupReply) { f = r }})
	return f.relayed, f.err
}

// RelayedAsync implements AsyncGetter.
func (s *RedisStore) RelayedAsync(m Mark, done func(bool, error)) {
	s.queueLookup(getOp{mark: s.markKey(&m), done: func(r *lookupReply) { done(r.relayed, r.err) }})
}

// Forget implements Store.
func (s *RedisStore) Forget(upstream, id, systemID, clientID string) {
	k1, k2 := s.mappingKey(upstream, id), s.clientKey(systemID, clientID)
	folded := FoldID(id)
	s.recent.remove(k1, k2)
	s.enqueue(redisOp{queue: func(p redis.Pipeliner) redis.Cmder {
		if folded != id {
			p.HDel(context.Background(), s.indexKey(upstream, folded), id)
		} else {
			p.Del(context.Background(), k1)
		}
		return p.Del(context.Background(), k2)
	}, done: func(err error) {
		if err != nil {
			s.log.Warn("forgetting the mapping of a message whose final receipt was relayed failed: it lives until it expires",
				zap.Error(err))
		}
	}})
}

// streamSeq turns a stream entry id "ms-n" into a number that sorts the
// same way: ms in the high 44 bits, n in the low 20.
func streamSeq(id string) (uint64, error) {
	ms, n, ok := strings.Cut(id, "-")
	a, err1 := strconv.ParseUint(ms, 10, 44)
	b, err2 := strconv.ParseUint(n, 10, 20)
	if !ok || err1 != nil || err2 != nil {
		return 0, fmt.Errorf("dlr: unexpected stream entry id %q", id)
	}
	return a<<20 | b, nil
}

func streamID(seq uint64) string {
	return strconv.FormatUint(seq>>20, 10) + "-" + strconv.FormatUint(seq&(1<<20-1), 10)
}

// DeleteOutbox implements Store. The delete is queued behind earlier
// writes and a later Release waits for it. Outboxes remove what they
// delivered with Remove, which reports the outcome.
func (s *RedisStore) DeleteOutbox(systemID string, seq uint64) error {
	s.Remove(systemID, []uint64{seq}, func(err error) {
		if err != nil {
			s.log.Warn("removing an item from Redis failed", zap.String("system_id", systemID), zap.Error(err))
		}
	})
	return nil
}

// Remove implements SharedStore: one XDEL, queued behind earlier writes.
func (s *RedisStore) Remove(systemID string, seqs []uint64, done func(error)) {
	key := s.outboxKey(systemID)
	ids := make([]string, len(seqs))
	for i, seq := range seqs {
		ids[i] = streamID(seq)
	}
	s.enqueue(redisOp{queue: func(p redis.Pipeliner) redis.Cmder {
		return p.XDel(context.Background(), key, ids...)
	}, done: done})
}

// LoadOutbox implements Store: a shared outbox is read by the instance
// that leases it, with Pending, not loaded at start.
func (s *RedisStore) LoadOutbox(func(string, *Item)) error { return nil }

// holderKeep is how long the record of a lease's last holder outlives the
// lease: longer than an outage, for the next holder to tell a lapse.
const holderKeep = 24 * time.Hour

// Lease implements SharedStore.
func (s *RedisStore) Lease(systemID string) (LeaseGrant, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.LeaseTTL/3)
	defer cancel()
	n, err := scriptOutboxLease.Run(ctx, s.c, []string{s.leaseKey(systemID), s.holderKey(systemID)},
		s.token, s.cfg.LeaseTTL.Milliseconds(), holderKeep.Milliseconds()).Int()
	if err != nil || n < int(LeaseOther) || n > int(LeaseLapsed) {
		return LeaseOther, err
	}
	return LeaseGrant(n), nil
}

// Release implements SharedStore.
func (s *RedisStore) Release(systemID string) {
	keys := []string{s.leaseKey(systemID), s.holderKey(systemID)}
	s.enqueue(redisOp{queue: func(p redis.Pipeliner) redis.Cmder {
		return scriptRelease.EvalSha(context.Background(), p, keys, s.token, s.keyEvents, systemID)
	}, done: func(err error) {
		if err != nil {
			s.log.Warn("releasing an outbox lease failed: it lapses by itself", zap.String("system_id", systemID), zap.Error(err))
		}
	}})
}

// LeaseTTL implements SharedStore.
func (s *RedisStore) LeaseTTL() time.Duration { return s.cfg.LeaseTTL }

// Pending implements SharedStore.
func (s *RedisStore) Pending(systemID string, after uint64, n int) ([]*Item, error) {
	items, err := readStream(s, s.outboxKey(systemID), after, n, decodeItem)
	if err != nil {
		return items, fmt.Errorf("outbox of %s: %w", systemID, err)
	}
	return items, nil
}

// readStream returns up to n entries of the stream key, those after the
// one numbered after (0: from the first), decoded. An entry that does not
// decode ends the list with an error: skipping it would lose it silently.
func readStream[T any](s *RedisStore, key string, after uint64, n int, decode func(redis.XMessage) (T, error)) ([]T, error) {
	start := "-"
	if after != 0 {
		start = "(" + streamID(after)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msgs, err := s.c.XRangeN(ctx, key, start, "+", int64(n)).Result()
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(msgs))
	for _, m := range msgs {
		v, err := decode(m)
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

func decodeItem(m redis.XMessage) (*Item, error) {
	seq, err := streamSeq(m.ID)
	if err != nil {
		return nil, err
	}
	raw, ok1 := m.Values["p"].(string)
	o, ok2 := m.Values["o"].(string)
	a, ok3 := m.Values["a"].(string)
	origin, err1 := strconv.ParseUint(o, 10, 64)
	at, err2 := strconv.ParseInt(a, 10, 64)
	if !ok1 || !ok2 || !ok3 || err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%w: entry %s", errBadRecord, m.ID)
	}
	return &Item{Raw: []byte(raw), Origin: origin, Seq: seq, At: time.Unix(0, at)}, nil
}

// OutboxLen implements SharedStore.
func (s *RedisStore) OutboxLen(systemID string) (int, time.Time, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	key := s.outboxKey(systemID)
	pipe := s.c.Pipeline()
	n := pipe.XLen(ctx, key)
	first := pipe.XRangeN(ctx, key, "-", "+", 1)
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, time.Time{}, err
	}
	var oldest time.Time
	if msgs := first.Val(); len(msgs) > 0 {
		if it, err := decodeItem(msgs[0]); err == nil {
			oldest = it.At
		}
	}
	return int(n.Val()), oldest, nil
}

// Watch implements SharedStore. It subscribes once; later calls replace fn.
func (s *RedisStore) Watch(fn func(systemID string)) {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if s.pubsub != nil {
		_ = s.pubsub.Close()
	}
	ps := s.c.Subscribe(context.Background(), s.keyEvents)
	s.pubsub = ps
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for msg := range ps.Channel() {
			fn(msg.Payload)
		}
	}()
}

// Close implements Store: queued writes are sent, the instance id is
// given up and the connections closed.
func (s *RedisStore) Close() error {
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
	s.watchMu.Unlock()
	s.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
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
