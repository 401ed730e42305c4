package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/pdu"
)

// A receipt added to a Redis outbox whose answer was lost (Redis died or
// hung after taking it, the connection dropped, or replicas did not
// confirm it) may be in the stream or not. The SMSC is told to send it
// again (ESME_RX_T_APPN), and a second copy would be delivered twice. So
// every receipt's entry carries a key of its content (field k), and the
// store remembers, per client and key, each receipt whose add had no
// answer ("in limbo"). Before the store reports itself healthy again, the
// prober looks in the stream for those keys, from a little before the
// add was sent: a receipt found there is answered ESME_ROK when the SMSC
// sends it again, without a second write; one not found is forgotten and
// written again as new. Until then, a copy sent again is refused once
// more. Receipts alone: two MO messages alike may be two messages.
//
// A write without an answer may also land late: TCP sends again what a
// dropped network lost, seconds after it heals, and a stopped Redis reads
// its socket when it resumes. So the look first raises a fence, in the
// same script: a receipt add carries the generation of its writer's adds
// when it was sent, the look raises it, and Redis refuses an add older
// than the fence of its client and process (w:{system_id}:token). What
// the look did not find can no longer land.
//
// What this does not cover, at-least-once as before: a copy the SMSC
// sends to another instance's bind (that instance knows nothing of the
// lost answer), an add whose own copy is delivered and removed between
// Redis's return and the prober's look (another instance delivering; this
// one delivers nothing while its store is not healthy), and a copy older
// than findCap entries at the time of the look.

// ErrAddUnresolved means an earlier add of the same receipt had no answer
// and the store cannot tell yet whether it was stored: the caller answers
// so that the SMSC sends it again later.
var ErrAddUnresolved = errors.New("dlr: an earlier copy of this receipt may be in the outbox; not known yet")

const (
	// limboMax bounds the receipts remembered; past it a lost answer is
	// handled as before, at least once.
	limboMax = 100_000
	// limboKeep is how long a receipt found stored waits for the SMSC to
	// send it again.
	limboKeep = time.Hour
	// floorSlack is how far before the last stream id Redis gave a look
	// starts: Redis numbers entries by its clock, which may step back.
	floorSlack = 2 * time.Second
	// findCap bounds the entries one look reads per client.
	findCap = 100_000
	// fenceKeep is how long a fence stands: longer than TCP goes on
	// sending what a dropped network lost.
	fenceKeep = time.Hour
)

// scriptFind sets the fence KEYS[2] to ARGV[3] (PX ARGV[4]), then returns,
// for each key in ARGV[5..], the id of the first entry of the stream
// KEYS[1] from ARGV[1] on whose field k is that key, or an empty string
// when none of the first ARGV[2] entries has it.
var scriptFind = redis.NewScript(`
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
local want, found, left = {}, {}, #ARGV - 4
for i = 5, #ARGV do
  want[ARGV[i]] = i - 4
  found[i - 4] = ''
end
local start, seen, cap = ARGV[1], 0, tonumber(ARGV[2])
while left > 0 and seen < cap do
  local es = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', 1000)
  if #es == 0 then break end
  for _, e in ipairs(es) do
    local f = e[2]
    for j = 1, #f - 1, 2 do
      if f[j] == 'k' then
        local n = want[f[j + 1]]
        if n and found[n] == '' then
          found[n] = e[1]
          left = left - 1
        end
      end
    end
  end
  seen = seen + #es
  start = '(' .. es[#es][1]
end
return found`)

// receiptKey is the key of a receipt's content, "" for anything else: the
// body only, as the sequence number changes with every sending.
func receiptKey(raw []byte) string {
	if len(raw) < pdu.HeaderLen {
		return ""
	}
	body := raw[pdu.HeaderLen:]
	var esm byte
	switch pdu.ParseHeader(raw).ID {
	case pdu.DeliverSM:
		var sm pdu.SM
		if pdu.ParseSM(body, &sm) != nil {
			return ""
		}
		esm = sm.ESMClass
	case pdu.DataSM:
		var ds pdu.SM
		if pdu.ParseDataSM(body, &ds) != nil {
			return ""
		}
		esm = ds.ESMClass
	default:
		return ""
	}
	if !pdu.IsReceipt(esm) {
		return ""
	}
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:12])
}

