package pebblestore

import (
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.uber.org/zap"
)

// The committer's pipeline
//
// The committer goroutine gathers the writes queued into one batch and
// applies it to the database with its sync requested but not waited for
// (DB.ApplyNoSyncWait): the batch is in the WAL and readable, and Pebble
// syncs the WAL in the background. The completer goroutine takes the
// batches in the order applied, waits for each one's sync
// (Batch.SyncWait), then tells its writers. Meanwhile the committer forms
// and applies the next batch: Pebble syncs what was written during one
// sync as soon as that sync ends, so the disk syncs back to back under
// load and no batch waits for its predecessor's callbacks.
//
// The committer applies the next batch once the batches in flight are
// synced, or at once when pipelineMin writes are queued: one batch per
// sync under a light load, which keeps the committer asleep during the
// sync instead of woken by every write; several under a heavy one, all in
// the next sync.
//
// Through smppmux on a shared 2-core machine, against a committer that
// synced each batch before it formed the next (2 paired runs): CPU per
// message 42-44 against 42-44 us at full speed, 65 against 64-67 us at
// 10,000 msg/s, with as many batches; submit_sm_resp p50 at 10,000 msg/s
// 1.45-1.83 against 1.78-1.88 ms. Full speed is bound by the CPU there,
// not by the syncs. A committer that took the next write before it waited
// for the batches in flight was woken once more per sync: 5-25% more CPU
// per message at 10,000 msg/s in 3 of 4 paired runs.
//
// A batch made only of unsynced writes (PutMark, Forget) is committed
// with pebble.NoSync; one with any other write syncs. Either way its
// writers are told in queue order.
//
// A batch is held against its database (acquire) until its sync has
// returned: a fence tripped while a batch is in flight fails that batch
// and every later one of the same database, their outbox items and dead
// letters are undone at the next open (unsure), as when the batch was
// committed in one call.

// maxGroup bounds the writes sharing one batch.
const maxGroup = 4096

// pipelineMin is how many queued writes make the committer apply them
// while earlier batches are still syncing, rather than when they are
// synced.
const pipelineMin = 64

// pipeDepth bounds the batches applied and not yet completed.
const pipeDepth = 32

// opForget is the kind of a queued Forget: not a kind of key.
const opForget = 'f'

// pendingBatch is a batch on its way through the pipeline.
type pendingBatch struct {
	ops  []writeOp
	errs []error // an op refused on its own
	// err is the batch's outcome once known: set by the committer when it
	// was not applied or failed to apply, by the completer after its sync.
	err error
	d   *pebbleDB // held while the batch is in flight; nil if none was
	b   *pebble.Batch
	// committing: the batch was handed to Pebble (its writes may be on
	// the disk); written: Pebble took it without an error, so its sync
	// can be waited for and the batch closed.
	committing, written bool
	sync                bool // committed with pebble.Sync
	start               time.Time
}

// commitLoop is the committer goroutine: what is queued while a batch
// syncs goes out in the next. Four committers, whose batches Pebble syncs
// in turn, cost more syncs for the same writes: in paired runs through
// smppmux at 10,000 msg/s, 20-40% more CPU per message than one, and no
// more throughput at full speed. It ends once Close has been called and
// the writes queued before it are applied.
func (s *Store) commitLoop() {
	defer close(s.pipe)
	for {
		// Waiting for the batches in flight first, the committer sleeps
		// through their sync however many writes come meanwhile.
		s.waitPipe()
		var first writeOp
		select {
		case first = <-s.q:
		case <-s.stop:
			// Writes queued before Close still land.
			for len(s.q) > 0 {
				s.pipe <- s.begin(s.gather(<-s.q))
			}
			return
		}
		s.pipe <- s.begin(s.gather(first))
	}
}

// gather returns first and the writes queued behind it, up to maxGroup.
func (s *Store) gather(first writeOp) []writeOp {
	ops := make([]writeOp, 1, min(1+len(s.q), maxGroup))
	ops[0] = first
	for len(ops) < maxGroup {
		select {
		case op := <-s.q:
			ops = append(ops, op)
		default:
			return ops
		}
	}
	return ops
}

// waitPipe returns once the batches in flight are synced, once
// pipelineMin writes are queued, or once Close was called.
func (s *Store) waitPipe() {
	for s.inflight.Load() > 0 && len(s.q) < pipelineMin {
		select {
		case <-s.synced:
		case <-s.nudge:
		case <-s.stop:
			return
		}
	}
}

