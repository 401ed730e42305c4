package config

import (
	"strings"
	"time"
)

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
