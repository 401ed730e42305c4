package redisstore

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/internal/recent"
)

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
	m       dlr.Mapping // the mapping of the id as written
	ok      bool
	relayed bool       // the mark looked for is there
	route   dlr.Origin // the only mapping of the folded form
	n       int        // mappings of the folded form: 0, 1, or 2 for two or more
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
	r  *recent.Ring[string, dlr.Mapping]
}

func (s *Store) getMapping(key string) (dlr.Mapping, bool, error) {
	if m, ok := s.recent.get(key); ok {
		return s.live(m, nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.decodeReply(s.c.Get(ctx, key))
}

// decodeReply turns a GET's reply into a live mapping.
func (s *Store) decodeReply(c *redis.StringCmd) (dlr.Mapping, bool, error) {
	return s.reply(c, false)
}

// reply turns a GET's reply into a live mapping; with earlier, only into
// one an earlier version wrote.
func (s *Store) reply(c *redis.StringCmd, earlier bool) (dlr.Mapping, bool, error) {
	b, err := c.Bytes()
	if errors.Is(err, redis.Nil) {
		return dlr.Mapping{}, false, nil
	}
	if err != nil {
		return dlr.Mapping{}, false, err
	}
	if earlier && !earlierLayout(b) {
		return dlr.Mapping{}, false, nil
	}
	return s.live(decodeMapping(b))
}

// live reports m found unless it has expired.
func (s *Store) live(m dlr.Mapping, err error) (dlr.Mapping, bool, error) {
	if err != nil || !m.Expires.After(s.cfg.Now()) {
		return dlr.Mapping{}, false, err
	}
	return m, true, nil
}

// exactOp is the lookup of one id: its own key, or for an id other than
// its folded form its field in that form's hash and, while an earlier
// version's mappings may be stored, the folded form's own key.
func (s *Store) exactOp(upstream, id string, done func(*lookupReply)) getOp {
	folded := dlr.FoldID(id)
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
func (s *Store) foldedPart(op *getOp, upstream, folded string) {
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
func (s *Store) answerGet(op *getOp, c *getCmds) {
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
	count := func(m dlr.Mapping, ok bool, err error) error {
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
		f.route, f.n = dlr.Origin{}, 0
	case f.n > 1:
		f.route, f.n = dlr.Origin{}, 2
	}
	op.done(&f)
}

// getNow runs op in a pipeline of its own.
func (s *Store) getNow(op getOp) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var c getCmds
	pipe := s.c.Pipeline()
	queueGet(ctx, pipe, &op, &c)
	_, _ = pipe.Exec(ctx) // each command carries its own error
	s.answerGet(&op, &c)
}

// queueLookup hands op to readLoop.
func (s *Store) queueLookup(op getOp) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		op.done(&lookupReply{err: dlr.ErrStoreClosed})
		return
	}
	s.rq <- op
	s.mu.RUnlock()
}

// recentRoute looks an id up in the mappings this instance wrote last.
func (s *Store) recentRoute(upstream, id string) (dlr.Origin, bool, error) {
	m, ok := s.recent.get(s.mappingKey(upstream, id))
	if !ok {
		return dlr.Origin{}, false, nil
	}
	m, ok, err := s.live(m, nil)
	return m.Origin, ok, err
}

// GetAsync implements dlr.AsyncGetter: lookups queued while one is under way
// go as one pipeline.
func (s *Store) GetAsync(upstream, id string, done func(dlr.Origin, bool, error)) {
	if r, ok, err := s.recentRoute(upstream, id); ok || err != nil {
		done(r, ok, err)
		return
	}
	s.queueLookup(s.exactOp(upstream, id, func(f *lookupReply) { done(f.m.Origin, f.ok, f.err) }))
}

// FindAsync implements dlr.AsyncGetter: a receipt's id as written and, when
// ref allows folding, its folded form go in one round trip, with the
// lookups queued while one is under way.
func (s *Store) FindAsync(upstream string, ref dlr.Ref, done func(dlr.Origin, dlr.Result, error)) {
	if r, ok, err := s.recentRoute(upstream, ref.ID); ok || err != nil {
		done(r, dlr.ExactResult(ok), err)
		return
	}
	op := s.exactOp(upstream, ref.ID, func(f *lookupReply) {
		switch {
		case f.err != nil:
			done(dlr.Origin{}, dlr.NotFound, f.err)
		case f.ok:
			done(f.m.Origin, dlr.Found, nil)
		default:
			done(f.route, dlr.FoldedResult(f.n), nil)
		}
	})
	if ref.Folded != "" {
		s.foldedPart(&op, upstream, ref.Folded)
	}
	s.queueLookup(op)
}

// readLoop answers queued lookups, many per pipeline, in order.
func (s *Store) readLoop() {
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

// Get implements dlr.Store.
func (s *Store) Get(upstream, id string) (dlr.Origin, bool, error) {
	if r, ok, err := s.recentRoute(upstream, id); ok || err != nil {
		return r, ok, err
	}
	var f *lookupReply
	s.getNow(s.exactOp(upstream, id, func(res *lookupReply) { f = res }))
	return f.m.Origin, f.ok, f.err
}

// GetFolded implements dlr.Store.
func (s *Store) GetFolded(upstream, folded string) (dlr.Origin, int, error) {
	var f *lookupReply
	op := getOp{done: func(res *lookupReply) { f = res }}
	s.foldedPart(&op, upstream, folded)
	if op.index == "" {
		return dlr.Origin{}, 0, nil
	}
	s.getNow(op)
	return f.route, f.n, f.err
}

// ByClient implements dlr.Store.
func (s *Store) ByClient(systemID, clientID string) (dlr.Mapping, bool, error) {
	return s.getMapping(s.clientKey(systemID, clientID))
}
