package redisstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/smppmux/smppmux/dlr"
)

// The store-and-forward queues (dlr.QueueStore), shared by the instances:
// each message is taken by one of them. A group's keys share the hash tag
// {group}, so that one script sees the whole queue on one slot of a
// cluster:
//
//	q:{group}:seq          -> counter numbering the group's messages (Seq)
//	q:{group}:m            -> hash: seq -> message (encodeQueued)
//	q:{group}:a            -> sorted set of every message's seq, taken ones included
//	q:{group}:c:systemID   -> sorted set of the seqs of a client's messages not taken
//	q:{group}:r            -> list: the clients with messages not taken, in turn
//	q:{group}:x            -> sorted set of seq by expiry (Unix ms), taken ones included
//	q:{group}:t            -> hash: seq -> the taker's stamp, "token n" (n numbers its Take)
//	q:{group}:i            -> hash: systemID NUL clientID -> seq
//	q:{group}:f:token      -> the fence of a process's takes and enqueues (PX an hour)
//	q:groups               -> set of the groups that have had a queue (for FindQueued)
//	q:events (channel)     -> a group whose queue had nothing to take and now has
//
// Streams with consumer groups were the first idea, and do not fit: a
// stream is one FIFO, while a group's queue is one FIFO per client taken
// in turn; a message put back must go back before the later ones, which a
// consumer group's pending list cannot do (it can only be claimed by
// another consumer); cancel and expiry reach anywhere in the queue. Sorted
// sets by seq give each of these in O(log n), and a list rotated by Take
// gives the turns.
//
// A message taken is stamped with its taker's token: it is never taken
// again unless put back, and once the taker's instance key
// (instance:N) no longer holds that token the process has ended, and
// Orphans hands the message over to one other caller, restamping it.
//
// Enqueue, Take and PutBack go through the writer like every write, with
// WAIT when replicas are asked for. One whose answer is lost (Redis or
// the network failed after it was sent) may have been carried out or
// not. Its caller hears an error, so the store undoes it, as it does for
// receipts (limbo.go): an enqueued message is removed (the client was
// refused and may send it again), taken messages are put back (they were
// not handed out). The prober does it once Redis answers, and the store
// reports itself unhealthy until then; it first raises the process's
// fence for the group, past the generation the lost write carried, so
// that a write landing late is refused. An enqueued message another
// instance took before the undo is sent; that is logged.

// queueValue layout, the system_id first so that scripts can read it:
//
//	len(systemID)(1) systemID len(clientID)(1) clientID expires(8, Unix ns, 0 none)
//	session(8) submitted(8) PDU
func encodeQueued(m *dlr.Queued) []byte {
	v := make([]byte, 0, 26+len(m.SystemID)+len(m.ClientID)+len(m.Raw))
	v = append(v, byte(len(m.SystemID)))
	v = append(v, m.SystemID...)
	v = append(v, byte(len(m.ClientID)))
	v = append(v, m.ClientID...)
	exp := int64(0)
	if !m.Expires.IsZero() {
		exp = m.Expires.UnixNano()
	}
	v = binary.BigEndian.AppendUint64(v, uint64(exp))
	v = binary.BigEndian.AppendUint64(v, m.Session)
	v = binary.BigEndian.AppendUint64(v, uint64(m.Submitted))
	return append(v, m.Raw...)
}

func decodeQueued(group, seq, v string) (*dlr.Queued, error) {
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: queued message %s/%s", errBadRecord, group, seq)
	}
	m := &dlr.Queued{Group: group, Seq: n}
	b := []byte(v)
	for _, f := range []*string{&m.SystemID, &m.ClientID} {
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return nil, fmt.Errorf("%w: queued message %s/%s", errBadRecord, group, seq)
		}
		*f = string(b[1 : 1+b[0]])
		b = b[1+b[0]:]
	}
	if len(b) < 24 {
		return nil, fmt.Errorf("%w: queued message %s/%s", errBadRecord, group, seq)
	}
	if exp := int64(binary.BigEndian.Uint64(b)); exp != 0 {
		m.Expires = time.Unix(0, exp)
	}
	m.Session = binary.BigEndian.Uint64(b[8:])
	m.Submitted = int64(binary.BigEndian.Uint64(b[16:]))
	m.Raw = b[24:]
	return m, nil
}

