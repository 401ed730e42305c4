// Package changes wakes those waiting for a rare event: a Signal's Next
// returns a channel that its next Fire closes. Waiters take the channel
// before they read the state they wait on, so no change is missed between
// the read and the wait. Fire takes a lock: it is for events off the hot
// path (a bind bound or lost, a store's health changed). It starts no
// goroutine.
package changes

import "sync"

// Signal is closed-channel broadcast. The zero value is ready to use.
type Signal struct {
	mu sync.Mutex
	ch chan struct{} // closed and cleared by Fire, made by Next
}

// Next returns the channel the next Fire closes.
func (s *Signal) Next() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// Fire closes the channel of whoever waits.
func (s *Signal) Fire() {
	s.mu.Lock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
	s.mu.Unlock()
}
