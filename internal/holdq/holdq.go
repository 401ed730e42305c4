// Package holdq ends many waits of one length on one timer.
//
// Waits of one length end in the order they began: a queue in that order,
// with one timer armed for its first, serves them all, where a timer for
// each costs allocations, a clock read and two changes of the runtime's
// timer heap per wait. A wait ended early leaves its place empty, and the
// empty places at the front go at once, so a queue whose waits mostly end
// early stays short. The package starts no goroutine of its own; the
// timer's runs the waits' ends.
package holdq

import (
	"sync"
	"time"
)

// Timer is what a Queue arms: a *time.Timer or a lifecycle timer.
type Timer interface {
	Reset(d time.Duration) bool
}

// Queue holds values until their end, then hands them to the function
// given to New, in order, on its timer's goroutine.
type Queue[T any] struct {
	start func(d time.Duration, fn func()) Timer
	ended func(v T)

	mu sync.Mutex
	// q[i] is wait number base+i, in order of their ends; numbers start
	// at 1, 0 meaning none.
	q     []wait[T]
	base  uint64
	timer Timer
	armed bool
}

type wait[T any] struct {
	v    T
	live bool
	end  time.Time
}

// New returns a queue that hands each value whose wait ended to ended.
// start makes its timer, once, for a first run after d: time.AfterFunc
// or another that returns a Timer; it may return nil (when it arms
// nothing any more: stopping).
func New[T any](start func(d time.Duration, fn func()) Timer, ended func(v T)) *Queue[T] {
	return &Queue[T]{start: start, ended: ended}
}

// Add starts a wait of v until end or, should that come before the end of
// the last wait, until that. It returns the wait's number for Drop.
func (h *Queue[T]) Add(v T, end time.Time) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.q); n > 0 && end.Before(h.q[n-1].end) {
		end = h.q[n-1].end
	}
	if h.base == 0 {
		h.base = 1
	}
	h.q = append(h.q, wait[T]{v: v, live: true, end: end})
	no := h.base + uint64(len(h.q)) - 1
	if !h.armed {
		h.armed = true
		d := time.Until(end)
		if h.timer == nil {
			h.timer = h.start(d, h.due)
		} else {
			h.timer.Reset(d)
		}
	}
	return no
}

// Drop ends wait number no early: its value is not handed on. Dropping a
// wait that ended already does nothing.
func (h *Queue[T]) Drop(no uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if no < h.base || no-h.base >= uint64(len(h.q)) {
		return
	}
	h.q[no-h.base] = wait[T]{end: h.q[no-h.base].end}
	for len(h.q) > 0 && !h.q[0].live {
		h.popLocked()
	}
}

// Len returns how many places the queue holds, empty ones included.
func (h *Queue[T]) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.q)
}

// Armed reports whether the timer is armed.
func (h *Queue[T]) Armed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.armed
}

func (h *Queue[T]) popLocked() {
	h.q[0] = wait[T]{}
	h.q = h.q[1:]
	h.base++
}

// due runs on the timer: the values whose wait ended are handed on, and
// the timer is armed for the next end.
func (h *Queue[T]) due() {
	now := time.Now()
	var ended []T
	h.mu.Lock()
	for len(h.q) > 0 && (!h.q[0].live || !h.q[0].end.After(now)) {
		if h.q[0].live {
			ended = append(ended, h.q[0].v)
		}
		h.popLocked()
	}
	if len(h.q) > 0 {
		h.timer.Reset(h.q[0].end.Sub(now))
	} else {
		h.armed = false
	}
	h.mu.Unlock()
	for _, v := range ended {
		h.ended(v)
	}
}
