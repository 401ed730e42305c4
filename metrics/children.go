package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// children remembers the child of a vector for each label combination the
// per-message paths use, so that recording an event is a map read under a
// read lock instead of WithLabelValues (which hashes and validates every
// label and allocates). Label values come from the configuration and a
// table of statuses, so the maps stay as small as the vectors themselves.
type children[K comparable, V any] struct {
	mu sync.RWMutex
	m  map[K]V
}

func (c *children[K, V]) get(k K) (V, bool) {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	return v, ok
}

func (c *children[K, V]) put(k K, v V) {
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[K]V)
	}
	c.m[k] = v
	c.mu.Unlock()
}

type submitKey struct {
	client, group, upstream string
	status                  uint32
}

// submitChildren is what Submit records to.
type submitChildren struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

type upstreamKey struct {
	upstream, label string
}

// finalChildren is what FinalReceipt records to.
type finalChildren struct {
	count prometheus.Counter
	delay prometheus.Observer
}