// queueKeys are the keys of one group's queue.
type queueKeys struct {
	seq, msgs, all, ring, exp, taken, ids, fence string
	clients                                      string // the prefix of the clients' sorted sets
}

func (s *Store) queueKeys(group string) queueKeys {
	p := s.cfg.Prefix + "q:{" + group + "}:"
	return queueKeys{seq: p + "seq", msgs: p + "m", all: p + "a", ring: p + "r", exp: p + "x", taken: p + "t",
		ids: p + "i", fence: p + "f:" + s.token, clients: p + "c:"}
}

func (s *Store) queueGroupsKey() string { return s.cfg.Prefix + "q:groups" }

func queueField(systemID, clientID string) string { return systemID + "\x00" + clientID }

// queueState is what a Store knows of the queues beyond Redis: the stamps
// of the messages it took, and the writes it must undo.
type queueState struct {
	takes atomic.Uint64 // numbers this process's takes
	gen   atomic.Int64  // the generation queue writes carry, raised by each undo

	mu     sync.Mutex
	stamps map[queueRef]string // messages taken and not yet put back or settled
	undo   map[string]*queueUndo
}

type queueRef struct {
	group string
	seq   uint64
}

// writeNow sends one write through the writer and waits for its answer.
func (s *Store) writeNow(queue func(redis.Pipeliner) redis.Cmder) error {
	errc := make(chan error, 1)
	s.enqueue(redisOp{queue: queue, done: func(err error) { errc <- err }})
	return <-errc
}

// replyError turns the refusals the queue scripts answer into errors in
// SMPP terms.
func replyError(err error) error {
	switch {
	case err == nil:
		return nil
	case strings.HasPrefix(err.Error(), "QUEUEFULL"):
		return dlr.ErrQueueFull
	}
	return err
}

// Enqueue implements dlr.QueueStore: one script checks the bound across
// instances, numbers the message and stores it, in the writer's next
// pipeline.
func (s *Store) Enqueue(m *dlr.Queued, maxItems int, done func(error)) {
	if len(m.SystemID) > 255 || len(m.ClientID) > 255 {
		done(fmt.Errorf("dlr: names longer than 255 octets"))
		return
	}
	k := s.queueKeys(m.Group)
	field := queueField(m.SystemID, m.ClientID)
	v := encodeQueued(m)
	exp := ""
	if !m.Expires.IsZero() {
		// Rounded up: never taken as expired early.
		exp = strconv.FormatInt((m.Expires.UnixNano()+int64(time.Millisecond)-1)/int64(time.Millisecond), 10)
	}
	keys := []string{k.msgs, k.all, k.ring, k.exp, k.ids, k.seq, k.fence}
	var cmd *redis.Cmd
	var groups *redis.IntCmd
	s.enqueue(redisOp{queue: func(p redis.Pipeliner) redis.Cmder {
		groups = p.SAdd(context.Background(), s.queueGroupsKey(), m.Group)
		cmd = scriptQEnqueue.EvalSha(context.Background(), p, keys, k.clients, maxItems, s.queue.gen.Load(), field, exp, v)
		return cmd
	}, done: func(err error) {
		err = replyError(err)
		if err == nil {
			var seq int64
			if seq, err = cmd.Int64(); err == nil {
				m.Seq = uint64(seq)
			}
			if gerr := groups.Err(); gerr != nil {
				s.log.Warn("recording a queue's group failed: query_sm and cancel_sm may not find its messages",
					zap.String("group", m.Group), zap.Error(gerr))
			}
		}
		if mayHaveLanded(err) {
			s.undoLater(m.Group, err, func(u *queueUndo) { u.fields[field] = true })
		}
		done(err)
	}})
}

// Take implements dlr.QueueStore.
func (s *Store) Take(group string, n int) ([]*dlr.Queued, error) {
	k := s.queueKeys(group)
	return s.take(group, func(p redis.Pipeliner, stamp string) *redis.Cmd {
		return scriptQTake.EvalSha(context.Background(), p, []string{k.msgs, k.ring, k.taken, k.fence},
			k.clients, n, s.queue.gen.Load(), stamp)
	})
}

