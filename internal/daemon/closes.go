package daemon

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/smppmux/smppmux/internal/smppconn"
	"github.com/smppmux/smppmux/metrics"
	"github.com/smppmux/smppmux/smppserver"
)

// closeLog keeps, per client system_id, why its last session closed and
// how many closed for each reason, for the status API.
type closeLog struct {
	mu      sync.Mutex
	clients map[string]*metrics.ClientCloseInfo
}

func (l *closeLog) record(systemID string, r smppconn.Reason, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.clients == nil {
		l.clients = make(map[string]*metrics.ClientCloseInfo)
	}
	c := l.clients[systemID]
	if c == nil {
		c = &metrics.ClientCloseInfo{SystemID: systemID, Counts: make(map[string]uint64)}
		l.clients[systemID] = c
	}
	c.LastReason, c.LastAt = r.String(), at
	c.Counts[r.String()]++
}

// get returns a copy, by system_id.
func (l *closeLog) get() []metrics.ClientCloseInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]metrics.ClientCloseInfo, 0, len(l.clients))
	for _, c := range l.clients {
		cp := *c
		cp.Counts = maps.Clone(c.Counts)
		out = append(out, cp)
	}
	slices.SortFunc(out, func(a, b metrics.ClientCloseInfo) int { return strings.Compare(a.SystemID, b.SystemID) })
	return out
}

// SessionClosed implements smppserver.Handler: the close reason of a
// bound session is kept for the status API.
func (g gate) SessionClosed(s *smppserver.Session) {
	g.d.closes.record(s.SystemID(), s.CloseReason(), time.Now())
	g.Relay.SessionClosed(s)
}
