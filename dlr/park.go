package dlr

import (
	"sync"
	"sync/atomic"
	"time"
)

// Parking holds receipts that arrived before the mapping of their message
// was recorded, typically because the SMSC sent the receipt before the
// submit_sm_resp, or on another bind. Entries are keyed by upstream and
// every candidate form of the id; one that is not claimed within the
// timeout is handed to its expire function.
//
// To close the race between a receipt missing its mapping and the mapping
// landing, the receipt side parks first and looks the mapping up again;
// the mapping side records first and then claims. Claiming is exclusive,
// so exactly one of them delivers.
type Parking struct {
	timeout time.Duration
	count   atomic.Int64
	mu      sync.Mutex
	m       map[string]*Parked
}

// Parked is one parked receipt.
type Parked struct {
	keys    []string
	timer   *time.Timer
	claimed bool
	// Value is the caller's receipt.
	Value any
}

// NewParking returns a Parking whose entries expire after timeout.
func NewParking(timeout time.Duration) *Parking {
	return &Parking{timeout: timeout, m: make(map[string]*Parked)}
}

// Park holds value under upstream and ids until claimed or expired;
// expire is called, from a timer goroutine, if nobody claims it in time.
func (p *Parking) Park(upstream string, ids []string, value any, expire func(value any)) *Parked {
	e := &Parked{Value: value}
	for _, id := range ids {
		e.keys = append(e.keys, memKey(upstream, id))
	}
	p.mu.Lock()
	for _, k := range e.keys {
		p.m[k] = e
	}
	p.count.Add(1)
	e.timer = time.AfterFunc(p.timeout, func() {
		if p.claim(e) {
			expire(e.Value)
		}
	})
	p.mu.Unlock()
	return e
}

// Claim takes the receipt parked under (upstream, id), if any.
func (p *Parking) Claim(upstream, id string) (any, bool) {
	if p.count.Load() == 0 {
		return nil, false
	}
	p.mu.Lock()
	e := p.m[memKey(upstream, id)]
	p.mu.Unlock()
	if e == nil || !p.claim(e) {
		return nil, false
	}
	return e.Value, true
}

// Reclaim takes back e itself; it fails if e was claimed or expired.
func (p *Parking) Reclaim(e *Parked) bool { return p.claim(e) }

func (p *Parking) claim(e *Parked) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.claimed {
		return false
	}
	e.claimed = true
	for _, k := range e.keys {
		if p.m[k] == e {
			delete(p.m, k)
		}
	}
	p.count.Add(-1)
	if e.timer != nil {
		e.timer.Stop()
	}
	return true
}

// Len returns how many receipts are parked.
func (p *Parking) Len() int { return int(p.count.Load()) }