// TakeExpired implements dlr.QueueStore.
func (s *Store) TakeExpired(group string, now time.Time, n int) ([]*dlr.Queued, error) {
	k := s.queueKeys(group)
	ms := now.UnixMilli()
	return s.take(group, func(p redis.Pipeliner, stamp string) *redis.Cmd {
		return scriptQTakeExpired.EvalSha(context.Background(), p, []string{k.msgs, k.ring, k.exp, k.taken, k.fence},
			k.clients, n, s.queue.gen.Load(), stamp, ms)
	})
}

// take runs a take script with a stamp of its own and returns what it
// took, marked taken. A take whose answer is lost is undone.
func (s *Store) take(group string, script func(redis.Pipeliner, string) *redis.Cmd) ([]*dlr.Queued, error) {
	stamp := s.token + " " + strconv.FormatUint(s.queue.takes.Add(1), 10)
	var cmd *redis.Cmd
	err := s.writeNow(func(p redis.Pipeliner) redis.Cmder {
		cmd = script(p, stamp)
		return cmd
	})
	if err != nil {
		if mayHaveLanded(err) {
			s.undoLater(group, err, func(u *queueUndo) { u.stamps[stamp] = true })
		}
		return nil, err
	}
	return s.takenAs(group, cmd, stamp)
}

// takenAs decodes a script's seq, message, seq, message... answer, the
// messages it stamped stamp, and remembers their stamp.
func (s *Store) takenAs(group string, cmd *redis.Cmd, stamp string) ([]*dlr.Queued, error) {
	ms, err := s.decodeList(group, cmd)
	if err != nil {
		return nil, err
	}
	s.queue.mu.Lock()
	if s.queue.stamps == nil {
		s.queue.stamps = make(map[queueRef]string)
	}
	for _, m := range ms {
		m.Taken = true
		s.queue.stamps[queueRef{group, m.Seq}] = stamp
	}
	s.queue.mu.Unlock()
	return ms, nil
}

