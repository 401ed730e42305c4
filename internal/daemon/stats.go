package daemon

import (
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/smppmux/smppmux/metrics"
)

// statsEvery is how often the parts of the snapshot read from the store
// (outbox depths, dead letter counts) are read again. /metrics, /readyz and
// the status API answer from the last reading, at once, whatever the store
// is doing: a Redis that does not answer costs them nothing.
const statsEvery = 2 * time.Second

// storeStats is the last reading of what the snapshot takes from the
// store.
type storeStats struct {
	mu       sync.Mutex
	outboxes []metrics.OutboxInfo
	dead     []metrics.DeadLetterInfo
}

func (st *storeStats) get() ([]metrics.OutboxInfo, []metrics.DeadLetterInfo) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.outboxes, st.dead
}

// readStoreStats reads the outboxes and dead letter counts from the store
// into d.stats; a failed count keeps the last good one.
func (d *Daemon) readStoreStats() {
	var outboxes []metrics.OutboxInfo
	for _, st := range d.Relay.Outbox().Stats() {
		outboxes = append(outboxes, metrics.OutboxInfo{SystemID: st.SystemID, Depth: st.Depth, OldestAge: st.OldestAge})
	}
	d.stats.mu.Lock()
	d.stats.outboxes = outboxes
	d.stats.mu.Unlock()
	if d.store.Health() != nil {
		// The store logs why it takes no writes; the last count stays.
		return
	}
	// On success DeadLetterCounts keeps what it read in d.stats.
	if _, err := d.DeadLetterCounts(); err != nil {
		d.log.Warn("counting dead letters failed", zap.Error(err))
	}
}

// statsLoop reads the store's part of the snapshot now and every
// statsEvery until stop is closed.
func (d *Daemon) statsLoop(stop <-chan struct{}) {
	t := time.NewTicker(statsEvery)
	defer t.Stop()
	for {
		d.readStoreStats()
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}
