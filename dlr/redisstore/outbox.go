package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/smppmux/smppmux/dlr"
)

// NextSeq implements dlr.Store. In a shared outbox items are ordered by when
// Redis added them; this number only orders them within this process.
func (s *Store) NextSeq() uint64 { return s.seq.Add(1) }

// AddOutbox implements dlr.Store: the item is appended to systemID's stream,
// which numbers it, and every instance is told. A receipt whose earlier
// copy had no answer is not appended while the store cannot tell whether
// that copy is stored (ErrAddUnresolved), nor once it is found stored:
// then it is answered as stored (see limbo.go).
func (s *Store) AddOutbox(systemID string, it *dlr.Item, done func(error)) {
	k := receiptKey(it.Raw)
	if k != "" {
		switch state, seq := s.limbo.take(systemID, k); state {
		case limboStored:
			it.Seq = seq
			s.settleAfter(it.Settles, done)
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
	var settle redis.Cmder
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
		if it.Settles != nil {
			// After the item: Redis runs them in order, so a process that
			// ends once the pipeline is sent leaves both done.
			settle = s.settleCmd(it.Settles)(p)
		}
		return cmd
	}, done: func(err error) {
		if mark != nil && mark.Err() != nil && err == nil {
			s.log.Warn("writing the mark of a relayed receipt failed: if the carrier sends it again it is relayed again",
				zap.Error(mark.Err()))
		}
		if err != nil && strings.HasPrefix(err.Error(), "OUTBOXFULL") {
			err = dlr.ErrOutboxFull
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
		if err == nil && settle != nil {
			if settle.Err() != nil {
				// The item is stored: its message leaves the queue on its
				// own write (one that lost its scripts gets them there).
				s.settleAfter(it.Settles, done)
				return
			}
			s.forgetStamp(it.Settles)
		}
		done(err)
	}})
}

// settleAfter removes m, when set, from its queue, then calls done(nil):
// the outbox item that settles it is stored. A removal that fails leaves
// m taken, and the next start sends a second receipt for it.
func (s *Store) settleAfter(m *dlr.Queued, done func(error)) {
	if m == nil {
		done(nil)
		return
	}
	s.Settle(m, func(err error) {
		if err != nil {
			s.log.Error("removing a queued message whose receipt is stored failed: it stays taken, and the next start sends an UNKNOWN receipt besides",
				zap.String("group", m.Group), zap.String("system_id", m.SystemID), zap.String("client_id", m.ClientID), zap.Error(err))
		}
		done(nil)
	})
}

func (s *Store) markKey(m *dlr.Mark) string {
	return s.cfg.Prefix + "r:" + m.Upstream + ":" + strconv.Itoa(int(m.State)) + ":" + m.ID
}

// PutMark implements dlr.MappingStore: the mark is written in the next
// pipeline, as the marks of outbox items are, and nobody waits for it.
func (s *Store) PutMark(m dlr.Mark) {
	key := s.markKey(&m)
	s.enqueue(redisOp{queue: func(p redis.Pipeliner) redis.Cmder {
		return p.SetArgs(context.Background(), key, "1", redis.SetArgs{ExpireAt: m.Expires})
	}, done: func(err error) {
		if err != nil && !errors.Is(err, dlr.ErrStoreClosed) {
			s.log.Warn("writing the mark of a relayed receipt failed: if the carrier sends it again it is relayed again",
				zap.Error(err))
		}
	}})
}

// Relayed implements dlr.Store.
func (s *Store) Relayed(m dlr.Mark) (bool, error) {
	var f *lookupReply
	s.getNow(getOp{mark: s.markKey(&m), done: func(r *lookupReply) { f = r }})
	return f.relayed, f.err
}

// RelayedAsync implements dlr.AsyncGetter.
func (s *Store) RelayedAsync(m dlr.Mark, done func(bool, error)) {
	s.queueLookup(getOp{mark: s.markKey(&m), done: func(r *lookupReply) { done(r.relayed, r.err) }})
}

