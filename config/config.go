package config

import (
	"errors"
	"slices"
	"strings"
	"time"
)

// Errors returned by [Load] and [Parse]. Problems with single keys are
// reported as [*FieldError] values joined under ErrInvalid.
var (
	// ErrSyntax means the file is not valid YAML, or its top level is not a
	// set of keys.
	ErrSyntax = errors.New("config is not valid YAML")
	// ErrInvalid means the file is valid YAML but one or more keys are
	// unknown, of the wrong kind or out of range.
	ErrInvalid = errors.New("invalid config")
)

// FieldError is one problem with one key of the configuration.
type FieldError struct {
	// Path is the key path, for example "upstreams[0].window" or
	// "groups[1].members[0].upstream". It is empty for a problem with the
	// file as a whole.
	Path string
	// Msg says what is wrong, in plain words.
	Msg string
}

// Error returns "path: msg".
func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// FieldErrors returns every [*FieldError] found in err, in order, looking
// through wrapped and joined errors. It returns nil if there is none.
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *FieldError:
			out = append(out, e)
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}

// Config is the whole smppmux configuration.
type Config struct {
	// Listen holds the addresses smppmux listens on.
	Listen Listen `yaml:"listen" mapstructure:"listen"`
	// StateDir is the directory of the durable state (message id map,
	// receipt outboxes). Default /var/lib/smppmux.
	StateDir string `yaml:"state_dir" mapstructure:"state_dir"`
	// Log sets logging.
	Log Log `yaml:"log" mapstructure:"log"`
	// Admin secures the admin listener.
	Admin Admin `yaml:"admin" mapstructure:"admin"`
	// TLS is the certificate of the SMPP over TLS listener.
	TLS TLS `yaml:"tls" mapstructure:"tls"`
	// Receipts sets how message ids, receipts and MO messages are kept.
	Receipts Receipts `yaml:"receipts" mapstructure:"receipts"`
	// Store chooses where message id mappings and outboxes are kept.
	Store Store `yaml:"store" mapstructure:"store"`
	// Server holds the timers of client (ESME) sessions.
	Server Server `yaml:"server" mapstructure:"server"`
	// Clients are the ESMEs allowed to bind. At least one.
	Clients []Client `yaml:"clients" mapstructure:"clients"`
	// Upstreams are the SMSCs smppmux binds to. At least one.
	Upstreams []Upstream `yaml:"upstreams" mapstructure:"upstreams"`
	// Groups are sets of upstreams a route sends to. At least one.
	Groups []Group `yaml:"groups" mapstructure:"groups"`
	// Routes choose a group for each submit, in order: the first route
	// that matches wins. At least one.
	Routes []Route `yaml:"routes" mapstructure:"routes"`
	// MORoutes choose the client of each mobile-originated message. None:
	// MO messages are refused with ESME_RX_T_APPN, so the SMSC keeps them.
	MORoutes []MORoute `yaml:"mo_routes,omitempty" mapstructure:"mo_routes"`
}

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
}

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

// Listen holds the addresses smppmux listens on.
type Listen struct {
	// SMPP is the host:port of the SMPP listener for clients. Required.
	// Port 0 picks a free port.
	SMPP string `yaml:"smpp" mapstructure:"smpp"`
	// Admin is the host:port of the HTTP admin listener (/metrics,
	// /healthz, /readyz, /api/v1/...). Empty disables it. Default
	// 127.0.0.1:9090: keep it on loopback or behind a firewall.
	Admin string `yaml:"admin" mapstructure:"admin"`
	// SMPPTLS is the host:port of the SMPP over TLS listener
	// (conventionally port 3550); empty turns it off. It needs tls.
	SMPPTLS string `yaml:"smpp_tls" mapstructure:"smpp_tls"`
}

// TLS is the certificate of the SMPP over TLS listener. The files are read
// again on every reload, so a renewed certificate applies without a
// restart.
type TLS struct {
	// CertFile and KeyFile are PEM files. Required with listen.smpp_tls.
	CertFile string `yaml:"cert_file" mapstructure:"cert_file"`
	KeyFile  string `yaml:"key_file" mapstructure:"key_file"`
	// ClientCAFile, when set, is a PEM bundle of the authorities client
	// certificates must chain to.
	ClientCAFile string `yaml:"client_ca_file" mapstructure:"client_ca_file"`
	// RequireClientCert refuses TLS clients without a valid certificate.
	RequireClientCert bool `yaml:"require_client_cert" mapstructure:"require_client_cert"`
}

