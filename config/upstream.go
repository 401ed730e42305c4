package config

import "time"

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