// Forget implements dlr.Store.
func (s *Store) Forget(upstream, id, systemID, clientID string) {
	k1, k2 := s.mappingKey(upstream, id), s.clientKey(systemID, clientID)
	folded := dlr.FoldID(id)
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

// DeleteOutbox implements dlr.Store. The delete is queued behind earlier
// writes and a later Release waits for it. Outboxes remove what they
// delivered with Remove, which reports the outcome.
func (s *Store) DeleteOutbox(systemID string, seq uint64) error {
	s.Remove(systemID, []uint64{seq}, func(err error) {
		if err != nil {
			s.log.Warn("removing an item from Redis failed", zap.String("system_id", systemID), zap.Error(err))
		}
	})
	return nil
}

// Remove implements dlr.SharedStore: one XDEL, queued behind earlier writes.
func (s *Store) Remove(systemID string, seqs []uint64, done func(error)) {
	key := s.outboxKey(systemID)
	ids := make([]string, len(seqs))
	for i, seq := range seqs {
		ids[i] = streamID(seq)
	}
	s.enqueue(redisOp{queue: func(p redis.Pipeliner) redis.Cmder {
		return p.XDel(context.Background(), key, ids...)
	}, done: done})
}

// LoadOutbox implements dlr.Store: a shared outbox is read by the instance
// that leases it, with Pending, not loaded at start.
func (s *Store) LoadOutbox(func(string, *dlr.Item)) error { return nil }

// holderKeep is how long the record of a lease's last holder outlives the
// lease: longer than an outage, for the next holder to tell a lapse.
const holderKeep = 24 * time.Hour

// Lease implements dlr.SharedStore.
func (s *Store) Lease(systemID string) (dlr.LeaseGrant, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.LeaseTTL/3)
	defer cancel()
	n, err := scriptOutboxLease.Run(ctx, s.c, []string{s.leaseKey(systemID), s.holderKey(systemID)},
		s.token, s.cfg.LeaseTTL.Milliseconds(), holderKeep.Milliseconds()).Int()
	if err != nil || n < int(dlr.LeaseOther) || n > int(dlr.LeaseLapsed) {
		return dlr.LeaseOther, err
	}
	return dlr.LeaseGrant(n), nil
}

// Release implements dlr.SharedStore.
func (s *Store) Release(systemID string) {
	keys := []string{s.leaseKey(systemID), s.holderKey(systemID)}
	s.enqueue(redisOp{queue: func(p redis.Pipeliner) redis.Cmder {
		return scriptRelease.EvalSha(context.Background(), p, keys, s.token, s.keyEvents, systemID)
	}, done: func(err error) {
		if err != nil {
			s.log.Warn("releasing an outbox lease failed: it lapses by itself", zap.String("system_id", systemID), zap.Error(err))
		}
	}})
}

// LeaseTTL implements dlr.SharedStore.
func (s *Store) LeaseTTL() time.Duration { return s.cfg.LeaseTTL }

// Pending implements dlr.SharedStore.
func (s *Store) Pending(systemID string, after uint64, n int) ([]*dlr.Item, error) {
	items, err := readStream(s, s.outboxKey(systemID), after, n, decodeItem)
	if err != nil {
		return items, fmt.Errorf("outbox of %s: %w", systemID, err)
	}
	return items, nil
}

// readStream returns up to n entries of the stream key, those after the
// one numbered after (0: from the first), decoded. An entry that does not
// decode ends the list with an error: skipping it would lose it silently.
func readStream[T any](s *Store, key string, after uint64, n int, decode func(redis.XMessage) (T, error)) ([]T, error) {
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

func decodeItem(m redis.XMessage) (*dlr.Item, error) {
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
	return &dlr.Item{Raw: []byte(raw), Origin: origin, Seq: seq, At: time.Unix(0, at)}, nil
}

// OutboxLen implements dlr.SharedStore.
func (s *Store) OutboxLen(systemID string) (int, time.Time, error) {
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

// Watch implements dlr.SharedStore. It subscribes once; later calls replace fn.
func (s *Store) Watch(fn func(systemID string)) {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if s.pubsub != nil {
		_ = s.pubsub.Close()
	}
	ps := s.c.Subscribe(context.Background(), s.keyEvents)
	s.pubsub = ps
	s.wg.Go(func() {
		for msg := range ps.Channel() {
			fn(msg.Payload)
		}
	})
}
