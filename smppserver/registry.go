package smppserver

import (
	"slices"
	"sync"

	"github.com/smppmux/smppmux/internal/pdu"
)

// Registry indexes bound sessions by system_id. It is safe for concurrent
// use.
type Registry struct {
	mu       sync.RWMutex
	bySystem map[string][]*Session
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	return &Registry{bySystem: make(map[string][]*Session)}
}

// add registers s unless its system_id already holds max sessions.
func (r *Registry) add(s *Session, max int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.bySystem[s.systemID]
	if max > 0 && len(list) >= max {
		return false
	}
	r.bySystem[s.systemID] = append(list, s)
	return true
}

func (r *Registry) remove(s *Session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.bySystem[s.systemID]
	if i := slices.Index(list, s); i >= 0 {
		// In place: the list is never handed out (Receivers copies), and
		// a copy per removal made closing n sessions of one system_id
		// allocate n²/2 pointers.
		list = slices.Delete(list, i, i+1)
	}
	if len(list) == 0 {
		delete(r.bySystem, s.systemID)
		return
	}
	r.bySystem[s.systemID] = list
}

// Receivers returns the bound sessions of systemID that can take
// deliver_sm: those bound as receiver or transceiver.
func (r *Registry) Receivers(systemID string) []*Session {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*Session
	for _, s := range r.bySystem[systemID] {
		// A session unbinding takes no new deliveries.
		if s.bindType != pdu.BindTransmitter && state(s.state.Load()) == stateBound {
			out = append(out, s)
		}
	}
	return out
}

// Count returns how many sessions systemID holds.
func (r *Registry) Count(systemID string) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.bySystem[systemID])
}
