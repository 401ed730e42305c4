package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/smppmux/smppmux/dlr"
)

type redisOp struct {
	queue func(redis.Pipeliner) redis.Cmder
	done  func(error)
}

func (s *Store) enqueue(op redisOp) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		op.done(dlr.ErrStoreClosed)
		return
	}
	s.q <- op
	s.mu.RUnlock()
}

// writeLoop sends queued writes, many per pipeline, until Close has been
// called and the queue is empty.
func (s *Store) writeLoop() {
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
func (s *Store) write(ops []redisOp) {
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

func (s *Store) pipeline(ops []redisOp) []error {
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
