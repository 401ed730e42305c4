package dlr

import (
	"container/heap"
	"slices"
	"time"

	"go.uber.org/zap"
)

// A shared outbox delivers each item once while instances live, through
// outages of the store. The rules, in the order refill applies them:
//
//   - Nothing goes out while the store reports itself unhealthy: an item
//     delivered then could not be removed.
//   - An item the client accepted stays in q.out until its removal has
//     taken effect. A removal that fails is tried again, all such items
//     in one, before anything else goes out and before the lease is
//     released; a read of the store skips every item in q.out.
//   - A lease that could not be renewed (the store unreachable) is not
//     forgotten: what was read under it, set aside and delivered is kept,
//     and nothing goes out until it is renewed. Renewed with no other
//     holder in between (LeaseKept, even after it lapsed), delivery goes
//     on from where it was; if another instance held it meanwhile, the
//     outbox is read again from its start, skipping q.out.
//   - A lease taken from an instance that let it lapse (LeaseLapsed) is
//     read only after a grace of half a lease lifetime, in which a live
//     former holder, tripped by the same outage, removes what it
//     delivered.
//   - Close waits, within a bound, for the removals, and releases a lease
//     only when nothing this instance handed out is left in the store.

// sharedOutbox keeps the items in a SharedStore: any instance adds to a
// client's outbox there, and the one holding the client's lease reads and
// delivers them.
type sharedOutbox struct {
	o  *Outbox
	st SharedStore
}

// shared is a queue's state that only a shared outbox uses. o.mu guards
// it.
type shared struct {
	// leased says whether this instance holds the lease, renewed when it
	// was last taken or renewed, cursor the number of the last item read.
	leased  bool
	renewed time.Time
	cursor  uint64
	// out holds the store's items this instance handed to a session and
	// has not seen removed: in flight (false) or delivered (true) and
	// being removed. A read of the store skips them.
	out map[uint64]bool
	// unremoved are delivered items whose removal failed, to be tried
	// again; removing says such a try is under way; removeFailed that a
	// removal failed and they have not all landed since (logged once).
	unremoved    []uint64
	removing     bool
	removeFailed bool
	// graceUntil: the lease was taken from an instance that let it lapse;
	// the outbox is not read before then.
	graceUntil time.Time
	// renewFailed: taking or renewing the lease failed and it has not
	// been renewed since (logged once).
	renewFailed bool
}

// closeWait bounds how long Close waits for the removals of what was
// delivered; within it a failed removal is tried again every closeRetry.
const (
	closeWait  = 5 * time.Second
	closeRetry = 100 * time.Millisecond
)

// removeRetry is how often a dispatcher with failed removals looks at the
// store's health and tries them again: well within the grace a next
// holder gives.
const removeRetry = 200 * time.Millisecond

// delivered marks a delivered item as being removed and asks the store to
// remove it: it counts as handed out until the removal has taken effect,
// or the next holder of the lease would deliver it again. The dispatcher
// looks again, with a lease to release perhaps.
func (sh *sharedOutbox) delivered(q *queue, it *Item) bool {
	o := sh.o
	o.mu.Lock()
	q.out[it.Seq] = true
	o.mu.Unlock()
	seqs := []uint64{it.Seq}
	sh.st.Remove(q.systemID, seqs, func(err error) { sh.removed(q, seqs, err, false) })
	return true
}

// removed records the outcome of a removal; retry says it was a try again
// of unremoved items.
func (sh *sharedOutbox) removed(q *queue, seqs []uint64, err error, retry bool) {
	o := sh.o
	o.mu.Lock()
	if retry {
		q.removing = false
	}
	first, healed := false, false
	if err != nil {
		q.unremoved = append(q.unremoved, seqs...)
		first = !q.removeFailed
		q.removeFailed = true
	} else {
		for _, seq := range seqs {
			delete(q.out, seq)
		}
		if q.removeFailed && len(q.unremoved) == 0 && !q.removing {
			q.removeFailed, healed = false, true
		}
	}
	n := len(q.unremoved)
	o.mu.Unlock()
	switch {
	case first:
		o.log.Warn("removing delivered items from the outbox failed: the client gets nothing more from this instance until they are removed",
			zap.String("system_id", q.systemID), zap.Int("items", n), zap.Error(err))
	case healed:
		o.log.Info("delivered items removed from the outbox after failures", zap.String("system_id", q.systemID))
	}
	if err == nil {
		// A failure is tried again at the dispatcher's next look, not at
		// once: the store is failing.
		signal(q.wake)
	}
}

// retryRemovals tries again, in one removal, the delivered items whose
// removal failed. It reports whether none is left to try nor being tried.
func (sh *sharedOutbox) retryRemovals(q *queue) bool {
	o := sh.o
	o.mu.Lock()
	if q.removing {
		o.mu.Unlock()
		return false
	}
	if len(q.unremoved) == 0 {
		o.mu.Unlock()
		return true
	}
	seqs := q.unremoved
	q.unremoved, q.removing = nil, true
	o.mu.Unlock()
	sh.st.Remove(q.systemID, seqs, func(err error) { sh.removed(q, seqs, err, true) })
	return false
}