// decodeList decodes a script's seq, message, seq, message... answer.
func (s *Store) decodeList(group string, cmd *redis.Cmd) ([]*dlr.Queued, error) {
	vals, err := cmd.StringSlice()
	if err != nil {
		return nil, err
	}
	ms := make([]*dlr.Queued, 0, len(vals)/2)
	for i := 0; i+1 < len(vals); i += 2 {
		m, err := decodeQueued(group, vals[i], vals[i+1])
		if err != nil {
			// Taken and left so: it becomes an orphan when this process ends.
			s.log.Error("a queued message in Redis does not decode", zap.String("group", group), zap.Error(err))
			continue
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// PutBack implements dlr.QueueStore: each message goes back if it is
// still stamped by the take that took it (a message handed over as an
// orphan meanwhile stays where it is). A put back whose answer is lost is
// done again once Redis answers.
func (s *Store) PutBack(ms []*dlr.Queued) error {
	by := make(map[string][]any)
	var errs []error
	s.queue.mu.Lock()
	for _, m := range ms {
		ref := queueRef{m.Group, m.Seq}
		st, ok := s.queue.stamps[ref]
		if !ok {
			continue
		}
		by[m.Group] = append(by[m.Group], m.Seq, st)
	}
	s.queue.mu.Unlock()
	for group, pairs := range by {
		k := s.queueKeys(group)
		args := append([]any{k.clients}, pairs...)
		err := s.writeNow(func(p redis.Pipeliner) redis.Cmder {
			return scriptQPutBack.EvalSha(context.Background(), p, []string{k.msgs, k.ring, k.taken}, args...)
		})
		if err != nil && mayHaveLanded(err) {
			s.undoLater(group, err, func(u *queueUndo) {
				for i := 0; i+1 < len(pairs); i += 2 {
					u.pairs[pairs[i].(uint64)] = pairs[i+1].(string)
				}
			})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("queue of %s: %w", group, err))
			continue
		}
		s.queue.mu.Lock()
		for i := 0; i < len(pairs); i += 2 {
			delete(s.queue.stamps, queueRef{group, pairs[i].(uint64)})
		}
		s.queue.mu.Unlock()
		for _, m := range ms {
			if m.Group == group {
				m.Taken = false
			}
		}
	}
	return errors.Join(errs...)
}

// Settle implements dlr.QueueStore.
func (s *Store) Settle(m *dlr.Queued, done func(error)) {
	s.enqueue(redisOp{queue: s.settleCmd(m), done: s.settled(m, done)})
}

// SettleSent implements dlr.QueueStore: the mapping's keys and the
// queue's script go in one pipeline, the script last, so a process that
// ends after sending it leaves both written, and one that ends before,
// neither. A pipeline is not a transaction: another instance may read
// between the two (Orphans looks only at the messages of a process that
// ended), and a Redis Cluster, whose keys of a mapping and of a queue
// live on different nodes, is sent the two parts apart, so a process
// that ends in between may still leave one without the other there.
func (s *Store) SettleSent(m *dlr.Queued, mp dlr.Mapping, done func(error)) {
	s.putMapping(mp, s.settleCmd(m), s.settled(m, done))
}

// settleCmd returns what queues m's removal from its queue in a pipeline.
func (s *Store) settleCmd(m *dlr.Queued) func(redis.Pipeliner) redis.Cmder {
	k := s.queueKeys(m.Group)
	keys := []string{k.msgs, k.all, k.ring, k.exp, k.taken, k.ids}
	args := []any{k.clients, m.Seq, queueField(m.SystemID, m.ClientID)}
	return func(p redis.Pipeliner) redis.Cmder {
		return scriptQSettle.EvalSha(context.Background(), p, keys, args...)
	}
}

// settled returns done, which first forgets m's stamp once m left its
// queue.
func (s *Store) settled(m *dlr.Queued, done func(error)) func(error) {
	return func(err error) {
		if err == nil {
			s.forgetStamp(m)
		}
		done(err)
	}
}

// forgetStamp forgets the stamp m was taken with: it left its queue.
func (s *Store) forgetStamp(m *dlr.Queued) {
	s.queue.mu.Lock()
	delete(s.queue.stamps, queueRef{m.Group, m.Seq})
	s.queue.mu.Unlock()
}

// queueGroups returns the groups that have had a queue.
func (s *Store) queueGroups(ctx context.Context) ([]string, error) {
	return s.c.SMembers(ctx, s.queueGroupsKey()).Result()
}

// FindQueued implements dlr.QueueStore: one look per group, in one round
// trip.
func (s *Store) FindQueued(systemID, clientID string) (*dlr.Queued, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	groups, err := s.queueGroups(ctx)
	if err != nil || len(groups) == 0 {
		return nil, false, err
	}
	field := queueField(systemID, clientID)
	cmds := make([]*redis.Cmd, len(groups))
	if err := s.scriptPipe(ctx, func(p redis.Pipeliner) {
		for i, g := range groups {
			k := s.queueKeys(g)
			cmds[i] = scriptQFind.EvalSha(ctx, p, []string{k.msgs, k.taken, k.ids}, field)
		}
	}); err != nil {
		return nil, false, err
	}
	for i, c := range cmds {
		if m, ok, err := foundQueued(groups[i], c); ok || err != nil {
			return m, ok, err
		}
	}
	return nil, false, nil
}

// scriptPipe runs the script calls build queues in one pipeline of the
// reading client, loading the scripts and running them again once if
// Redis lost them. An answer nil is no error.
func (s *Store) scriptPipe(ctx context.Context, build func(redis.Pipeliner)) error {
	for try := 0; ; try++ {
		pipe := s.c.Pipeline()
		build(pipe)
		cmds, err := pipe.Exec(ctx)
		if errors.Is(err, redis.Nil) {
			err = nil
		}
		noscript := false
		for _, c := range cmds {
			if e := c.Err(); e != nil && !errors.Is(e, redis.Nil) && err == nil {
				err = e
			}
			noscript = noscript || redis.HasErrorPrefix(c.Err(), "NOSCRIPT")
		}
		if !noscript || try > 0 {
			return err
		}
		if lerr := s.loadScripts(); lerr != nil {
			return lerr
		}
	}
}

// foundQueued decodes a {taken, seq, message} answer; nil is none.
func foundQueued(group string, c *redis.Cmd) (*dlr.Queued, bool, error) {
	vals, err := c.Slice()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if len(vals) != 3 {
		return nil, false, fmt.Errorf("%w: %d values for a queued message", errBadRecord, len(vals))
	}
	taken, _ := vals[0].(int64)
	seq, _ := vals[1].(string)
	v, _ := vals[2].(string)
	m, err := decodeQueued(group, seq, v)
	if err != nil {
		return nil, false, err
	}
	m.Taken = taken == 1
	return m, true, nil
}

// CancelQueued implements dlr.QueueStore: the message is found, then
// removed by a script on its group that checks it is not taken; it
// returns once Redis has answered.
func (s *Store) CancelQueued(systemID, clientID string) (*dlr.Queued, bool, error) {
	m, ok, err := s.FindQueued(systemID, clientID)
	if !ok || err != nil {
		return m, ok, err
	}
	if m.Taken {
		return m, true, nil
	}
	k := s.queueKeys(m.Group)
	keys := []string{k.msgs, k.all, k.ring, k.exp, k.taken, k.ids}
	var cmd *redis.Cmd
	if err := s.writeNow(func(p redis.Pipeliner) redis.Cmder {
		cmd = scriptQCancel.EvalSha(context.Background(), p, keys, k.clients, queueField(systemID, clientID))
		return cmd
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, false, err
	}
	return foundQueued(m.Group, cmd)
}

// QueueLen implements dlr.QueueStore.
func (s *Store) QueueLen(group string) (int, time.Time, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	k := s.queueKeys(group)
	vals, err := scriptQLen.Run(ctx, s.c, []string{k.all, k.msgs}).Slice()
	if err != nil {
		return 0, time.Time{}, err
	}
	if len(vals) != 2 {
		return 0, time.Time{}, fmt.Errorf("%w: %d values for a queue's length", errBadRecord, len(vals))
	}
	n, _ := vals[0].(int64)
	v, ok := vals[1].(string)
	if !ok {
		return int(n), time.Time{}, nil
	}
	m, err := decodeQueued(group, "0", v)
	if err != nil || m.Submitted == 0 {
		return int(n), time.Time{}, err
	}
	return int(n), time.Unix(0, m.Submitted), nil
}

// Orphans implements dlr.QueueStore: the messages stamped by processes
// whose instance key no longer holds their token are restamped as this
// process's, by one script, so that each is handed over once, to one
// caller on one instance.
func (s *Store) Orphans(group string) ([]*dlr.Queued, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	k := s.queueKeys(group)
	stamps, err := s.c.HVals(ctx, k.taken).Result()
	if err != nil {
		return nil, err
	}
	dead, err := s.endedTokens(ctx, stamps)
	if err != nil || len(dead) == 0 {
		return nil, err
	}
	stamp := s.token + " 0"
	args := []any{stamp}
	for _, tok := range dead {
		args = append(args, tok)
	}
	var cmd *redis.Cmd
	if err := s.writeNow(func(p redis.Pipeliner) redis.Cmder {
		cmd = scriptQClaim.EvalSha(context.Background(), p, []string{k.msgs, k.taken}, args...)
		return cmd
	}); err != nil {
		return nil, err
	}
	return s.takenAs(group, cmd, stamp)
}

// endedTokens returns the tokens among the stamps' whose instance key
// holds another token or none: their processes have ended.
func (s *Store) endedTokens(ctx context.Context, stamps []string) ([]string, error) {
	seen := make(map[string]bool)
	var toks []string
	for _, st := range stamps {
		tok, _, ok := strings.Cut(st, " ")
		if !ok || tok == s.token || seen[tok] {
			continue
		}
		seen[tok] = true
		toks = append(toks, tok)
	}
	if len(toks) == 0 {
		return nil, nil
	}
	pipe := s.c.Pipeline()
	cmds := make([]*redis.StringCmd, len(toks))
	for i, tok := range toks {
		n, _, _ := strings.Cut(tok, "/")
		cmds[i] = pipe.Get(ctx, s.cfg.Prefix+"instance:"+n)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	var dead []string
	for i, c := range cmds {
		if v, err := c.Result(); errors.Is(err, redis.Nil) || err == nil && v != toks[i] {
			dead = append(dead, toks[i])
		}
	}
	return dead, nil
}

// WatchQueues calls fn with a group's name each time its queue, which
// held nothing to take, gets a message to take (queued or put back, on
// any instance), so that a drainer waiting for messages takes them at
// once. It subscribes once; later calls replace fn.
func (s *Store) WatchQueues(fn func(group string)) {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if s.qpubsub != nil {
		_ = s.qpubsub.Close()
	}
	ps := s.c.Subscribe(context.Background(), s.cfg.Prefix+"q:events")
	s.qpubsub = ps
	s.wg.Go(func() {
		for msg := range ps.Channel() {
			fn(msg.Payload)
		}
	})
}

var _ dlr.QueueStore = (*Store)(nil)
