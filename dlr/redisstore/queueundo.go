package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// queueUndo is what a group's undo must do: put back what the takes
// stamped so took and the put backs in pairs did, remove the messages of
// the client ids in fields.
type queueUndo struct {
	stamps map[string]bool
	pairs  map[uint64]string
	fields map[string]bool
}

func (u *queueUndo) size() int { return len(u.stamps) + len(u.pairs) + len(u.fields) }

// undoLater records, under the group's undo, what f adds, and makes the
// store unhealthy until the prober has done it.
func (s *Store) undoLater(group string, err error, f func(*queueUndo)) {
	q := &s.queue
	q.mu.Lock()
	if q.undo == nil {
		q.undo = make(map[string]*queueUndo)
	}
	u := q.undo[group]
	if u == nil {
		u = &queueUndo{stamps: map[string]bool{}, pairs: map[uint64]string{}, fields: map[string]bool{}}
		q.undo[group] = u
	}
	f(u)
	q.mu.Unlock()
	s.setHealth(fmt.Errorf("a queue write had no answer: %w", err))
}

// queueUnresolved counts what is left to undo.
func (s *Store) queueUnresolved() int {
	q := &s.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, u := range q.undo {
		n += u.size()
	}
	return n
}

// undoCall is one group's undo in a pipeline.
type undoCall struct {
	group string
	u     queueUndo // what it covers
	cmd   *redis.Cmd
}

// queueUndos adds to p one undo per group that has one, and returns them.
func (s *Store) queueUndos(ctx context.Context, p redis.Pipeliner) []*undoCall {
	q := &s.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.undo) == 0 {
		return nil
	}
	// Writes stamped from now on carry gen; those sent before are
	// refused once the undo has landed.
	gen := q.gen.Add(1)
	var out []*undoCall
	for group, u := range q.undo {
		c := &undoCall{group: group, u: queueUndo{stamps: map[string]bool{}, pairs: map[uint64]string{}, fields: map[string]bool{}}}
		k := s.queueKeys(group)
		args := []any{k.clients, gen, fenceKeep.Milliseconds(), len(u.stamps)}
		for st := range u.stamps {
			args = append(args, st)
			c.u.stamps[st] = true
		}
		args = append(args, len(u.pairs))
		for seq, st := range u.pairs {
			args = append(args, seq, st)
			c.u.pairs[seq] = st
		}
		for f := range u.fields {
			args = append(args, f)
			c.u.fields[f] = true
		}
		c.cmd = scriptQUndo.EvalSha(ctx, p, []string{k.msgs, k.all, k.ring, k.exp, k.taken, k.ids, k.fence}, args...)
		out = append(out, c)
	}
	return out
}

// settleUndos forgets what the undos did, once Redis has answered them;
// it returns the first error, what it covers left to undo.
func (s *Store) settleUndos(calls []*undoCall) error {
	var firstErr error
	q := &s.queue
	for _, c := range calls {
		res, err := c.cmd.Int64Slice()
		if err == nil && len(res) != 3 {
			err = fmt.Errorf("dlr: %d values in the answer to a queue undo", len(res))
		}
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		q.mu.Lock()
		if u := q.undo[c.group]; u != nil {
			for st := range c.u.stamps {
				delete(u.stamps, st)
			}
			for seq := range c.u.pairs {
				delete(u.pairs, seq)
			}
			for f := range c.u.fields {
				delete(u.fields, f)
			}
			if u.size() == 0 {
				delete(q.undo, c.group)
			}
		}
		q.mu.Unlock()
		log := s.log.Info
		if res[2] > 0 {
			log = s.log.Warn
		}
		log("queue writes that had no answer undone: messages taken put back, messages whose enqueue was refused removed, "+
			"unless another instance had taken them already (taken_elsewhere: they are sent, and their clients were refused)",
			zap.String("group", c.group), zap.Int64("put_back", res[0]), zap.Int64("removed", res[1]), zap.Int64("taken_elsewhere", res[2]))
	}
	return firstErr
}

// undoQueuesNow does at Close what is left to undo: else the messages a
// take without an answer took would become orphans, with an unknown
// outcome though never sent.
func (s *Store) undoQueuesNow(ctx context.Context) {
	if s.queueUnresolved() == 0 {
		return
	}
	var undos []*undoCall
	err := s.scriptPipe(ctx, func(p redis.Pipeliner) { undos = s.queueUndos(ctx, p) })
	if err == nil {
		err = s.settleUndos(undos)
	}
	if err != nil {
		s.log.Warn("undoing queue writes that had no answer failed before the stop: messages taken are handed over as orphans, "+
			"messages whose enqueue was refused may be sent", zap.Error(err))
	}
}
