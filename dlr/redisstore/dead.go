package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/pdu"
)

// Dead letter scripts. A client's outbox, dead letters and lease share
// its hash tag, so each script stays on one slot of a cluster.
var (
	// scriptDead moves an outbox item to the dead letters, if this
	// instance holds the lease and the item is still there; without an
	// outbox item (ARGV[2] empty) it only adds the dead letter.
	scriptDead = redis.NewScript(`
if ARGV[2] ~= '' then
  if redis.call('GET', KEYS[3]) ~= ARGV[1] then
    return redis.error_reply('NOTLEASED outbox lease not held')
  end
  if redis.call('XDEL', KEYS[1], ARGV[2]) == 0 then
    return redis.error_reply('NOTINOUTBOX item no longer in the outbox')
  end
end
return redis.call('XADD', KEYS[2], '*', 'o', ARGV[3], 'a', ARGV[4], 't', ARGV[5], 'n', ARGV[6],
  'f', ARGV[7], 's', ARGV[8], 'r', ARGV[9], 'p', ARGV[10])`)
	// scriptRequeue moves up to ARGV[1] dead letters to the end of the
	// outbox, as items arrived at ARGV[2], tells every instance, and
	// returns the new items' ids, origins and PDUs.
	scriptRequeue = redis.NewScript(`
local moved = {}
local entries = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', ARGV[1])
for _, e in ipairs(entries) do
  local o, p = '0', ''
  for i = 1, #e[2], 2 do
    if e[2][i] == 'o' then o = e[2][i + 1] elseif e[2][i] == 'p' then p = e[2][i + 1] end
  end
  local id = redis.call('XADD', KEYS[2], '*', 'o', o, 'a', ARGV[2], 'p', p)
  redis.call('XDEL', KEYS[1], e[1])
  table.insert(moved, id)
  table.insert(moved, o)
  table.insert(moved, p)
end
if #entries > 0 then
  redis.call('PUBLISH', ARGV[3], ARGV[4])
end
return moved`)
	scriptPurge = redis.NewScript(`
local n = redis.call('XLEN', KEYS[1])
redis.call('DEL', KEYS[1])
return n`)
)

func (s *Store) deadKey(systemID string) string { return s.cfg.Prefix + "d:{" + systemID + "}" }

// PutDeadLetter implements dlr.DeadLetterStore: one script deletes the outbox
// item and appends the dead letter, queued behind the writes made before
// it, so a lease release made after it waits for it too.
func (s *Store) PutDeadLetter(d *dlr.DeadLetter, outboxSeq uint64, done func(error)) {
	if d.DeadAt.IsZero() {
		d.DeadAt = s.cfg.Now()
	}
	keys := []string{s.outboxKey(d.SystemID), s.deadKey(d.SystemID), s.leaseKey(d.SystemID)}
	id := ""
	if outboxSeq != 0 {
		id = streamID(outboxSeq)
	}
	args := []any{s.token, id, d.Origin, d.Arrived.UnixNano(), d.DeadAt.UnixNano(), d.Attempts, d.Refusals,
		uint32(d.LastStatus), string(d.Reason), d.Raw}
	var cmd *redis.Cmd
	s.enqueue(redisOp{queue: func(p redis.Pipeliner) redis.Cmder {
		cmd = scriptDead.EvalSha(context.Background(), p, keys, args...)
		return cmd
	}, done: func(err error) {
		switch {
		case err != nil && strings.HasPrefix(err.Error(), "NOTLEASED"):
			err = dlr.ErrNotLeased
		case err != nil && strings.HasPrefix(err.Error(), "NOTINOUTBOX"):
			err = dlr.ErrNotInOutbox
		case err == nil:
			var id string
			if id, err = cmd.Text(); err == nil {
				d.Seq, err = streamSeq(id)
			}
		}
		done(err)
	}})
}

