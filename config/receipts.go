package config

import "time"

// MORoute sends the mobile-originated messages it matches to a client.
// Of the matching routes, the longest destination prefix wins, then the
// first written.
type MORoute struct {
	// Upstreams, if set, are the upstreams the route applies to.
	Upstreams []string `yaml:"upstreams,omitempty" mapstructure:"upstreams"`
	// DestinationPrefix, if set, are prefixes of the destination: the
	// short code or long number the subscriber wrote to.
	DestinationPrefix []string `yaml:"destination_prefix,omitempty" mapstructure:"destination_prefix"`
	// SourcePrefix, if set, are prefixes of the subscriber's number.
	SourcePrefix []string `yaml:"source_prefix,omitempty" mapstructure:"source_prefix"`
	// Client is the system_id the messages go to. Required.
	Client string `yaml:"client" mapstructure:"client"`
}

// Receipts sets how message ids, receipts and MO messages are kept.
type Receipts struct {
	// MappingTTL is how long a message's id mapping is kept when its
	// validity_period does not say; receipts after it go unmatched.
	// Default 72h.
	MappingTTL time.Duration `yaml:"mapping_ttl" mapstructure:"mapping_ttl"`
	// WaitForMapping is how long a receipt that arrived before its
	// submit_sm_resp waits for it. Default 30s.
	WaitForMapping time.Duration `yaml:"wait_for_mapping" mapstructure:"wait_for_mapping"`
	// UnmatchedHold is how long a receipt that found no mapping waits
	// unanswered: past it the receipt is kept durably and its SMSC
	// answered, so that it holds no slot of the SMSC's window while it
	// waits for its mapping (up to WaitForMapping). Default 250ms.
	UnmatchedHold time.Duration `yaml:"unmatched_hold" mapstructure:"unmatched_hold"`
	// DeliveryHold is how long a receipt or MO message sent straight to
	// its client (bound, with window, nothing queued before it), not
	// stored, may go unanswered: past it the message is kept durably and
	// its SMSC answered. Default 200ms.
	DeliveryHold time.Duration `yaml:"delivery_hold" mapstructure:"delivery_hold"`
	// ResendWindow is how long a relayed receipt is remembered, so that
	// an SMSC sending it again (its deliver_sm_resp lost or late) is
	// answered without relaying it twice. Default 1h.
	ResendWindow time.Duration `yaml:"resend_window" mapstructure:"resend_window"`
	// OutboxMaxItems bounds what waits for one client; past it the SMSC's
	// deliver_sm is refused with ESME_RX_T_APPN, so the SMSC keeps it.
	// Default 1000000.
	OutboxMaxItems int `yaml:"outbox_max_items" mapstructure:"outbox_max_items"`
	// OutboxMaxAge drops what a client has not taken within it. Default
	// 72h.
	OutboxMaxAge time.Duration `yaml:"outbox_max_age" mapstructure:"outbox_max_age"`
	// RetryMin and RetryMax bound the backoff after a client refuses or
	// does not answer a deliver_sm. Defaults 1s and 1m.
	RetryMin time.Duration `yaml:"retry_min" mapstructure:"retry_min"`
	RetryMax time.Duration `yaml:"retry_max" mapstructure:"retry_max"`
	// MaxAttempts is how many times a client may refuse a receipt or MO
	// message (deliver_sm_resp with an error status) before it becomes a
	// dead letter; deliveries it does not answer do not count. At least
	// 1. Default 10.
	MaxAttempts int `yaml:"max_attempts" mapstructure:"max_attempts"`
	// DeadLetterStatuses are the deliver_sm_resp statuses that make the
	// item a dead letter at once: the client says it will never take it.
	// Default ESME_RX_P_APPN and ESME_RX_R_APPN; [] for none.
	DeadLetterStatuses []string `yaml:"dead_letter_statuses" mapstructure:"dead_letter_statuses"`
}

// Store kinds.
const (
	StorePebble = "pebble"
	StoreRedis  = "redis"
)

// Store chooses where message id mappings and outboxes are kept.
type Store struct {
	// Kind is pebble (default: on disk under state_dir, for one instance)
	// or redis (shared by several instances).
	Kind string `yaml:"kind" mapstructure:"kind"`
	// Instance numbers this process among the instances sharing a Redis
	// store, 0..255, each its own: it is part of every message id issued,
	// so ids never collide. Required with kind redis.
	Instance int `yaml:"instance" mapstructure:"instance"`
	// Redis is the Redis server, Sentinels or cluster, with kind redis.
	Redis Redis `yaml:"redis" mapstructure:"redis"`
	// MaxPendingWrites bounds the submits an SMSC accepted whose id
	// mapping could not be written yet: their answers wait while the write
	// is tried again; past the bound the client gets ESME_RSYSERR. Default
	// 10000.
	MaxPendingWrites int `yaml:"max_pending_writes" mapstructure:"max_pending_writes"`
	// Sync is when the Pebble store syncs its writes: always (default:
	// every write is on the disk before its submit is answered) or
	// interval (a write is answered once written, and synced within
	// SyncInterval: a power loss loses what was answered in the last
	// interval). Redis syncs by its own appendfsync.
	Sync string `yaml:"sync" mapstructure:"sync"`
	// SyncInterval bounds how long an answered write stays unsynced with
	// sync interval, 1ms to 1s. Default 5ms.
	SyncInterval time.Duration `yaml:"sync_interval" mapstructure:"sync_interval"`
}

// Store sync modes.
const (
	SyncAlways   = "always"
	SyncInterval = "interval"
)

// Bounds of store.sync_interval.
const (
	MinSyncInterval = time.Millisecond
	MaxSyncInterval = time.Second
)

// Redis locates and tunes the Redis store.
type Redis struct {
	// Addrs is one host:port for a single Redis, the Sentinels' addresses
	// with master_name, or cluster nodes. Required with kind redis.
	Addrs []string `yaml:"addrs" mapstructure:"addrs"`
	// MasterName is the Sentinel master set name; it turns Sentinel on.
	MasterName string `yaml:"master_name" mapstructure:"master_name"`
	Username   string `yaml:"username" mapstructure:"username"`
	Password   string `yaml:"password" mapstructure:"password"`
	// SentinelPassword authenticates to the Sentinels.
	SentinelPassword string `yaml:"sentinel_password" mapstructure:"sentinel_password"`
	DB               int    `yaml:"db" mapstructure:"db"`
	// Prefix starts every key. Default "smppmux:".
	Prefix string `yaml:"prefix" mapstructure:"prefix"`
	// LeaseTTL bounds how long a dead instance keeps delivering rights
	// over a client's outbox, and its instance number. Default 10s.
	LeaseTTL time.Duration `yaml:"lease_ttl" mapstructure:"lease_ttl"`
	// WaitReplicas, when positive, makes every write wait until that many
	// replicas have it (Redis WAIT), up to WaitTimeout (default 1s).
	WaitReplicas int           `yaml:"wait_replicas" mapstructure:"wait_replicas"`
	WaitTimeout  time.Duration `yaml:"wait_timeout" mapstructure:"wait_timeout"`
}
