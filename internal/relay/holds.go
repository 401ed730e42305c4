package relay

import (
	"sync"
	"time"

	"github.com/smppmux/smppmux/internal/lifecycle"
)

// holds ends the short holds of receipts that found no mapping (see hold)
// on one timer. Every hold lasts Config.Hold from its receipt's arrival,
// so they end in the order they began: a queue in that order, with the
// timer armed for its first, serves them all, where a timer of each
// receipt's own cost several allocations, a clock read and two changes of
// the runtime's timer heap per receipt. A receipt relayed before its hold
// ends leaves its place empty; the empty places at the front go at once.
type holds struct {
	r  *Relay
	mu sync.Mutex
	q  []holding // in order of their ends; q[i] is the hold numbered base+i
	// base numbers q[0]; numbers start at 1, 0 meaning none.
	base  uint64
	timer *lifecycle.Timer
	armed bool
}

type holding struct {
	p   *parked // nil once it ended otherwise
	end time.Time
}

// add starts p's hold, to end at end or, should that come before the
// last hold's end, with it. It returns the hold's number for drop.
func (h *holds) add(p *parked, end time.Time) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.q); n > 0 && end.Before(h.q[n-1].end) {
		end = h.q[n-1].end
	}
	if h.base == 0 {
		h.base = 1
	}
	h.q = append(h.q, holding{p: p, end: end})
	no := h.base + uint64(len(h.q)) - 1
	if !h.armed {
		h.armed = true
		d := time.Until(end)
		if h.timer == nil {
			h.timer = h.r.life.AfterFunc("receipt hold", d, h.due)
		} else {
			h.timer.Reset(d)
		}
	}
	return no
}

// drop ends hold number no early: its receipt was relayed or given up.
func (h *holds) drop(no uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if no < h.base || no-h.base >= uint64(len(h.q)) {
		return
	}
	h.q[no-h.base].p = nil
	h.trimLocked()
}

// trimLocked takes the ended holds off the front. Called with mu held.
func (h *holds) trimLocked() {
	for len(h.q) > 0 && h.q[0].p == nil {
		h.q[0] = holding{}
		h.q = h.q[1:]
		h.base++
	}
}

// due runs on the timer: the holds that ended go on (holdOver), and the
// timer is armed for the next.
func (h *holds) due() {
	now := time.Now()
	var ended []*parked
	h.mu.Lock()
	for len(h.q) > 0 && !h.q[0].end.After(now) {
		if p := h.q[0].p; p != nil {
			ended = append(ended, p)
		}
		h.q[0] = holding{}
		h.q = h.q[1:]
		h.base++
	}
	h.trimLocked()
	if len(h.q) > 0 {
		h.timer.Reset(h.q[0].end.Sub(now))
	} else {
		h.armed = false
	}
	h.mu.Unlock()
	for _, p := range ended {
		h.r.holdEnded(p)
	}
}