// ready keeps q's shared lease and reads the store's items into q: it
// takes or renews the lease when this instance has receiving sessions
// (want) and releases it, once nothing it handed out is left in the
// store, when it has none. It reports whether q may deliver now, and if
// not, how soon it should look again (0: at the next poll or event).
func (sh *sharedOutbox) ready(q *queue, want bool) (bool, time.Duration) {
	o := sh.o
	if o.cfg.Store.Health() != nil {
		// An item delivered now could not be removed.
		o.mu.Lock()
		stuck := len(q.unremoved) > 0
		o.mu.Unlock()
		if stuck {
			return false, removeRetry
		}
		return false, 0
	}
	if !sh.retryRemovals(q) {
		return false, removeRetry
	}
	o.mu.Lock()
	leased, inflight, out := q.leased, q.inflight, len(q.out)
	o.mu.Unlock()
	if !want {
		if leased && inflight == 0 && out == 0 {
			o.dropLease(q)
			sh.st.Release(q.systemID)
		}
		return false, 0
	}
	ttl := sh.st.LeaseTTL()
	now := time.Now()
	if !leased || now.Sub(q.renewed) >= ttl/3 {
		if !leased && inflight > 0 {
			// Deliveries made under a lost lease settle first.
			return false, 0
		}
		grant, err := sh.st.Lease(q.systemID)
		if !sh.granted(q, leased, grant, err, now) {
			return false, 0
		}
	}
	o.mu.Lock()
	grace := q.graceUntil.Sub(now)
	wait := grace > 0
	cursor, need := q.cursor, !wait && q.dirty && len(q.items) < refillBelow
	if need {
		q.dirty = false // an item added from now on sets it again
	}
	o.mu.Unlock()
	if wait {
		return false, max(grace, 0)
	}
	if !need {
		return true, 0
	}
	items, err := sh.st.Pending(q.systemID, cursor, refillBatch)
	if err != nil {
		o.log.Warn("reading a shared outbox failed", zap.String("system_id", q.systemID), zap.Error(err))
	}
	o.mu.Lock()
	if err != nil || len(items) == refillBatch {
		q.dirty = true // more to read
	}
	if q.leased && q.cursor == cursor && len(items) > 0 {
		q.cursor = items[len(items)-1].Seq
		for _, it := range items {
			if _, handed := q.out[it.Seq]; !handed {
				q.items = append(q.items, it)
			}
		}
	}
	o.mu.Unlock()
	return true, 0
}

// granted applies the outcome of taking or renewing q's lease at now
// (leased: whether q held it before), and reports whether q holds it.
func (sh *sharedOutbox) granted(q *queue, leased bool, grant LeaseGrant, err error, now time.Time) bool {
	o := sh.o
	switch {
	case err != nil:
		// The store did not answer: the lease may be this instance's
		// still, or again once the store is back. What was read under it
		// is kept.
		o.mu.Lock()
		first := !q.renewFailed
		q.renewFailed = true
		o.mu.Unlock()
		if first {
			o.log.Warn("taking or renewing an outbox lease failed: this instance delivers none of the client's items until it holds the lease again",
				zap.String("system_id", q.systemID), zap.Error(err))
		}
		return false
	case grant == LeaseOther:
		if leased {
			o.log.Warn("outbox lease held by another instance: this instance stops delivering the client's items",
				zap.String("system_id", q.systemID))
			o.dropLease(q)
		}
		return false
	}
	ttl := sh.st.LeaseTTL()
	o.mu.Lock()
	renewedAgain := q.renewFailed
	q.renewFailed = false
	if !q.leased || grant != LeaseKept {
		// Another instance may have held the lease since this one read
		// the outbox, and delivered and removed items: read it again from
		// the start; what this instance handed out is skipped.
		q.leased, q.items, q.aside, q.cursor, q.dirty = true, nil, nil, 0, true
	}
	if grant == LeaseLapsed {
		q.graceUntil = now.Add(ttl / 2)
	}
	q.renewed = now
	o.mu.Unlock()
	if renewedAgain {
		o.log.Info("outbox lease held again", zap.String("system_id", q.systemID), zap.Stringer("lease", grant))
	}
	if grant == LeaseLapsed {
		o.log.Info("outbox lease taken from an instance that let it lapse: its items are read after a grace, for that instance's removals",
			zap.String("system_id", q.systemID), zap.Duration("grace", ttl/2))
	}
	return true
}

// dropLease forgets what q read under its lease, the items set aside
// too: they stay in the store for the next holder, which may retry them
// sooner than this instance would have. What it handed out is kept in
// q.out until removed or settled.
func (o *Outbox) dropLease(q *queue) {
	o.mu.Lock()
	q.leased, q.items, q.aside, q.cursor = false, nil, nil, 0
	o.mu.Unlock()
}

