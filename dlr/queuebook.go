package dlr

import (
	"slices"
	"sync"
	"time"
)

// QueueBook holds store-and-forward queues in memory, in the order a
// QueueStore promises: each client's messages in order of Seq, the
// clients taken in turn. The memory store keeps its queues in one; the
// Pebble store keeps a copy of what its database holds, so that Take and
// the lookups read no disk. It does no I/O: a store marks the messages a
// QueueBook takes durably, and gives them back (PutBack) when it cannot.
type QueueBook struct {
	mu     sync.Mutex
	groups map[string]*bookGroup
	byID   map[clientRef]*Queued
}

type clientRef struct{ systemID, clientID string }

type bookGroup struct {
	clients map[string]*bookClient
	ring    []*bookClient // the clients with messages not taken, in turn
	next    int           // the ring's next client
	n       int           // messages held, taken included
	pending int           // messages being stored (Reserve)
	taken   map[*Queued]struct{}
	orphans []*Queued // taken by a process that ended, not settled yet
	// soonest is at or before the earliest expiry of the messages not
	// taken (zero: none expires): TakeExpired searches no sooner.
	soonest time.Time
}

type bookClient struct {
	systemID string
	items    []*Queued // not taken, by Seq
	inRing   bool
}

// NewQueueBook returns an empty QueueBook.
func NewQueueBook() *QueueBook {
	return &QueueBook{groups: make(map[string]*bookGroup), byID: make(map[clientRef]*Queued)}
}

func (b *QueueBook) group(name string) *bookGroup {
	g := b.groups[name]
	if g == nil {
		g = &bookGroup{clients: make(map[string]*bookClient), taken: make(map[*Queued]struct{})}
		b.groups[name] = g
	}
	return g
}

// Reserve counts a message of group being stored, unless the group holds
// maxItems already, counting those: then it returns ErrQueueFull. Add
// with reserved set, or Unreserve, ends the reservation.
func (b *QueueBook) Reserve(group string, maxItems int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	g := b.group(group)
	if g.n+g.pending >= maxItems {
		return ErrQueueFull
	}
	g.pending++
	return nil
}

// Unreserve ends a reservation whose message was not stored.
func (b *QueueBook) Unreserve(group string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.group(group).pending--
}

// AddReserved is Add for a message counted by Reserve.
func (b *QueueBook) AddReserved(m *Queued) {
	b.mu.Lock()
	b.group(m.Group).pending--
	b.mu.Unlock()
	b.Add(m)
}

// Add puts m in its group's queue. A message added taken is one taken by
// a process that ended: it is returned by Orphans, not by Take.
func (b *QueueBook) Add(m *Queued) {
	b.mu.Lock()
	defer b.mu.Unlock()
	g := b.group(m.Group)
	g.n++
	b.byID[clientRef{m.SystemID, m.ClientID}] = m
	if m.Taken {
		g.taken[m] = struct{}{}
		g.orphans = append(g.orphans, m)
		return
	}
	g.put(m)
}

