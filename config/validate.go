package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/smppmux/smppmux/internal/pdu"
)

// SMPP 3.4 field limits, in octets without the terminating NUL.
const (
	maxSystemID   = 15
	maxPassword   = 8
	maxSystemType = 12
	maxMessageID  = 64
)

// Other limits.
const (
	maxBinds          = 64
	maxUpstreamWindow = 10000
)

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]+$`)

// problems collects what Validate finds.
type problems []error

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Validate checks every value and every reference between sections, and
// returns all problems at once: nil, or one [*FieldError] per problem
// joined with [errors.Join]. Load and Parse call it; call it again after
// changing a Config in code.
func (c *Config) Validate() error {
	var p problems
	checkHostPort(&p, "listen.smpp", c.Listen.SMPP, true)
	if c.Listen.Admin != "" {
		checkHostPort(&p, "listen.admin", c.Listen.Admin, true)
	}
	if c.Listen.SMPPTLS != "" {
		checkHostPort(&p, "listen.smpp_tls", c.Listen.SMPPTLS, true)
		if c.TLS.CertFile == "" || c.TLS.KeyFile == "" {
			p.add("tls", "cert_file and key_file are required with listen.smpp_tls")
		}
	}
	if c.TLS.RequireClientCert && c.TLS.ClientCAFile == "" {
		p.add("tls.client_ca_file", "required with tls.require_client_cert")
	}
	if c.StateDir == "" {
		p.add("state_dir", "required")
	}
	checkOneOf(&p, "log.level", c.Log.Level, LevelDebug, LevelInfo, LevelWarn, LevelError)
	checkOneOf(&p, "log.format", c.Log.Format, FormatAuto, FormatJSON, FormatConsole)
	c.Server.validate(&p)
	checkPositive(&p, "receipts.mapping_ttl", c.Receipts.MappingTTL)
	checkPositive(&p, "receipts.wait_for_mapping", c.Receipts.WaitForMapping)
	checkPositive(&p, "receipts.resend_window", c.Receipts.ResendWindow)
	checkPositive(&p, "receipts.unmatched_hold", c.Receipts.UnmatchedHold)
	checkPositive(&p, "receipts.delivery_hold", c.Receipts.DeliveryHold)
	checkAtLeast(&p, "receipts.outbox_max_items", c.Receipts.OutboxMaxItems, 1)
	checkPositive(&p, "receipts.outbox_max_age", c.Receipts.OutboxMaxAge)
	checkPositive(&p, "receipts.retry_min", c.Receipts.RetryMin)
	checkPositive(&p, "receipts.retry_max", c.Receipts.RetryMax)
	if c.Receipts.RetryMax < c.Receipts.RetryMin {
		p.add("receipts.retry_max", "must not be shorter than receipts.retry_min (%s); got %s", c.Receipts.RetryMin, c.Receipts.RetryMax)
	}
	checkAtLeast(&p, "receipts.max_attempts", c.Receipts.MaxAttempts, 1)
	for i, st := range c.Receipts.DeadLetterStatuses {
		path := fmt.Sprintf("receipts.dead_letter_statuses[%d]", i)
		checkStatus(&p, path, st)
		if v, ok := pdu.ParseStatus(st); ok && v == pdu.StatusOK {
			p.add(path, "ESME_ROK accepts a delivery; it cannot refuse one")
		}
	}

	c.Store.validate(&p)

	clients := make(map[string]bool, len(c.Clients))
	if len(c.Clients) == 0 {
		p.add("clients", "at least one client is required")
	}
	for i := range c.Clients {
		cl := &c.Clients[i]
		path := fmt.Sprintf("clients[%d]", i)
		cl.validate(&p, path)
		if cl.SystemID != "" {
			if clients[cl.SystemID] {
				p.add(path+".system_id", "duplicate %q", cl.SystemID)
			}
			clients[cl.SystemID] = true
		}
	}

	upstreams := make(map[string]*Upstream, len(c.Upstreams))
	if len(c.Upstreams) == 0 {
		p.add("upstreams", "at least one upstream is required")
	}
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		path := fmt.Sprintf("upstreams[%d]", i)
		u.validate(&p, path)
		if u.Name != "" {
			if upstreams[u.Name] != nil {
				p.add(path+".name", "duplicate %q", u.Name)
			} else {
				upstreams[u.Name] = u
			}
		}
	}

	groups := make(map[string]bool, len(c.Groups))
	if len(c.Groups) == 0 {
		p.add("groups", "at least one group is required")
	}
	for i := range c.Groups {
		g := &c.Groups[i]
		path := fmt.Sprintf("groups[%d]", i)
		g.validate(&p, path, upstreams)
		if g.Name != "" {
			if groups[g.Name] {
				p.add(path+".name", "duplicate %q", g.Name)
			}
			groups[g.Name] = true
		}
	}

	if len(c.Routes) == 0 {
		p.add("routes", "at least one route is required")
	}
	catchAll := -1
	for i := range c.Routes {
		r := &c.Routes[i]
		path := fmt.Sprintf("routes[%d]", i)
		r.validate(&p, path, clients, groups)
		// A longer destination prefix beats an earlier route; without
		// one, an earlier catch-all always wins.
		if catchAll >= 0 && len(r.DestinationPrefix) == 0 {
			p.add(path, "never used: routes[%d] before it has no condition and matches every submit", catchAll)
		} else if catchAll < 0 && r.IsDefault() {
			catchAll = i
		}
	}
	for i := range c.MORoutes {
		r := &c.MORoutes[i]
		path := fmt.Sprintf("mo_routes[%d]", i)
		for j, name := range r.Upstreams {
			if upstreams[name] == nil {
				p.add(fmt.Sprintf("%s.upstreams[%d]", path, j), "unknown upstream %q", name)
			}
		}
		for j, prefix := range r.DestinationPrefix {
			if prefix == "" {
				p.add(fmt.Sprintf("%s.destination_prefix[%d]", path, j), "must not be empty")
			}
		}
		switch {
		case r.Client == "":
			p.add(path+".client", "required")
		case !clients[r.Client]:
			p.add(path+".client", "unknown client %q", r.Client)
		}
	}
	return errors.Join(p...)
}

func (s *Server) validate(p *problems) {
	checkPositive(p, "server.bind_timeout", s.BindTimeout)
	checkPositive(p, "server.enquire_link_interval", s.EnquireLinkInterval)
	checkPositive(p, "server.inactivity_timeout", s.InactivityTimeout)
	checkPositive(p, "server.response_timeout", s.ResponseTimeout)
	checkPositive(p, "server.write_timeout", s.WriteTimeout)
	checkPositive(p, "server.submit_timeout", s.SubmitTimeout)
	checkStatus(p, "server.no_route_status", s.NoRouteStatus)
	if s.FailedBindsPerIP < 0 {
		p.add("server.failed_binds_per_ip", "must be 0 (off) or more; got %d", s.FailedBindsPerIP)
	}
	checkPositive(p, "server.failed_bind_window", s.FailedBindWindow)
	if s.EnquireLinkInterval > 0 && s.InactivityTimeout > 0 && s.InactivityTimeout <= s.EnquireLinkInterval {
		p.add("server.inactivity_timeout",
			"must be longer than server.enquire_link_interval (%s), or idle clients are closed before they are probed; got %s",
			s.EnquireLinkInterval, s.InactivityTimeout)
	}
}

func (cl *Client) validate(p *problems, path string) {
	checkSMPPString(p, path+".system_id", cl.SystemID, 1, maxSystemID)
	if strings.HasPrefix(cl.SystemID, "@") {
		p.add(path+".system_id", "must not start with @: @<upstream> names the dead letters of an upstream's receipts that matched no message; got %q", cl.SystemID)
	}
	switch {
	case cl.Password == "":
		p.add(path+".password", "required")
	case cl.IsBcrypt():
		if _, err := bcrypt.Cost([]byte(cl.Password)); err != nil {
			p.add(path+".password", "not a valid bcrypt hash: %v", err)
		}
	default:
		checkSMPPString(p, path+".password", cl.Password, 1, maxPassword)
	}
	checkAtLeast(p, path+".max_binds", cl.MaxBinds, 1)
	checkRange(p, path+".window", cl.Window, 1, 4096)
	checkOneOf(p, path+".message_id.format", cl.MessageID.Format, IDHex, IDDecimal)
	checkRange(p, path+".message_id.length", cl.MessageID.Length, 0, maxMessageID)
	for i, a := range cl.Allow {
		if _, err := ParsePrefix(a); err != nil {
			p.add(fmt.Sprintf("%s.allow[%d]", path, i), "%q is neither a network like 10.0.0.0/8 nor an address", a)
		}
	}
	if cl.TPS < 0 {
		p.add(path+".tps", "must be 0 (no cap) or more; got %d", cl.TPS)
	}
	for i, src := range cl.AllowedSources {
		if src == "" || src == "*" {
			p.add(fmt.Sprintf("%s.allowed_sources[%d]", path, i), "must name a source; leave the list out to allow any")
		}
	}
	dl := cl.DestinationLimit
	if dl.Count < 0 {
		p.add(path+".destination_limit.count", "must be 0 (off) or more; got %d", dl.Count)
	}
	if dl.Count > 0 {
		checkPositive(p, path+".destination_limit.per", dl.Per)
		checkStatus(p, path+".destination_limit.status", dl.Status)
	}
}

// ParsePrefix reads a network ("10.0.0.0/8") or a single address.
func ParsePrefix(s string) (netip.Prefix, error) {
	if pfx, err := netip.ParsePrefix(s); err == nil {
		return pfx.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

func (u *Upstream) validate(p *problems, path string) {
	checkName(p, path+".name", u.Name)
	checkHostPort(p, path+".addr", u.Addr, false)
	checkSMPPString(p, path+".system_id", u.SystemID, 1, maxSystemID)
	checkSMPPString(p, path+".password", u.Password, 0, maxPassword)
	checkSMPPString(p, path+".system_type", u.SystemType, 0, maxSystemType)
	checkOneOf(p, path+".bind", u.Bind, BindTRX, BindTXRX, BindTX, BindRX)
	checkRange(p, path+".binds", u.Binds, 1, maxBinds)
	checkRange(p, path+".window", u.Window, 1, maxUpstreamWindow)
	checkPositive(p, path+".response_timeout", u.ResponseTimeout)
	checkPositive(p, path+".enquire_link_interval", u.EnquireLinkInterval)
	checkPositive(p, path+".connect_timeout", u.ConnectTimeout)
	checkPositive(p, path+".reconnect_min", u.ReconnectMin)
	checkPositive(p, path+".reconnect_max", u.ReconnectMax)
	checkOneOf(p, path+".id_format", u.IDFormat, "auto", "exact", "same", "hex-decimal", "decimal-hex")
	if (u.TLS.CertFile == "") != (u.TLS.KeyFile == "") {
		p.add(path+".tls", "cert_file and key_file go together")
	}
	if u.TPS < 0 {
		p.add(path+".tps", "must be 0 (no cap) or more; got %d", u.TPS)
	}
	if u.ReconnectMin > 0 && u.ReconnectMax > 0 && u.ReconnectMax < u.ReconnectMin {
		p.add(path+".reconnect_max", "must not be shorter than reconnect_min (%s); got %s", u.ReconnectMin, u.ReconnectMax)
	}
}

func (g *Group) validate(p *problems, path string, upstreams map[string]*Upstream) {
	checkName(p, path+".name", g.Name)
	checkOneOf(p, path+".mode", g.Mode, ModeActiveActive, ModeActiveStandby, ModeAdaptive)
	for i, st := range g.RetryOn {
		checkStatus(p, fmt.Sprintf("%s.retry_on[%d]", path, i), st)
	}
	checkRange(p, path+".max_attempts", g.MaxAttempts, 1, 64)
	checkPositive(p, path+".queue_timeout", g.QueueTimeout)
	checkPositive(p, path+".sticky_ttl", g.StickyTTL)
	b := &g.Breaker
	checkAtLeast(p, path+".breaker.failures", b.Failures, 1)
	if b.ErrorRate <= 0 || b.ErrorRate > 1 {
		p.add(path+".breaker.error_rate", "must be above 0 and at most 1; got %v", b.ErrorRate)
	}
	checkAtLeast(p, path+".breaker.min_requests", b.MinRequests, 1)
	checkPositive(p, path+".breaker.window", b.Window)
	checkPositive(p, path+".breaker.cooldown", b.Cooldown)
	checkAtLeast(p, path+".breaker.probes", b.Probes, 1)
	if b.SlowStart < 0 {
		p.add(path+".breaker.slow_start", "must be 0 (no ramp) or more; got %s", b.SlowStart)
	}
	for i, st := range b.Statuses {
		checkStatus(p, fmt.Sprintf("%s.breaker.statuses[%d]", path, i), st)
	}
	checkOneOf(p, path+".queue.mode", g.Queue.Mode, QueueRelay, QueueStoreAndForward)
	checkAtLeast(p, path+".queue.max_items", g.Queue.MaxItems, 1)
	checkPositive(p, path+".queue.max_age", g.Queue.MaxAge)
	if len(g.Members) == 0 {
		p.add(path+".members", "at least one member is required")
	}
	seen := make(map[string]int, len(g.Members))
	for i, m := range g.Members {
		mpath := fmt.Sprintf("%s.members[%d]", path, i)
		if m.Weight < 0 {
			p.add(mpath+".weight", "must be 0 (drained) or more; got %d", m.Weight)
		}
		if m.Upstream == "" {
			p.add(mpath+".upstream", "required")
			continue
		}
		if first, ok := seen[m.Upstream]; ok {
			p.add(mpath+".upstream", "duplicate %q (also %s.members[%d])", m.Upstream, path, first)
			continue
		}
		seen[m.Upstream] = i
		u, ok := upstreams[m.Upstream]
		switch {
		case !ok:
			p.add(mpath+".upstream", "unknown upstream %q", m.Upstream)
		case !u.Bind.CanSubmit():
			p.add(mpath+".upstream", "upstream %q binds %s and cannot carry submits", m.Upstream, u.Bind)
		}
	}
}

func (r *Route) validate(p *problems, path string, clients, groups map[string]bool) {
	for i, id := range r.Clients {
		if !clients[id] {
			p.add(fmt.Sprintf("%s.clients[%d]", path, i), "unknown client %q", id)
		}
	}
	for i, prefix := range r.DestinationPrefix {
		if !isPrefix(prefix) {
			p.add(fmt.Sprintf("%s.destination_prefix[%d]", path, i),
				"must be digits, optionally after a leading \"+\"; got %q", prefix)
		}
	}
	for i, prefix := range r.SourcePrefix {
		if prefix == "" {
			p.add(fmt.Sprintf("%s.source_prefix[%d]", path, i), "must not be empty")
		}
	}
	switch {
	case r.Group == "":
		p.add(path+".group", "required")
	case !groups[r.Group]:
		p.add(path+".group", "unknown group %q", r.Group)
	}
}

// isPrefix reports whether s is a destination prefix: one or more digits,
// optionally after a leading "+".
func isPrefix(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// checkStatus checks a command_status written as an SMPP name or a number.
func checkStatus(p *problems, path, s string) {
	if _, ok := pdu.ParseStatus(s); !ok {
		p.add(path, "%q is not a command_status; write an SMPP name like ESME_RTHROTTLED or a number like \"0x58\"", s)
	}
}

// Status returns the command_status s names; s must have passed Validate.
func Status(s string) uint32 {
	st, _ := pdu.ParseStatus(s)
	return uint32(st)
}

func checkPositive(p *problems, path string, d time.Duration) {
	if d <= 0 {
		p.add(path, "must be longer than 0; got %s", d)
	}
}

func checkAtLeast(p *problems, path string, n, lo int) {
	if n < lo {
		p.add(path, "must be at least %d; got %d", lo, n)
	}
}

func checkRange(p *problems, path string, n, lo, hi int) {
	if n < lo || n > hi {
		p.add(path, "must be from %d to %d; got %d", lo, hi, n)
	}
}

func checkOneOf[T ~string](p *problems, path string, v T, allowed ...T) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	p.add(path, "must be one of %s; got %q", strings.Join(names, ", "), v)
}

// checkSMPPString checks a value sent in an SMPP C-Octet String field:
// printable ASCII, lo to hi octets.
func checkSMPPString(p *problems, path, s string, lo, hi int) {
	switch {
	case s == "" && lo > 0:
		p.add(path, "required")
	case len(s) > hi:
		p.add(path, "is %d characters; SMPP allows at most %d", len(s), hi)
	case !isPrintableASCII(s):
		p.add(path, "must be printable ASCII")
	}
}

func isPrintableASCII(s string) bool {
	for i := range len(s) {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func checkName(p *problems, path, name string) {
	switch {
	case name == "":
		p.add(path, "required")
	case !nameRE.MatchString(name):
		p.add(path, "must use only letters, digits, \"_\", \".\" and \"-\"; got %q", name)
	}
}

// checkHostPort checks a host:port address. A listener may leave the host
// empty (all interfaces) and use port 0 (any free port); a dialled address
// may not.
func checkHostPort(p *problems, path, addr string, listen bool) {
	if addr == "" {
		p.add(path, "required")
		return
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.add(path, "must be host:port; got %q", addr)
		return
	}
	if host == "" && !listen {
		p.add(path, "needs a host; got %q", addr)
	}
	lo := 1
	if listen {
		lo = 0
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < lo || n > 65535 {
		p.add(path, "port must be a number from %d to 65535; got %q", lo, port)
	}
}

func (s *Store) validate(p *problems) {
	checkOneOf(p, "store.kind", s.Kind, StorePebble, StoreRedis)
	if s.MaxPendingWrites < 1 {
		p.add("store.max_pending_writes", "must be at least 1; got %d", s.MaxPendingWrites)
	}
	checkOneOf(p, "store.sync", s.Sync, SyncAlways, SyncInterval)
	if s.SyncInterval < MinSyncInterval || s.SyncInterval > MaxSyncInterval {
		p.add("store.sync_interval", "must be from %s to %s; got %s", MinSyncInterval, MaxSyncInterval, s.SyncInterval)
	}
	if s.Kind != StoreRedis {
		return
	}
	if s.Sync == SyncInterval {
		p.add("store.sync", "interval applies to store.kind pebble only: Redis syncs by its own appendfsync; remove it or set always")
	}
	if s.Instance < 0 || s.Instance > 255 {
		p.add("store.instance", "required with store.kind redis: a number from 0 to 255, different on every instance sharing the store; got %d", s.Instance)
	}
	if len(s.Redis.Addrs) == 0 {
		p.add("store.redis.addrs", "at least one host:port is required with store.kind redis")
	}
	for i, a := range s.Redis.Addrs {
		checkHostPort(p, fmt.Sprintf("store.redis.addrs[%d]", i), a, false)
	}
	if s.Redis.DB < 0 {
		p.add("store.redis.db", "must not be negative; got %d", s.Redis.DB)
	}
	if s.Redis.LeaseTTL < time.Second {
		p.add("store.redis.lease_ttl", "must be at least 1s; got %s", s.Redis.LeaseTTL)
	}
	if s.Redis.WaitReplicas < 0 {
		p.add("store.redis.wait_replicas", "must not be negative; got %d", s.Redis.WaitReplicas)
	}
	checkPositive(p, "store.redis.wait_timeout", s.Redis.WaitTimeout)
	if s.Redis.Prefix == "" {
		p.add("store.redis.prefix", "must not be empty")
	}
}
