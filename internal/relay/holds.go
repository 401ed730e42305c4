package relay

import (
	"time"

	"github.com/smppmux/smppmux/internal/holdq"
)

// newHolds returns the queue that ends the short holds of receipts that
// found no mapping (see hold) on one timer of the relay's Tracker: every
// hold lasts Config.Hold from its receipt's arrival, so they end in the
// order they began. A receipt relayed before its hold ends drops it.
func (r *Relay) newHolds() *holdq.Queue[*parked] {
	return holdq.New(func(d time.Duration, fn func()) holdq.Timer {
		if t := r.life.AfterFunc("receipt hold", d, fn); t != nil {
			return t
		}
		return nil
	}, r.holdEnded)
}