// UpstreamTLS makes smppmux speak SMPP over TLS to an upstream.
type UpstreamTLS struct {
	// Enabled turns TLS on. Default false.
	Enabled bool `yaml:"enabled" mapstructure:"enabled"`
	// ServerName is checked against the SMSC's certificate; default: the
	// host of addr.
	ServerName string `yaml:"server_name" mapstructure:"server_name"`
	// CAFile is a PEM bundle of the authorities to trust; default: the
	// system's.
	CAFile string `yaml:"ca_file" mapstructure:"ca_file"`
	// CertFile and KeyFile, when set, are the client certificate smppmux
	// presents.
	CertFile string `yaml:"cert_file" mapstructure:"cert_file"`
	KeyFile  string `yaml:"key_file" mapstructure:"key_file"`
	// InsecureSkipVerify accepts any certificate: for tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify" mapstructure:"insecure_skip_verify"`
}

// Admin secures the admin listener.
type Admin struct {
	// Token, when set, is required as "Authorization: Bearer <token>" on
	// every admin endpoint but /healthz.
	Token string `yaml:"token" mapstructure:"token"`
}

// Log level and format values.
const (
	LevelDebug = "debug"
	LevelInfo  = "info"
	LevelWarn  = "warn"
	LevelError = "error"

	// FormatAuto writes JSON when stderr is not a terminal (systemd, a
	// pipe) and console lines when it is.
	FormatAuto    = "auto"
	FormatJSON    = "json"
	FormatConsole = "console"
)

// Log sets logging.
type Log struct {
	// Level is one of debug, info, warn, error. Default info.
	Level string `yaml:"level" mapstructure:"level"`
	// Format is one of auto, json, console. Default auto.
	Format string `yaml:"format" mapstructure:"format"`
}

// Server holds the timers of client (ESME) sessions. Every value is more
// than zero.
type Server struct {
	// BindTimeout is how long a new connection has to bind before it is
	// closed. Default 10s.
	BindTimeout time.Duration `yaml:"bind_timeout" mapstructure:"bind_timeout"`
	// EnquireLinkInterval is how long a session may be idle before smppmux
	// sends it an enquire_link. Default 30s.
	EnquireLinkInterval time.Duration `yaml:"enquire_link_interval" mapstructure:"enquire_link_interval"`
	// InactivityTimeout is how long a session may go without sending any
	// PDU before it is closed as dead. Longer than EnquireLinkInterval.
	// Default 90s.
	InactivityTimeout time.Duration `yaml:"inactivity_timeout" mapstructure:"inactivity_timeout"`
	// ResponseTimeout is how long smppmux waits for a client's
	// deliver_sm_resp (or other response). Default 30s.
	ResponseTimeout time.Duration `yaml:"response_timeout" mapstructure:"response_timeout"`
	// WriteTimeout is the deadline of one write to a client socket.
	// Default 10s.
	WriteTimeout time.Duration `yaml:"write_timeout" mapstructure:"write_timeout"`
	// FailedBindsPerIP is how many refused binds one source address may
	// make for one system_id (for all system_ids that are not configured,
	// together) within FailedBindWindow; past it, its binds of that
	// system_id are refused at once, without checking a password, until
	// the window ends. 0 turns it off. Default 10.
	FailedBindsPerIP int `yaml:"failed_binds_per_ip" mapstructure:"failed_binds_per_ip"`
	// FailedBindWindow is the window of FailedBindsPerIP. Default 1m.
	FailedBindWindow time.Duration `yaml:"failed_bind_window" mapstructure:"failed_bind_window"`
	// SubmitTimeout is how long a submit may take to get an answer from an
	// upstream, failovers included, before the client gets an error.
	// Default 30s.
	SubmitTimeout time.Duration `yaml:"submit_timeout" mapstructure:"submit_timeout"`
	// NoRouteStatus is the command_status of a submit no route matches:
	// an SMPP name, or a number in hex ("0x0b") or decimal. Default
	// ESME_RINVDSTADR.
	NoRouteStatus string `yaml:"no_route_status" mapstructure:"no_route_status"`
}