// begin applies ops as one batch, without waiting for its sync, and
// returns it for the completer. Nothing is written while the store takes
// no writes.
func (s *Store) begin(ops []writeOp) (p *pendingBatch) {
	p = &pendingBatch{ops: ops, errs: make([]error, len(ops))}
	s.inflight.Add(1)
	if p.err = s.Health(); p.err != nil {
		return p
	}
	if p.d, p.err = s.acquire(); p.err != nil {
		return p
	}
	defer func() {
		if r := recover(); r != nil {
			err := fmt.Errorf("pebble panicked: %v", r)
			p.d.fence.trip(err, true)
			p.err = err
		}
	}()
	if testHookBegin != nil {
		testHookBegin(s)
	}
	p.b = p.d.NewBatch()
	var scratch []byte
	for i := range ops {
		if p.errs[i] = s.checkDead(&ops[i]); p.errs[i] == nil {
			scratch, p.errs[i] = ops[i].apply(p.b, scratch)
			p.sync = p.sync || (p.errs[i] == nil && !ops[i].unsynced())
		}
	}
	// Counted before the commit: whoever sees a dead letter sees it
	// counted (an operator's retry takes as many as are counted).
	s.countDead(ops, p.errs, 1)
	p.committing = true
	p.start = time.Now()
	s.pmu.Lock()
	s.starts = append(s.starts, p.start.UnixNano())
	if len(s.starts) == 1 {
		s.commitStart.Store(s.starts[0])
	}
	s.pmu.Unlock()
	if p.sync {
		p.err = p.d.ApplyNoSyncWait(p.b, pebble.Sync)
	} else {
		p.err = p.b.Commit(pebble.NoSync)
	}
	p.written = p.err == nil
	return p
}

// completeLoop is the completer goroutine: it completes the batches in
// the order the committer applied them, and ends after the last.
func (s *Store) completeLoop() {
	for p := range s.pipe {
		s.complete(p)
	}
}

// complete waits for p's sync, lets the committer go on, and tells p's
// writers.
func (s *Store) complete(p *pendingBatch) {
	if p.committing {
		s.await(p)
	}
	s.inflight.Add(-1)
	select {
	case s.synced <- struct{}{}:
	default:
	}
	if p.d != nil {
		s.settle(p)
		p.d.release()
	}
	// Committed, or failed for good: either way Get may look again.
	s.umu.Lock()
	for i := range p.ops {
		s.settledLocked(p.ops[i].mapping())
		op := &p.ops[i]
		switch ok := p.err == nil && p.errs[i] == nil; {
		case op.kind == opForget:
			s.recent.Remove(idKey{op.m.Upstream, op.m.UpstreamID})
		case ok && op.kind == kindMapping:
			s.rememberLocked(&op.m)
		case ok && op.mark != nil:
			s.noteMarkLocked(op.mark)
		}
	}
	s.umu.Unlock()
	for i := range p.ops {
		if p.errs[i] != nil {
			p.ops[i].finish(p.errs[i])
		} else {
			p.ops[i].finish(p.err)
		}
	}
}

// await waits for the sync of p, a batch handed to Pebble, and ends its
// time under way.
func (s *Store) await(p *pendingBatch) {
	if p.written && p.sync {
		func() {
			defer func() {
				if r := recover(); r != nil {
					p.d.fence.trip(fmt.Errorf("pebble panicked: %v", r), true)
				}
			}()
			p.err = p.b.SyncWait()
		}()
	}
	s.pmu.Lock()
	s.starts = s.starts[1:]
	next := int64(0)
	if len(s.starts) > 0 {
		next = s.starts[0]
	}
	s.commitStart.Store(next)
	s.pmu.Unlock()
	if testHookCommitted != nil {
		testHookCommitted()
	}
}

// settle decides the outcome of p, which held a database: a batch under
// which the database's fence trips fails, and its outbox items and dead
// letters are undone at the next open; the dead letters of a failed batch
// are counted out; OnCommit is told of a synced batch.
func (s *Store) settle(p *pendingBatch) {
	d := p.d
	if d.fence.tripped() != nil {
		if p.committing {
			s.unsure(p.ops, p.errs)
		}
		p.err = s.downError()
	}
	if p.committing && p.err != nil {
		s.countDead(p.ops, p.errs, -1)
		s.logUnsynced(p)
	}
	if p.written {
		_ = p.b.Close()
	}
	if !p.committing || !p.sync {
		return
	}
	if s.cfg.SyncInterval > 0 && p.err == nil {
		// The syncer tells OnCommit once the WAL is synced.
		s.unsyncedWrites.Add(int64(len(p.ops)))
	} else if s.cfg.OnCommit != nil {
		s.cfg.OnCommit(time.Since(p.start), len(p.ops), p.err)
	}
}

// logUnsynced logs the unsynced writes of a failed batch, which nobody
// waits for.
func (s *Store) logUnsynced(p *pendingBatch) {
	marks, forgets := 0, 0
	for i := range p.ops {
		switch p.ops[i].kind {
		case kindMark:
			marks++
		case opForget:
			forgets++
		}
	}
	if marks > 0 {
		s.log.Warn("writing the marks of relayed receipts failed: if a carrier sends one again it is relayed again",
			zap.Int("count", marks), zap.Error(p.err))
	}
	if forgets > 0 {
		s.log.Warn("forgetting the mappings of messages whose final receipt was relayed failed: they live until they expire",
			zap.Int("count", forgets), zap.Error(p.err))
	}
}
