package dlr

import (
	"container/heap"
	"slices"
	"time"

	"go.uber.org/zap"
)

// strategy is what differs between an outbox of this process alone
// (localOutbox) and one several instances share through the store
// (sharedOutbox, outbox_shared.go). The Outbox calls it where the two
// differ; o.mu is held only where said.
type strategy interface {
	// opened prepares a new queue. o.mu is held.
	opened(q *queue)
	// stored takes items written to the store: added, or dead letters
	// put back. o.mu is held.
	stored(q *queue, items ...*Item)
	// wake makes systemID's outbox look for items to deliver now.
	wake(systemID string)
	// poll is how often a dispatcher looks at the store unasked; 0:
	// never.
	poll() time.Duration
	// ready is called before each round of deliveries, want saying
	// whether the client has receiving sessions here. It reports whether
	// items may go out now and, when not, how soon to look again (0: at
	// the next event).
	ready(q *queue, want bool) (bool, time.Duration)
	// delivered removes from the store an item the client accepted, and
	// reports whether the dispatcher must look again even with no item
	// waiting.
	delivered(q *queue, it *Item) bool
	// holds reports whether q still holds what it read, so that an item
	// whose delivery failed goes back into it. o.mu is held.
	holds(q *queue) bool
	// stats, items and purge implement Outbox.Stats, Items and Purge.
	stats() []Stat
	items(systemID string, after uint64, n int, text bool) ([]ItemInfo, error)
	purge(systemID string, seq uint64) (int, error)
	// close ends what the strategy keeps once the dispatchers are gone.
	close()
}

// localOutbox keeps the items in the process: the store holds them only
// to load them again after a restart.
type localOutbox struct{ o *Outbox }

func (localOutbox) opened(*queue) {}

func (localOutbox) stored(q *queue, items ...*Item) {
	for _, it := range items {
		q.insert(it)
	}
}

func (l localOutbox) wake(systemID string) { l.o.signal(systemID) }

func (localOutbox) poll() time.Duration { return 0 }

func (localOutbox) ready(*queue, bool) (bool, time.Duration) { return true, 0 }

func (l localOutbox) delivered(q *queue, it *Item) bool {
	if err := l.o.cfg.Store.DeleteOutbox(q.systemID, it.Seq); err != nil {
		// Delivered again after a restart: a duplicate, not a loss.
		l.o.log.Warn("removing a delivered item from the store failed", zap.Error(err))
	}
	return false
}

func (localOutbox) holds(*queue) bool { return true }

func (localOutbox) close() {}

func (l localOutbox) stats() []Stat {
	o := l.o
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]Stat, 0, len(o.queues))
	for id, q := range o.queues {
		st := Stat{SystemID: id, Depth: q.depth()}
		for _, l := range [][]*Item{q.items, q.aside} {
			for _, it := range l {
				if age := now.Sub(it.At); age > st.OldestAge {
					st.OldestAge = age
				}
			}
		}
		out = append(out, st)
	}
	return out
}

func (l localOutbox) items(systemID string, after uint64, n int, text bool) ([]ItemInfo, error) {
	o := l.o
	o.mu.Lock()
	q := o.queues[systemID]
	var all []*Item
	if q != nil {
		for _, l := range [][]*Item{q.items, q.aside} {
			for _, it := range l {
				if it.Seq > after {
					all = append(all, it)
				}
			}
		}
	}
	slices.SortFunc(all, func(a, b *Item) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	all = all[:min(n, len(all))]
	out := make([]ItemInfo, len(all))
	for i, it := range all {
		out[i] = itemInfo(it, text)
	}
	o.mu.Unlock()
	return out, nil
}

func (l localOutbox) purge(systemID string, seq uint64) (int, error) {
	o := l.o
	o.mu.Lock()
	q := o.queues[systemID]
	var gone []*Item
	if q != nil {
		keep := q.items[:0]
		for _, it := range q.items {
			if seq == 0 || it.Seq == seq {
				gone = append(gone, it)
			} else {
				keep = append(keep, it)
			}
		}
		clear(q.items[len(keep):])
		q.items = keep
		var aside asideHeap
		for _, it := range q.aside {
			if seq == 0 || it.Seq == seq {
				gone = append(gone, it)
			} else {
				aside = append(aside, it)
			}
		}
		if len(aside) != len(q.aside) {
			heap.Init(&aside)
			q.aside = aside
		}
	}
	o.mu.Unlock()
	for _, it := range gone {
		if err := o.cfg.Store.DeleteOutbox(systemID, it.Seq); err != nil {
			return len(gone), err
		}
	}
	return len(gone), nil
}