// Client is an ESME allowed to bind to smppmux.
type Client struct {
	// SystemID is the system_id the client binds with: 1 to 15 printable
	// ASCII characters, unique among clients. Required.
	SystemID string `yaml:"system_id" mapstructure:"system_id"`
	// Password is either the plain password (1 to 8 printable ASCII
	// characters, the SMPP limit) or a bcrypt hash of it ($2a$, $2b$ or
	// $2y$). Required. See [Client.IsBcrypt].
	Password string `yaml:"password" mapstructure:"password"`
	// MaxBinds is how many sessions of this system_id may be bound at once;
	// one more bind gets ESME_RBINDFAIL. At least 1. Default 4.
	MaxBinds int `yaml:"max_binds" mapstructure:"max_binds"`
	// Window is how many submits one session may have outstanding; one
	// more gets ESME_RMSGQFUL. 1 to 4096. Default 100.
	Window int `yaml:"window" mapstructure:"window"`
	// MessageID says how message_ids given to this client look.
	MessageID MessageID `yaml:"message_id" mapstructure:"message_id"`
	// Allow lists the networks (CIDR, or single addresses) the client may
	// bind from; empty allows any. A bind from elsewhere gets
	// ESME_RBINDFAIL.
	Allow []string `yaml:"allow,omitempty" mapstructure:"allow"`
	// TPS caps the client's submits per second over all its sessions; one
	// more gets ESME_RTHROTTLED. 0: no cap. Default 0.
	TPS int `yaml:"tps" mapstructure:"tps"`
	// AllowedSources lists the source addresses (sender ids) the client
	// may use: exact values, or prefixes ending in "*". Empty allows any.
	// Another source gets ESME_RINVSRCADR.
	AllowedSources []string `yaml:"allowed_sources,omitempty" mapstructure:"allowed_sources"`
	// DestinationLimit caps the messages to one destination in a period,
	// against SMS pumping and OTP abuse.
	DestinationLimit DestinationLimit `yaml:"destination_limit" mapstructure:"destination_limit"`
}

// DestinationLimit caps the messages a client sends to one destination
// address within Per.
type DestinationLimit struct {
	// Count is how many messages to one destination are allowed within
	// Per; 0 turns the limit off. Default 0.
	Count int `yaml:"count" mapstructure:"count"`
	// Per is the period. Default 60s.
	Per time.Duration `yaml:"per" mapstructure:"per"`
	// Status answers a submit over the limit. Default ESME_RTHROTTLED.
	Status string `yaml:"status" mapstructure:"status"`
}

// IsBcrypt reports whether Password is a bcrypt hash rather than the
// plain password.
func (c *Client) IsBcrypt() bool {
	return isBcrypt(c.Password)
}

func isBcrypt(s string) bool {
	return strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$")
}

// IDFormat is how a message_id is written for a client.
type IDFormat string

// Message id formats.
const (
	// IDHex writes message_ids in lower-case hexadecimal.
	IDHex IDFormat = "hex"
	// IDDecimal writes message_ids in decimal digits.
	IDDecimal IDFormat = "decimal"
)

// MessageID says how message_ids given to a client look, so that an ESME
// with a fixed column type keeps working.
type MessageID struct {
	// Format is hex or decimal. Default hex.
	Format IDFormat `yaml:"format" mapstructure:"format"`
	// Length is 0 for the natural length, else the ids are zero-padded to
	// this many characters. At most 64 (the SMPP message_id limit).
	// Default 0.
	Length int `yaml:"length" mapstructure:"length"`
}

// BindType is the kind of bind smppmux makes to an upstream.
type BindType string

// Bind types.
const (
	// BindTRX is one transceiver bind.
	BindTRX BindType = "trx"
	// BindTXRX is a transmitter bind plus a receiver bind, as one pair.
	BindTXRX BindType = "txrx"
	// BindTX is a transmitter bind: submits only, no receipts.
	BindTX BindType = "tx"
	// BindRX is a receiver bind: receipts and MO only, no submits.
	BindRX BindType = "rx"
)

// CanSubmit reports whether a bind of this type carries submits.
func (b BindType) CanSubmit() bool { return b != BindRX }

// CanReceive reports whether a bind of this type carries deliver_sm.
func (b BindType) CanReceive() bool { return b != BindTX }