// DeadLetters implements dlr.DeadLetterStore.
func (s *Store) DeadLetters(systemID string, after uint64, n int) ([]dlr.DeadLetter, error) {
	out, err := readStream(s, s.deadKey(systemID), after, n, func(m redis.XMessage) (dlr.DeadLetter, error) {
		return decodeDeadEntry(systemID, m)
	})
	if err != nil {
		return out, fmt.Errorf("dead letters of %s: %w", systemID, err)
	}
	return out, nil
}

func decodeDeadEntry(systemID string, m redis.XMessage) (dlr.DeadLetter, error) {
	it, err := decodeItem(m)
	if err != nil {
		return dlr.DeadLetter{}, err
	}
	d := dlr.DeadLetter{SystemID: systemID, Seq: it.Seq, Raw: it.Raw, Origin: it.Origin, Arrived: it.At}
	num := func(field string) int64 {
		v, _ := m.Values[field].(string)
		n, e := strconv.ParseInt(v, 10, 64)
		err = errors.Join(err, e)
		return n
	}
	d.DeadAt = time.Unix(0, num("t"))
	d.Attempts, d.Refusals = int(num("n")), int(num("f"))
	d.LastStatus = pdu.Status(num("s"))
	r, ok := m.Values["r"].(string)
	if err != nil || !ok {
		return dlr.DeadLetter{}, fmt.Errorf("%w: dead letter %s", errBadRecord, m.ID)
	}
	d.Reason = dlr.DeadReason(r)
	return d, nil
}

// DeadLetterStats implements dlr.DeadLetterStore: one round trip for every
// client.
func (s *Store) DeadLetterStats(systemIDs []string) ([]dlr.DeadLetterStat, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pipe := s.c.Pipeline()
	lens := make([]*redis.IntCmd, len(systemIDs))
	firsts := make([]*redis.XMessageSliceCmd, len(systemIDs))
	for i, id := range systemIDs {
		lens[i] = pipe.XLen(ctx, s.deadKey(id))
		firsts[i] = pipe.XRangeN(ctx, s.deadKey(id), "-", "+", 1)
	}
	if len(systemIDs) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, err
		}
	}
	out := make([]dlr.DeadLetterStat, len(systemIDs))
	for i, id := range systemIDs {
		out[i] = dlr.DeadLetterStat{SystemID: id, Count: int(lens[i].Val())}
		if msgs := firsts[i].Val(); len(msgs) > 0 {
			if d, err := decodeDeadEntry(id, msgs[0]); err == nil {
				out[i].Oldest = d.DeadAt
			}
		}
	}
	return out, nil
}

// PurgeDeadLetters implements dlr.DeadLetterStore.
func (s *Store) PurgeDeadLetters(systemID string, seq uint64) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if seq != 0 {
		n, err := s.c.XDel(ctx, s.deadKey(systemID), streamID(seq)).Result()
		return int(n), err
	}
	return scriptPurge.Run(ctx, s.c, []string{s.deadKey(systemID)}).Int()
}

// RequeueDeadLetters implements dlr.DeadLetterStore: the instance holding the
// client's lease reads the new items from the stream; every instance is
// told.
func (s *Store) RequeueDeadLetters(systemID string, n int) ([]*dlr.Item, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := s.cfg.Now()
	res, err := scriptRequeue.Run(ctx, s.c, []string{s.deadKey(systemID), s.outboxKey(systemID)},
		n, now.UnixNano(), s.keyEvents, systemID).Slice()
	if err != nil {
		return nil, err
	}
	items := make([]*dlr.Item, 0, len(res)/3)
	for i := 0; i+2 < len(res); i += 3 {
		id, _ := res[i].(string)
		o, _ := res[i+1].(string)
		p, _ := res[i+2].(string)
		seq, err := streamSeq(id)
		origin, oerr := strconv.ParseUint(o, 10, 64)
		if err = errors.Join(err, oerr); err != nil {
			// Moved already: the outbox holds it, whatever this reply says.
			return items, fmt.Errorf("dead letters of %s requeued, reply unreadable: %w", systemID, err)
		}
		items = append(items, &dlr.Item{Raw: []byte(p), Origin: origin, Seq: seq, At: now})
	}
	return items, nil
}