// close waits, up to closeWait, for the removals of what the
// dispatchers' sessions accepted, and releases each lease that nothing
// handed out is left under; the others lapse, and their next holders
// deliver what is left again.
func (sh *sharedOutbox) close() {
	o := sh.o
	o.mu.Lock()
	qs := make([]*queue, 0, len(o.queues))
	for _, q := range o.queues {
		qs = append(qs, q)
	}
	o.mu.Unlock()
	deadline := time.Now().Add(min(sh.st.LeaseTTL(), closeWait))
	for _, q := range qs {
		sh.finishRemovals(q, deadline)
		o.mu.Lock()
		leased, left := q.leased, len(q.out)
		q.leased = false
		o.mu.Unlock()
		switch {
		case !leased:
		case left > 0:
			o.log.Warn("stopping with items delivered or in flight not removed from the outbox: the lease is left to lapse, and the instance that takes it delivers them again",
				zap.String("system_id", q.systemID), zap.Int("items", left))
		default:
			sh.st.Release(q.systemID)
		}
	}
}

// finishRemovals waits until no delivered item of q is left to remove,
// trying failed removals again, or until deadline.
func (sh *sharedOutbox) finishRemovals(q *queue, deadline time.Time) {
	o := sh.o
	tick := time.NewTicker(closeRetry)
	defer tick.Stop()
	end := time.NewTimer(time.Until(deadline))
	defer end.Stop()
	for {
		o.mu.Lock()
		delivered := 0
		for _, d := range q.out {
			if d {
				delivered++
			}
		}
		o.mu.Unlock()
		if delivered == 0 {
			return
		}
		sh.retryRemovals(q)
		select {
		case <-q.wake:
		case <-tick.C:
		case <-end.C:
			return
		}
	}
}

func (sh *sharedOutbox) opened(q *queue) { q.out = make(map[uint64]bool) }

// stored: a shared outbox is read back from the store by whichever
// instance delivers it.
func (sh *sharedOutbox) stored(q *queue, _ ...*Item) { q.dirty = true }

// wake starts the client's dispatcher, which then looks for items other
// instances added.
func (sh *sharedOutbox) wake(systemID string) {
	o := sh.o
	o.mu.Lock()
	q, err := o.queueLocked(systemID)
	o.mu.Unlock()
	if err == nil {
		signal(q.wake)
	}
}

func (sh *sharedOutbox) poll() time.Duration { return min(sh.st.LeaseTTL()/3, time.Second) }

func (sh *sharedOutbox) holds(q *queue) bool { return q.leased }

func (sh *sharedOutbox) stats() []Stat {
	o := sh.o
	o.mu.Lock()
	ids := make([]string, 0, len(o.queues))
	for id := range o.queues {
		ids = append(ids, id)
	}
	o.mu.Unlock()
	now := time.Now()
	out := make([]Stat, 0, len(ids))
	for _, id := range ids {
		n, oldest, err := sh.st.OutboxLen(id)
		if err != nil {
			o.log.Warn("reading a shared outbox's length failed", zap.String("system_id", id), zap.Error(err))
			continue
		}
		st := Stat{SystemID: id, Depth: n}
		if !oldest.IsZero() {
			st.OldestAge = now.Sub(oldest)
		}
		out = append(out, st)
	}
	return out
}

func (sh *sharedOutbox) items(systemID string, after uint64, n int, text bool) ([]ItemInfo, error) {
	items, err := sh.st.Pending(systemID, after, n)
	out := make([]ItemInfo, len(items))
	for i, it := range items {
		out[i] = itemInfo(it, text)
	}
	return out, err
}

// purge is Outbox.Purge for a shared outbox: the items are deleted from
// the store, and from this instance's memory.
func (sh *sharedOutbox) purge(systemID string, seq uint64) (int, error) {
	o := sh.o
	var seqs []uint64
	if seq != 0 {
		items, err := sh.st.Pending(systemID, seq-1, 1)
		if err != nil {
			return 0, err
		}
		if len(items) == 0 || items[0].Seq != seq {
			return 0, nil
		}
		seqs = []uint64{seq}
	} else {
		for after := uint64(0); ; {
			items, err := sh.st.Pending(systemID, after, refillBatch)
			if err != nil {
				return 0, err
			}
			for _, it := range items {
				seqs = append(seqs, it.Seq)
			}
			if len(items) < refillBatch {
				break
			}
			after = items[len(items)-1].Seq
		}
	}
	if len(seqs) == 0 {
		return 0, nil
	}
	done := make(chan error, 1)
	sh.st.Remove(systemID, seqs, func(err error) { done <- err })
	if err := <-done; err != nil {
		return 0, err
	}
	purged := make(map[uint64]bool, len(seqs))
	for _, s := range seqs {
		purged[s] = true
	}
	o.mu.Lock()
	if q := o.queues[systemID]; q != nil {
		q.items = slices.DeleteFunc(q.items, func(it *Item) bool { return purged[it.Seq] })
		aside := slices.DeleteFunc(slices.Clone(q.aside), func(it *Item) bool { return purged[it.Seq] })
		heap.Init(&aside)
		q.aside = aside
	}
	o.mu.Unlock()
	return len(seqs), nil
}
