package config

import "time"

// GroupMode is how a group spreads submits over its members.
type GroupMode string

// Group modes.
const (
	// ModeActiveActive spreads submits over all healthy members by weight
	// (smooth weighted round-robin).
	ModeActiveActive GroupMode = "active-active"
	// ModeActiveStandby sends to the first healthy member in the order
	// written, the others standing by.
	ModeActiveStandby GroupMode = "active-standby"
	// ModeAdaptive is active-active with weights scaled by each member's
	// measured success ratio, response latency and delivered-receipt
	// ratio.
	ModeAdaptive GroupMode = "adaptive"
)

// Group is a set of upstreams a route sends to.
type Group struct {
	// Name identifies the group in routes, logs and metrics: letters,
	// digits, "_", "." and "-", unique. Required.
	Name string `yaml:"name" mapstructure:"name"`
	// Mode is active-active or active-standby. Default active-active.
	Mode GroupMode `yaml:"mode" mapstructure:"mode"`
	// Members are the upstreams of the group, each at most once, in
	// priority order for active-standby. At least one.
	Members []Member `yaml:"members" mapstructure:"members"`
	// RetryOn lists the response statuses after which a submit is tried on
	// the next member, because the SMSC certainly did not take it.
	// Default ESME_RTHROTTLED, ESME_RMSGQFUL, ESME_RSYSERR.
	RetryOn []string `yaml:"retry_on" mapstructure:"retry_on"`
	// MaxAttempts bounds how many members one submit is tried on, 1 to
	// 64. Default 3.
	MaxAttempts int `yaml:"max_attempts" mapstructure:"max_attempts"`
	// QueueTimeout is how long a submit waits for a member to become
	// available before it is answered ESME_RTHROTTLED. Default 5s.
	QueueTimeout time.Duration `yaml:"queue_timeout" mapstructure:"queue_timeout"`
	// ResubmitUnknown sends a submit to the next member when the first one
	// timed out or lost its connection after the submit was written, so
	// the SMSC may have taken it: a duplicate SMS risk. Default false.
	ResubmitUnknown bool `yaml:"resubmit_unknown" mapstructure:"resubmit_unknown"`
	// StickyTTL is how long the parts of a concatenated message stick to
	// the member that took the first. Default 10m.
	StickyTTL time.Duration `yaml:"sticky_ttl" mapstructure:"sticky_ttl"`
	// Breaker tunes the circuit breaker of each member.
	Breaker Breaker `yaml:"breaker" mapstructure:"breaker"`
	// Queue says whether submits are relayed at once (the default) or
	// accepted into the group's durable queue and sent from there.
	Queue Queue `yaml:"queue" mapstructure:"queue"`
}

// QueueMode is how a group takes submits.
type QueueMode string

// Queue modes.
const (
	// QueueRelay relays each submit at once and answers the client with
	// its SMSC's outcome.
	QueueRelay QueueMode = "relay"
	// QueueStoreAndForward answers ESME_ROK once the submit is stored in
	// the group's queue, which drains as the members take it.
	QueueStoreAndForward QueueMode = "store-and-forward"
)

// Default queue settings.
const (
	DefaultQueueMaxItems = 1_000_000
	DefaultQueueMaxAge   = 24 * time.Hour
)

// Queue is a group's store-and-forward queue.
type Queue struct {
	// Mode is relay or store-and-forward. Default relay.
	Mode QueueMode `yaml:"mode" mapstructure:"mode"`
	// MaxItems bounds the messages queued, taken ones included: past it
	// a submit gets ESME_RMSGQFUL. Default 1000000.
	MaxItems int `yaml:"max_items" mapstructure:"max_items"`
	// MaxAge is how long a message may wait in the queue; past it (or
	// past its validity_period, if sooner) it is given up with an
	// EXPIRED receipt. Default 24h.
	MaxAge time.Duration `yaml:"max_age" mapstructure:"max_age"`
}

// StoreAndForward reports whether the group queues its submits.
func (q Queue) StoreAndForward() bool { return q.Mode == QueueStoreAndForward }

// Breaker tunes a member's circuit breaker: it opens after Failures in a
// row or an ErrorRate over Window, keeps the member out for Cooldown, lets
// Probes through, and ramps the member's weight back over SlowStart.
type Breaker struct {
	// Failures in a row that open the breaker. Default 5.
	Failures int `yaml:"failures" mapstructure:"failures"`
	// ErrorRate (0 to 1) over Window that opens the breaker once
	// MinRequests outcomes were seen. Default 0.5.
	ErrorRate float64 `yaml:"error_rate" mapstructure:"error_rate"`
	// MinRequests before ErrorRate applies. Default 20.
	MinRequests int `yaml:"min_requests" mapstructure:"min_requests"`
	// Window over which ErrorRate is measured. Default 10s.
	Window time.Duration `yaml:"window" mapstructure:"window"`
	// Cooldown is how long an open breaker keeps the member out before
	// probing. Default 5s.
	Cooldown time.Duration `yaml:"cooldown" mapstructure:"cooldown"`
	// Probes is how many successful probes close the breaker. Default 3.
	Probes int `yaml:"probes" mapstructure:"probes"`
	// SlowStart is how long a recovered member takes to ramp from a tenth
	// of its weight to all of it. Default 30s.
	SlowStart time.Duration `yaml:"slow_start" mapstructure:"slow_start"`
	// Statuses are the response statuses counted as the member's failures,
	// besides timeouts and lost connections. Default: the group's
	// retry_on.
	Statuses []string `yaml:"statuses,omitempty" mapstructure:"statuses"`
}

// Member is one upstream of a group.
type Member struct {
	// Upstream is the name of an upstream. Required.
	Upstream string `yaml:"upstream" mapstructure:"upstream"`
	// Weight is the member's share of submits in active-active mode; 0
	// drains the member (no new submits). Default 1 when the key is absent;
	// an explicit 0 stays 0.
	Weight int `yaml:"weight" mapstructure:"weight"`
}

// Route sends the submits it matches to a group. A route matches a submit
// when every condition it has holds; a route with no condition matches
// every submit (a default route).
type Route struct {
	// Clients, if set, are the system_ids the route applies to.
	Clients []string `yaml:"clients,omitempty" mapstructure:"clients"`
	// DestinationPrefix, if set, are prefixes of the destination address
	// (digits, optionally after a leading "+"); the route applies when the
	// address starts with one of them.
	DestinationPrefix []string `yaml:"destination_prefix,omitempty" mapstructure:"destination_prefix"`
	// SourcePrefix, if set, are prefixes of the source address (sender
	// id); the route applies when the source starts with one of them.
	SourcePrefix []string `yaml:"source_prefix,omitempty" mapstructure:"source_prefix"`
	// ServiceType, if set, are service_type values the route applies to.
	ServiceType []string `yaml:"service_type,omitempty" mapstructure:"service_type"`
	// Group is the name of the group to send to. Required.
	Group string `yaml:"group" mapstructure:"group"`
}

// IsDefault reports whether the route has no condition and so matches
// every submit.
func (r *Route) IsDefault() bool {
	return len(r.Clients) == 0 && len(r.DestinationPrefix) == 0 && len(r.SourcePrefix) == 0 && len(r.ServiceType) == 0
}