// mayHaveLanded reports whether a write that failed with err may still
// have been carried out: not when Redis refused it or it was never sent.
func mayHaveLanded(err error) bool {
	var op *net.OpError
	var rep replicaError
	switch {
	case err == nil, errors.Is(err, dlr.ErrStoreClosed), errors.Is(err, redis.ErrPoolTimeout):
		return false
	case errors.As(err, &rep):
		return true // taken by the master
	case isReply(err):
		return false
	case errors.As(err, &op) && op.Op == "dial":
		return false
	}
	return true
}

// replicaError means Redis took a write that fewer replicas than
// WaitReplicas confirmed, or whose WAIT failed with err.
type replicaError struct {
	n, want int64
	err     error
}

func (e replicaError) Error() string {
	if e.err != nil {
		return "dlr: waiting for replicas: " + e.err.Error()
	}
	return fmt.Sprintf("dlr: written to %d replicas of %d", e.n, e.want)
}

func (e replicaError) Unwrap() error { return e.err }

type limboKey struct{ systemID, key string }

// limboEntry is a receipt whose add had no answer.
type limboEntry struct {
	floor  int64 // stream ms from which its entry would be
	since  time.Time
	stored bool   // found: the next copy is answered without a write
	seq    uint64 // its entry, once found
}

// limbo holds the receipts whose adds had no answer.
type limbo struct {
	mu      sync.Mutex
	m       map[limboKey]*limboEntry
	swept   time.Time
	warned  bool // the bound was reached; logged once until it is not
	pending int  // entries not yet looked for
}

// limboState is what the store knows of a receipt's earlier copy.
type limboState int

const (
	limboNone limboState = iota
	limboUnresolved
	limboStored
)

// take reports what is known of an earlier copy of the receipt key of
// systemID; a stored one is forgotten, as this copy is answered for it.
func (l *limbo) take(systemID, key string) (limboState, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[limboKey{systemID, key}]
	switch {
	case e == nil:
		return limboNone, 0
	case !e.stored:
		return limboUnresolved, 0
	}
	delete(l.m, limboKey{systemID, key})
	return limboStored, e.seq
}

// add remembers a receipt whose add had no answer; it reports false when
// the bound is reached.
func (l *limbo) add(systemID, key string, floor int64, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = make(map[limboKey]*limboEntry)
	}
	k := limboKey{systemID, key}
	if e := l.m[k]; e != nil {
		if !e.stored {
			e.floor = min(e.floor, floor)
			return true
		}
		// Its earlier copy is stored: this one is a second copy whose
		// answer was lost too, looked for again.
		e.stored = false
		e.floor = floor
		l.pending++
		return true
	}
	if len(l.m) >= limboMax {
		return false
	}
	l.m[k] = &limboEntry{floor: floor, since: now}
	l.pending++
	return true
}

// lookup is one client's receipts to look for, in one script call.
type lookup struct {
	systemID string
	keys     []string
	cmd      *redis.Cmd
}

// queueFinds adds to p the look for every receipt not yet looked for, one
// script call per client, and returns them.
func (s *Store) queueFinds(ctx context.Context, p redis.Pipeliner) []*lookup {
	l := &s.limbo
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending == 0 {
		return nil
	}
	by := make(map[string]*lookup)
	floors := make(map[string]int64)
	var out []*lookup
	for k, e := range l.m {
		if e.stored {
			continue
		}
		lk := by[k.systemID]
		if lk == nil {
			lk = &lookup{systemID: k.systemID}
			by[k.systemID] = lk
			floors[k.systemID] = e.floor
			out = append(out, lk)
		}
		lk.keys = append(lk.keys, k.key)
		floors[k.systemID] = min(floors[k.systemID], e.floor)
	}
	// Adds sent from now on carry gen; those sent before cannot land
	// after the look.
	gen := s.gen.Add(1)
	for _, lk := range out {
		args := make([]any, 0, 4+len(lk.keys))
		args = append(args, strconv.FormatInt(max(floors[lk.systemID], 0), 10)+"-0", findCap, gen, fenceKeep.Milliseconds())
		for _, k := range lk.keys {
			args = append(args, k)
		}
		lk.cmd = scriptFind.EvalSha(ctx, p, []string{s.outboxKey(lk.systemID), s.fenceKey(lk.systemID)}, args...)
	}
	return out
}

