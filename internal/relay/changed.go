package relay

import signal "github.com/smppmux/smppmux/internal/changes"

// changes wakes those waiting for one of the relay's rare events: a
// receipt parked, a dead letter made, a mapping write set to be tried
// again or landed at last. None of them is on the path of a submit or of
// a matched receipt, so the lock taken to signal costs nothing there.
type changes struct{ s signal.Signal }

// next returns the channel the next change closes.
func (c *changes) next() <-chan struct{} { return c.s.Next() }

// fire closes the channel of whoever waits.
func (c *changes) fire() { c.s.Fire() }

// Changed returns a channel closed at the next change of
// Stats.ReceiptsParked, Stats.DeadLetters or PendingWrites. Take it
// before reading them and wait on it when they do not say what is
// awaited yet: no change is missed between the read and the wait.
func (r *Relay) Changed() <-chan struct{} { return r.changes.next() }
