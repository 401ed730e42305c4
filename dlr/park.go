package dlr

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/smppmux/smppmux/internal/lifecycle"
)

// Parking holds receipts that arrived before the mapping of their message
// was recorded, typically because the SMSC sent the receipt before the
// submit_sm_resp, or on another bind. Entries are keyed by upstream and
// the receipt's id as written, and by its folded form when the upstream's
// id form allows folding; a mapping's write claims by its exact id, and
// then by its folded id (the claimer then checks that the mapping is the
// only one of that form). One that is not claimed within the timeout is
// handed to its expire function.
//
// To close the race between a receipt missing its mapping and the mapping
// landing, the receipt side parks first and looks the mapping up again;
// the mapping side records first and then claims. Claiming is exclusive,
// so exactly one of them delivers.
//
// Most receipts stay parked for a few milliseconds, so an entry costs no
// timer of its own: entries wait in parking order, which is expiry order
// as they share the timeout, and one timer armed for the oldest serves
// them all. The timer is its Tracker's: once that stops, nothing expires.
type Parking struct {
	timeout time.Duration
	life    *lifecycle.Tracker
	count   atomic.Int64
	mu      sync.Mutex
	m       map[idKey]*Parked // by the id as written
	folded  map[idKey]*Parked // by the folded id
	// oldest and newest end the list of unclaimed entries, in parking
	// order.
	oldest, newest *Parked
	timer          *lifecycle.Timer
	armed          bool // timer will fire
	stopped        atomic.Bool
}

// Parked is one parked receipt.
type Parked struct {
	key        idKey // upstream and the id as written
	folded     idKey // upstream and the folded id; zero when not parked under it
	deadline   time.Time
	expire     func(value any)
	prev, next *Parked
	claimed    bool
	// Value is the caller's receipt.
	Value any
}

// NewParking returns a Parking whose entries expire after timeout, its
// timer on a Tracker of its own.
func NewParking(timeout time.Duration) *Parking {
	return NewTrackedParking(timeout, nil)
}

// NewTrackedParking is NewParking with the timer on life (nil: a Tracker
// of its own).
func NewTrackedParking(timeout time.Duration, life *lifecycle.Tracker) *Parking {
	if life == nil {
		life = lifecycle.New(nil)
	}
	return &Parking{timeout: timeout, life: life, m: make(map[idKey]*Parked), folded: make(map[idKey]*Parked)}
}

// Park holds value under upstream and id, and folded unless it is empty,
// until claimed or expired; expire is called, from a timer goroutine, if
// nobody claims it in time. After Stop it parks nothing and returns nil.
func (p *Parking) Park(upstream, id, folded string, value any, expire func(value any)) *Parked {
	return p.ParkUntil(time.Time{}, upstream, id, folded, value, expire)
}

// ParkUntil is Park with the wait ending at until rather than the
// timeout from now (zero: the timeout from now), for a receipt that
// already waited before a restart. Entries expire in the order parked, so
// until is taken no earlier than the deadline of the last parked.
func (p *Parking) ParkUntil(until time.Time, upstream, id, folded string, value any, expire func(value any)) *Parked {
	e := &Parked{Value: value, expire: expire, key: idKey{upstream, id}}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped.Load() {
		return nil
	}
	p.m[e.key] = e
	if folded != "" {
		e.folded = idKey{upstream, folded}
		p.folded[e.folded] = e
	}
	p.count.Add(1)
	now := time.Now()
	e.deadline = now.Add(p.timeout)
	if !until.IsZero() {
		e.deadline = until
	}
	if p.newest != nil && e.deadline.Before(p.newest.deadline) {
		e.deadline = p.newest.deadline
	}
	e.prev = p.newest
	if p.newest != nil {
		p.newest.next = e
	} else {
		p.oldest = e
	}
	p.newest = e
	if !p.armed {
		p.armed = true
		d := e.deadline.Sub(now)
		if p.timer == nil {
			p.timer = p.life.AfterFunc("parking expiry", d, p.expireDue)
		} else {
			p.timer.Reset(d)
		}
	}
	return e
}

// Holds reports whether e is parked still: neither claimed nor expired.
func (p *Parking) Holds(e *Parked) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !e.claimed
}

// expireDue runs on the timer: it gives up on the entries past their
// deadline and arms the timer for the oldest left.
func (p *Parking) expireDue() {
	var due []*Parked
	p.mu.Lock()
	if p.stopped.Load() {
		// Fired as Stop stopped it: Stop hands the entries back.
		p.mu.Unlock()
		return
	}
	now := time.Now()
	for p.oldest != nil && !p.oldest.deadline.After(now) {
		e := p.oldest
		p.removeLocked(e)
		due = append(due, e)
	}
	if p.oldest != nil {
		p.timer.Reset(p.oldest.deadline.Sub(now))
	} else {
		p.armed = false
	}
	p.mu.Unlock()
	for _, e := range due {
		e.expire(e.Value)
	}
}

// Claim takes the receipt parked under (upstream, id), if any.
func (p *Parking) Claim(upstream, id string) (any, bool) {
	if p.count.Load() == 0 {
		return nil, false
	}
	return p.claim(p.m, idKey{upstream, id})
}

// ClaimFolded takes a receipt parked under upstream and FoldID(id), if
// any.
func (p *Parking) ClaimFolded(upstream, id string) (any, bool) {
	if p.count.Load() == 0 {
		return nil, false
	}
	return p.claim(p.folded, idKey{upstream, FoldID(id)})
}

func (p *Parking) claim(m map[idKey]*Parked, k idKey) (any, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := m[k]
	if e == nil || e.claimed {
		return nil, false
	}
	p.removeLocked(e)
	return e.Value, true
}

// Reclaim takes back e itself; it fails if e was claimed or expired.
func (p *Parking) Reclaim(e *Parked) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.claimed {
		return false
	}
	p.removeLocked(e)
	return true
}

// removeLocked claims e: it leaves the map and the list. The timer stays
// armed; finding nothing due, it arms itself for the oldest left. Called
// with p.mu held.
func (p *Parking) removeLocked(e *Parked) {
	e.claimed = true
	if p.m[e.key] == e {
		delete(p.m, e.key)
	}
	if e.folded != (idKey{}) && p.folded[e.folded] == e {
		delete(p.folded, e.folded)
	}
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		p.oldest = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		p.newest = e.prev
	}
	e.prev, e.next = nil, nil
	p.count.Add(-1)
}

// Stop ends the parking, for good: the timer is stopped, no expire
// function is called from now on, Park refuses, and the values of the
// entries still parked are returned, claimed, for the caller to answer.
// An expire function already called when Stop returns may still be
// running.
func (p *Parking) Stop() []any {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped.Swap(true) {
		return nil
	}
	if p.timer != nil {
		p.timer.Stop()
	}
	p.armed = false
	var out []any
	for p.oldest != nil {
		e := p.oldest
		p.removeLocked(e)
		out = append(out, e.Value)
	}
	return out
}

// Stopped reports whether Stop was called.
func (p *Parking) Stopped() bool { return p.stopped.Load() }

// Len returns how many receipts are parked.
func (p *Parking) Len() int { return int(p.count.Load()) }