// settleFinds applies what the looks found, once Redis has answered them
// (and, with WaitReplicas, replicas confirmed what it holds); it returns
// an error when a look failed, the receipts it looked for still in limbo.
func (s *Store) settleFinds(finds []*lookup) error {
	l := &s.limbo
	var firstErr error
	found, forgotten := 0, 0
	l.mu.Lock()
	for _, lk := range finds {
		ids, err := lk.cmd.StringSlice()
		if err == nil && len(ids) != len(lk.keys) {
			err = fmt.Errorf("dlr: %d answers to a look for %d receipts", len(ids), len(lk.keys))
		}
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		for i, k := range lk.keys {
			e := l.m[limboKey{lk.systemID, k}]
			if e == nil || e.stored {
				continue
			}
			l.pending--
			if ids[i] == "" {
				delete(l.m, limboKey{lk.systemID, k})
				forgotten++
				continue
			}
			seq, err := streamSeq(ids[i])
			if err != nil {
				// Stored, whatever its id says.
				s.log.Warn("looking for a receipt whose add had no answer", zap.Error(err))
			}
			e.stored, e.seq = true, seq
			found++
		}
	}
	l.mu.Unlock()
	if found+forgotten > 0 {
		s.log.Info("receipts whose adds had no answer looked for in the outboxes: those found are not added again",
			zap.Int("found", found), zap.Int("not_found", forgotten))
	}
	return firstErr
}

// sweepLimbo forgets, once a minute at most, the receipts found stored
// that the SMSC did not send again within limboKeep.
func (s *Store) sweepLimbo(now time.Time) {
	l := &s.limbo
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) < time.Minute {
		return
	}
	l.swept = now
	for k, e := range l.m {
		if e.stored && now.Sub(e.since) > limboKeep {
			delete(l.m, k)
		}
	}
	if len(l.m) < limboMax {
		l.warned = false
	}
}

// unresolved counts the receipts not yet looked for.
func (s *Store) unresolved() int {
	s.limbo.mu.Lock()
	defer s.limbo.mu.Unlock()
	return s.limbo.pending
}

// remember puts a receipt whose add had no answer in limbo and makes the
// store unhealthy until the prober has looked for it: this instance
// delivers nothing meanwhile, so the copy that may be stored is not
// delivered and removed before the look.
func (s *Store) remember(systemID, key string, floor int64, err error) {
	if !s.limbo.add(systemID, key, floor, s.cfg.Now()) {
		s.limbo.mu.Lock()
		warn := !s.limbo.warned
		s.limbo.warned = true
		s.limbo.mu.Unlock()
		if warn {
			s.log.Warn("too many receipts whose adds had no answer: more are handled at least once",
				zap.Int("limit", limboMax))
		}
		return
	}
	s.setHealth(fmt.Errorf("an outbox write had no answer: %w", err))
}

// floor is the stream ms from which an add sent now would be numbered.
func (s *Store) floor() int64 {
	if ms := s.lastMs.Load(); ms > 0 {
		return ms - floorSlack.Milliseconds()
	}
	return s.cfg.Now().Add(-time.Minute).UnixMilli()
}

// sawStreamID records the ms of an entry id Redis gave.
func (s *Store) sawStreamID(seq uint64) {
	ms := int64(seq >> 20)
	for {
		cur := s.lastMs.Load()
		if ms <= cur || s.lastMs.CompareAndSwap(cur, ms) {
			return
		}
	}
}