// Upstream is an SMSC smppmux binds to.
type Upstream struct {
	// Name identifies the upstream in groups, logs and metrics: letters,
	// digits, "_", "." and "-", unique. Required.
	Name string `yaml:"name" mapstructure:"name"`
	// Addr is the host:port of the SMSC. Required.
	Addr string `yaml:"addr" mapstructure:"addr"`
	// SystemID is the system_id smppmux binds with: 1 to 15 printable
	// ASCII characters. Required.
	SystemID string `yaml:"system_id" mapstructure:"system_id"`
	// Password is sent in the bind: 0 to 8 printable ASCII characters.
	Password string `yaml:"password" mapstructure:"password"`
	// SystemType is sent in the bind: 0 to 12 printable ASCII characters.
	SystemType string `yaml:"system_type" mapstructure:"system_type"`
	// Bind is trx, txrx, tx or rx. Default trx.
	Bind BindType `yaml:"bind" mapstructure:"bind"`
	// Binds is how many binds (pairs for txrx) are kept open in parallel,
	// 1 to 64. Default 1.
	Binds int `yaml:"binds" mapstructure:"binds"`
	// Window is how many requests one bind may have outstanding, 1 to
	// 10000. Default 50.
	Window int `yaml:"window" mapstructure:"window"`
	// ResponseTimeout is how long smppmux waits for the SMSC's response to
	// a request. Default 10s.
	ResponseTimeout time.Duration `yaml:"response_timeout" mapstructure:"response_timeout"`
	// EnquireLinkInterval is how long a bind may be idle before smppmux
	// sends an enquire_link. Default 30s.
	EnquireLinkInterval time.Duration `yaml:"enquire_link_interval" mapstructure:"enquire_link_interval"`
	// ConnectTimeout bounds the TCP connect plus the bind. Default 5s.
	ConnectTimeout time.Duration `yaml:"connect_timeout" mapstructure:"connect_timeout"`
	// ReconnectMin is the first wait before reconnecting; the wait doubles,
	// with jitter, up to ReconnectMax. Default 1s.
	ReconnectMin time.Duration `yaml:"reconnect_min" mapstructure:"reconnect_min"`
	// ReconnectMax is the longest wait between reconnects, not shorter than
	// ReconnectMin. Default 30s.
	ReconnectMax time.Duration `yaml:"reconnect_max" mapstructure:"reconnect_max"`
	// TPS caps the submits per second sent to this upstream, all binds
	// together; 0 means no cap. Default 0.
	TPS int `yaml:"tps" mapstructure:"tps"`
	// IDFormat says how the SMSC writes message ids in its receipts
	// compared with its submit_sm_resp, and so how far a receipt's id may
	// be folded to find its message: exact (octet for octet), same (up to
	// case and leading zeros), hex-decimal (hex in the response, decimal
	// in the text; folded as same), decimal-hex, or auto (exact until a
	// receipt carrying the id both in the receipted_message_id TLV and in
	// the text shows one of the others). Default auto.
	IDFormat string `yaml:"id_format" mapstructure:"id_format"`
	// TLS makes smppmux speak SMPP over TLS to this SMSC.
	TLS UpstreamTLS `yaml:"tls" mapstructure:"tls"`
}

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
}

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

// Client returns the client with this system_id, or nil.
func (c *Config) Client(systemID string) *Client {
	for i := range c.Clients {
		if c.Clients[i].SystemID == systemID {
			return &c.Clients[i]
		}
	}
	return nil
}

// Upstream returns the upstream with this name, or nil.
func (c *Config) Upstream(name string) *Upstream {
	for i := range c.Upstreams {
		if c.Upstreams[i].Name == name {
			return &c.Upstreams[i]
		}
	}
	return nil
}

// Group returns the group with this name, or nil.
func (c *Config) Group(name string) *Group {
	for i := range c.Groups {
		if c.Groups[i].Name == name {
			return &c.Groups[i]
		}
	}
	return nil
}

// RedactedPassword is the text that replaces passwords in
// [Config.Redacted].
const RedactedPassword = "<redacted>"

// Redacted returns a deep copy of c in which every non-empty password is
// replaced by "<redacted>", fit for logs and the status API. The copy is not
// meant to be validated or used to bind.
func (c *Config) Redacted() *Config {
	r := c.clone()
	for i := range r.Clients {
		if r.Clients[i].Password != "" {
			r.Clients[i].Password = RedactedPassword
		}
	}
	for i := range r.Upstreams {
		if r.Upstreams[i].Password != "" {
			r.Upstreams[i].Password = RedactedPassword
		}
	}
	if r.Admin.Token != "" {
		r.Admin.Token = RedactedPassword
	}
	if r.Store.Redis.Password != "" {
		r.Store.Redis.Password = RedactedPassword
	}
	if r.Store.Redis.SentinelPassword != "" {
		r.Store.Redis.SentinelPassword = RedactedPassword
	}
	return r
}

// clone returns a deep copy of c: no slice is shared.
func (c *Config) clone() *Config {
	r := *c
	r.Clients = slices.Clone(c.Clients)
	r.Upstreams = slices.Clone(c.Upstreams)
	r.Groups = slices.Clone(c.Groups)
	r.Store.Redis.Addrs = slices.Clone(c.Store.Redis.Addrs)
	for i := range r.Groups {
		r.Groups[i].Members = slices.Clone(r.Groups[i].Members)
	}
	r.Routes = slices.Clone(c.Routes)
	for i := range r.Routes {
		r.Routes[i].Clients = slices.Clone(r.Routes[i].Clients)
		r.Routes[i].DestinationPrefix = slices.Clone(r.Routes[i].DestinationPrefix)
	}
	return &r
}
