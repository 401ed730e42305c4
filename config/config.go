package config

import (
	"errors"
	"slices"
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
