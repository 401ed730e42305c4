package dlr

import (
	"errors"

	"go.uber.org/zap"
)

// bury moves an item the client refused for good from the outbox to the
// dead letters. If the store fails, the item stays in the outbox, set
// aside: it is never dropped.
func (o *Outbox) bury(q *queue, it *Item, reason DeadReason) {
	d := &DeadLetter{SystemID: q.systemID, Raw: it.Raw, Origin: it.Origin, Arrived: it.At,
		Attempts: it.Attempts, Refusals: it.Refusals, LastStatus: it.LastStatus, Reason: reason}
	o.cfg.Store.PutDeadLetter(d, it.Seq, func(err error) {
		switch {
		case errors.Is(err, ErrNotLeased):
			// The lease lapsed: the item stays in the store, for
			// whichever instance takes the lease, this one included,
			// reading the outbox again from its start.
			o.log.Warn("outbox lease lost: the refused item stays in the outbox",
				zap.String("system_id", q.systemID), zap.Uint64("seq", it.Seq))
			o.dropLease(q)
			o.forget(q, it)
			return
		case errors.Is(err, ErrNotInOutbox):
			// Delivered by another instance meanwhile.
			o.log.Info("refused item left the outbox before it could become a dead letter",
				zap.String("system_id", q.systemID), zap.Uint64("seq", it.Seq))
			o.forget(q, it)
			return
		case err != nil:
			o.log.Warn("making a dead letter failed; the item stays in the outbox",
				zap.String("system_id", q.systemID), zap.Uint64("seq", it.Seq), zap.Error(err))
			o.setAside(q, it)
			return
		}
		o.log.Warn("item the client refused made a dead letter", zap.String("system_id", q.systemID),
			zap.Uint64("seq", it.Seq), zap.Uint64("dead_letter", d.Seq), zap.Int("attempts", d.Attempts),
			zap.Int("refusals", d.Refusals), zap.Stringer("last_status", statusField(d.LastStatus)),
			zap.String("reason", string(reason)))
		o.forget(q, it)
		if o.cfg.OnDeadLetter != nil {
			o.cfg.OnDeadLetter(q.systemID, d)
		}
	})
}

// requeueBatch is how many dead letters one atomic write puts back.
const requeueBatch = 512

// DeadLetters returns up to n of systemID's dead letters, those after the
// one numbered after (0: from the first).
func (o *Outbox) DeadLetters(systemID string, after uint64, n int) ([]DeadLetter, error) {
	return o.cfg.Store.DeadLetters(systemID, after, n)
}

// DeadLetterStats counts the dead letters of each of systemIDs.
func (o *Outbox) DeadLetterStats(systemIDs []string) ([]DeadLetterStat, error) {
	return o.cfg.Store.DeadLetterStats(systemIDs)
}

// PurgeDeadLetters deletes systemID's dead letter seq, or all of them when
// seq is 0, and returns how many it deleted.
func (o *Outbox) PurgeDeadLetters(systemID string, seq uint64) (int, error) {
	n, err := o.cfg.Store.PurgeDeadLetters(systemID, seq)
	if err == nil && n > 0 {
		o.log.Info("dead letters purged", zap.String("system_id", systemID), zap.Uint64("seq", seq), zap.Int("count", n))
	}
	return n, err
}

// RetryDeadLetters puts systemID's dead letters back at the end of its
// outbox, as items arrived now with no attempt made, and returns how many
// it put back. Those made dead letters meanwhile stay.
func (o *Outbox) RetryDeadLetters(systemID string) (int, error) {
	o.mu.Lock()
	q, err := o.queueLocked(systemID)
	o.mu.Unlock()
	if err != nil {
		return 0, err
	}
	st, err := o.cfg.Store.DeadLetterStats([]string{systemID})
	if err != nil {
		return 0, err
	}
	moved := 0
	for moved < st[0].Count {
		items, err := o.cfg.Store.RequeueDeadLetters(systemID, min(requeueBatch, st[0].Count-moved))
		o.mu.Lock()
		o.keep.stored(q, items...)
		o.mu.Unlock()
		moved += len(items)
		if len(items) > 0 {
			signal(q.wake)
		}
		if err != nil || len(items) == 0 {
			o.logRetried(systemID, moved)
			return moved, err
		}
	}
	o.logRetried(systemID, moved)
	return moved, nil
}

func (o *Outbox) logRetried(systemID string, n int) {
	if n > 0 {
		o.log.Info("dead letters put back in the outbox", zap.String("system_id", systemID), zap.Int("count", n))
	}
}
