// Package ratelog limits a repeated log line to one per interval, counting
// the ones it held back. It starts no goroutine: a line held back is
// counted in the next one written, never flushed on its own.
package ratelog

import (
	"sync"
	"time"
)

// Every lets one event through per interval. The zero value is ready;
// Now is for tests (time.Now when nil). Safe for concurrent use.
type Every struct {
	Now func() time.Time

	mu      sync.Mutex
	last    time.Time
	skipped int
}

// Allow reports whether a line is due now: the first call, or the first
// once interval has passed since the last line let through. When it is,
// n is how many were held back since that last line.
func (e *Every) Allow(interval time.Duration) (ok bool, n int) {
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	t := now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.last.IsZero() && t.Sub(e.last) < interval {
		e.skipped++
		return false, 0
	}
	n = e.skipped
	e.last, e.skipped = t, 0
	return true, n
}
