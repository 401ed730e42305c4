package config

import "time"

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