// put inserts m, not taken, in its client's queue by Seq.
func (g *bookGroup) put(m *Queued) {
	if !m.Expires.IsZero() && (g.soonest.IsZero() || m.Expires.Before(g.soonest)) {
		g.soonest = m.Expires
	}
	c := g.clients[m.SystemID]
	if c == nil {
		c = &bookClient{systemID: m.SystemID}
		g.clients[m.SystemID] = c
	}
	if n := len(c.items); n == 0 || c.items[n-1].Seq < m.Seq {
		c.items = append(c.items, m)
	} else {
		i, _ := slices.BinarySearchFunc(c.items, m.Seq, func(q *Queued, seq uint64) int {
			return cmpU64(q.Seq, seq)
		})
		c.items = slices.Insert(c.items, i, m)
	}
	if !c.inRing {
		c.inRing = true
		g.ring = append(g.ring, c)
	}
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Take marks up to n messages of group taken, each client's oldest first,
// one client after the other, and returns them.
func (b *QueueBook) Take(group string, n int) []*Queued {
	return b.take(group, func(g *bookGroup) []*Queued { return g.takeTurns(n) })
}

// take runs f on group, under the lock, when the group exists.
func (b *QueueBook) take(group string, f func(*bookGroup) []*Queued) []*Queued {
	b.mu.Lock()
	defer b.mu.Unlock()
	if g := b.groups[group]; g != nil {
		return f(g)
	}
	return nil
}

// takeTurns takes up to n messages, the clients in turn.
func (g *bookGroup) takeTurns(n int) []*Queued {
	var out []*Queued
	for len(out) < n && len(g.ring) > 0 {
		if g.next >= len(g.ring) {
			g.next = 0
		}
		c := g.ring[g.next]
		m := c.items[0]
		c.items[0] = nil
		c.items = c.items[1:]
		out = g.mark(out, m)
		if len(c.items) == 0 {
			c.items, c.inRing = nil, false
			g.ring = slices.Delete(g.ring, g.next, g.next+1)
			delete(g.clients, c.systemID)
		} else {
			g.next++
		}
	}
	return out
}

// TakeExpired marks up to n messages of group taken whose Expires is at
// or before now and returns them.
func (b *QueueBook) TakeExpired(group string, now time.Time, n int) []*Queued {
	return b.take(group, func(g *bookGroup) []*Queued { return g.takeExpired(now, n) })
}

// mark marks m taken and appends it to out.
func (g *bookGroup) mark(out []*Queued, m *Queued) []*Queued {
	m.Taken = true
	g.taken[m] = struct{}{}
	return append(out, m)
}

func (g *bookGroup) takeExpired(now time.Time, n int) []*Queued {
	if g.soonest.IsZero() || g.soonest.After(now) {
		return nil
	}
	var out []*Queued
	var soonest time.Time
	defer func() {
		// Only a search that went through every message knows the
		// earliest expiry left; otherwise the next one searches again.
		if len(out) < n {
			g.soonest = soonest
		}
	}()
	for _, c := range g.clients {
		if len(out) >= n {
			break
		}
		c.items = slices.DeleteFunc(c.items, func(m *Queued) bool {
			if len(out) >= n || m.Expires.IsZero() || m.Expires.After(now) {
				if !m.Expires.IsZero() && (soonest.IsZero() || m.Expires.Before(soonest)) {
					soonest = m.Expires
				}
				return false
			}
			out = g.mark(out, m)
			return true
		})
	}
	g.dropEmpty()
	return out
}

// dropEmpty removes the clients left without messages from the ring.
func (g *bookGroup) dropEmpty() {
	kept := g.ring[:0]
	for i, c := range g.ring {
		if len(c.items) > 0 {
			kept = append(kept, c)
			continue
		}
		if i < g.next {
			g.next--
		}
		c.inRing = false
		delete(g.clients, c.systemID)
	}
	clear(g.ring[len(kept):])
	g.ring = kept
}

// PutBack puts taken messages back in their place, not taken.
func (b *QueueBook) PutBack(ms []*Queued) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range ms {
		g := b.groups[m.Group]
		if g == nil {
			continue
		}
		if _, ok := g.taken[m]; !ok {
			continue
		}
		delete(g.taken, m)
		m.Taken = false
		g.put(m)
	}
}

// Remove removes m, taken or not; it reports whether m was there.
func (b *QueueBook) Remove(m *Queued) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.removeLocked(m)
}

func (b *QueueBook) removeLocked(m *Queued) bool {
	g := b.groups[m.Group]
	if g == nil {
		return false
	}
	ref := clientRef{m.SystemID, m.ClientID}
	if b.byID[ref] == m {
		delete(b.byID, ref)
	}
	if _, ok := g.taken[m]; ok {
		delete(g.taken, m)
		if i := slices.Index(g.orphans, m); i >= 0 {
			g.orphans = slices.Delete(g.orphans, i, i+1)
		}
		g.n--
		return true
	}
	c := g.clients[m.SystemID]
	if c == nil {
		return false
	}
	i := slices.Index(c.items, m)
	if i < 0 {
		return false
	}
	c.items = slices.Delete(c.items, i, i+1)
	g.n--
	if len(c.items) == 0 {
		g.dropEmpty()
	}
	return true
}

// Find returns a copy of systemID's message clientID and the message
// itself, to be given back to Remove.
func (b *QueueBook) Find(systemID, clientID string) (Queued, *Queued, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.byID[clientRef{systemID, clientID}]
	if m == nil {
		return Queued{}, nil, false
	}
	return *m, m, true
}

// Cancel removes systemID's message clientID unless it is taken, as
// QueueStore.Cancel says, and returns the message removed (nil when
// none was).
func (b *QueueBook) Cancel(systemID, clientID string) (Queued, *Queued, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.byID[clientRef{systemID, clientID}]
	if m == nil {
		return Queued{}, nil, false
	}
	c := *m
	if m.Taken {
		return c, nil, true
	}
	b.removeLocked(m)
	return c, m, true
}

// Len returns how many messages group holds, taken included, and when
// the oldest was accepted.
func (b *QueueBook) Len(group string) (int, time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	g := b.groups[group]
	if g == nil {
		return 0, time.Time{}
	}
	oldest := int64(0)
	older := func(m *Queued) {
		if m.Submitted != 0 && (oldest == 0 || m.Submitted < oldest) {
			oldest = m.Submitted
		}
	}
	for _, c := range g.clients {
		if len(c.items) > 0 {
			older(c.items[0])
		}
	}
	for m := range g.taken {
		older(m)
	}
	if oldest == 0 {
		return g.n, time.Time{}
	}
	return g.n, time.Unix(0, oldest)
}

// Orphans returns group's messages added taken and not removed yet.
func (b *QueueBook) Orphans(group string) []*Queued {
	b.mu.Lock()
	defer b.mu.Unlock()
	g := b.groups[group]
	if g == nil {
		return nil
	}
	return slices.Clone(g.orphans)
}
