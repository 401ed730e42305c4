package metrics

import (
	"encoding/json"
	"time"
)

// Source gives the state that gauges report. Snapshot is called once per
// scrape (and by the admin status API), from the scraping goroutine, so it
// must be safe for concurrent use and should not block on the hot path's
// locks for long.
type Source interface {
	Snapshot() Snapshot
}

// Snapshot is smppmux's state at one instant: what the gauges and the admin
// status API report. Field names in JSON are stable.
type Snapshot struct {
	Sessions []SessionInfo `json:"sessions"` // bound client sessions
	Binds    []BindInfo    `json:"binds"`    // upstream binds
	// Upstreams describes each upstream as a whole: its pace.
	Upstreams []UpstreamInfo `json:"upstreams"`
	Groups    []GroupInfo    `json:"groups"`   // connection groups
	Outboxes  []OutboxInfo   `json:"outboxes"` // client outboxes holding receipts or MO
	Ready     bool           `json:"ready"`    // smppmux accepts traffic

	// DeadLetters counts each configured client's dead letters.
	DeadLetters []DeadLetterInfo `json:"dead_letters"`
	// Store is the store of mappings and outboxes.
	Store StoreInfo `json:"store"`
	// ClientCloses says, per client, why its last session closed and how
	// many closed for each reason since the start.
	ClientCloses []ClientCloseInfo `json:"client_closes"`
	// Lifecycle counts the goroutines and timers smppmux owns.
	Lifecycle LifecycleInfo `json:"lifecycle"`
}

// ClientCloseInfo is why a client's sessions closed.
type ClientCloseInfo struct {
	SystemID   string            `json:"system_id"`
	LastReason string            `json:"last_reason"` // a close reason, as in smppmux_client_sessions_closed_total
	LastAt     time.Time         `json:"last_at"`
	Counts     map[string]uint64 `json:"counts"` // by close reason
}

// LifecycleInfo counts the goroutines and timers smppmux owns.
type LifecycleInfo struct {
	Running int `json:"running"` // goroutines and timers' work running now
	Timers  int `json:"timers"`  // timers armed
	Panics  int `json:"panics"`  // panics recovered since the start
}

// StoreInfo describes the store of mappings and outboxes.
type StoreInfo struct {
	Kind    string `json:"kind"`    // pebble or redis
	Healthy bool   `json:"healthy"` // it takes writes
	Error   string `json:"error,omitempty"`
	// PendingWrites counts the submits an SMSC accepted whose mapping
	// write failed and is being tried again, their answers waiting.
	PendingWrites int `json:"pending_writes"`
	// LSM is the shape of a Pebble store's tree; nil for Redis, or while
	// the database is not open.
	LSM *LSMInfo `json:"lsm,omitempty"`
}

// LSMInfo is the shape of a Pebble store's LSM tree.
type LSMInfo struct {
	L0Tables    int64  `json:"l0_tables"`
	L0Sublevels int64  `json:"l0_sublevels"`
	L0Bytes     uint64 `json:"l0_bytes"`
	TableBytes  uint64 `json:"table_bytes"`
	// DebtBytes: what compactions must still write, as Pebble estimates.
	DebtBytes uint64 `json:"compaction_debt_bytes"`
	// Since the start.
	Compactions    int64  `json:"compactions"`
	CompactedBytes uint64 `json:"compacted_bytes"`
	FlushedBytes   uint64 `json:"flushed_bytes"`
}

// SessionInfo describes one client session (one ESME bind).
type SessionInfo struct {
	ID       uint64 `json:"id"`
	SystemID string `json:"system_id"`
	BindType string `json:"bind_type"` // transmitter, receiver, transceiver
	Remote   string `json:"remote"`    // the client's address
	Inflight int    `json:"inflight"`  // submits awaiting their resp: the window in use
}

// BindInfo describes one upstream bind.
type BindInfo struct {
	Upstream   string `json:"upstream"`
	Index      int    `json:"index"` // which of the upstream's binds
	BindType   string `json:"bind_type"`
	State      string `json:"state"` // closed, dialing, binding, bound, unbinding
	LocalAddr  string `json:"local_addr"`
	WindowUsed int    `json:"window_used"`
	Window     int    `json:"window"`
	// LastClose is why the bind's latest connection closed; empty
	// before one did.
	LastClose string `json:"last_close,omitempty"`
}

// UpstreamInfo describes one upstream (SMSC) over all its binds.
type UpstreamInfo struct {
	Name string `json:"name"`
	// PaceTPS is the submits per second the upstream sends at most now:
	// its configured tps, or below it the rate learnt from the SMSC's
	// throttling answers; 0 when nothing paces it.
	PaceTPS float64 `json:"pace_tps"`
	// Throttled counts the submits the SMSC answered ESME_RTHROTTLED or
	// ESME_RMSGQFUL since the upstream started.
	Throttled uint64 `json:"throttled"`
}

// GroupInfo describes one connection group and its members.
type GroupInfo struct {
	Name    string       `json:"name"`
	Mode    string       `json:"mode"` // active-active, active-standby, adaptive
	Members []MemberInfo `json:"members"`
	// Available says some member can take a message now.
	Available bool `json:"available"`
	// Queue is the group's store-and-forward queue; nil for a group that
	// relays.
	Queue *QueueInfo `json:"queue,omitempty"`
}

// QueueInfo describes a group's store-and-forward queue.
type QueueInfo struct {
	Depth            int     `json:"depth"`              // messages held, in flight included
	OldestAgeSeconds float64 `json:"oldest_age_seconds"` // age of the oldest; 0 when empty
	InFlight         int     `json:"in_flight"`          // sent and not answered, or being settled
}

// MemberInfo describes one member of a group: an upstream seen from that
// group.
type MemberInfo struct {
	Upstream        string  `json:"upstream"`
	Weight          int     `json:"weight"`           // configured; 0 while drained
	EffectiveWeight float64 `json:"effective_weight"` // after breaker ramp and adaptive scaling
	Healthy         bool    `json:"healthy"`          // bound, and its breaker lets traffic through

	Breaker string `json:"breaker"` // closed, open, half_open
}

// OutboxInfo describes one client's outbox. In JSON, OldestAge is
// oldest_age_seconds, a number of seconds.
type OutboxInfo struct {
	SystemID  string
	Depth     int           // items waiting
	OldestAge time.Duration // age of the oldest item; 0 when empty
}

type outboxJSON struct {
	SystemID         string  `json:"system_id"`
	Depth            int     `json:"depth"`
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
}

// MarshalJSON writes the outbox with its oldest age in seconds.
func (o OutboxInfo) MarshalJSON() ([]byte, error) {
	return json.Marshal(outboxJSON{o.SystemID, o.Depth, o.OldestAge.Seconds()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (o *OutboxInfo) UnmarshalJSON(b []byte) error {
	var j outboxJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*o = OutboxInfo{
		SystemID:  j.SystemID,
		Depth:     j.Depth,
		OldestAge: time.Duration(j.OldestAgeSeconds * float64(time.Second)),
	}
	return nil
}

// DeadLetterInfo describes one client's dead letters.
type DeadLetterInfo struct {
	SystemID string    `json:"system_id"`
	Count    int       `json:"count"`
	Oldest   time.Time `json:"oldest,omitzero"` // when the oldest became one
}
