package clients

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/smppmux/smppmux/smppserver"
)

// rememberFor is how long a password that passed a bcrypt check is
// remembered: binds presenting it again within that time skip bcrypt.
const rememberFor = time.Hour

// Auth checks binds against the clients of the current Table: system_id,
// password (plain, compared in constant time, or bcrypt), the networks the
// client may bind from, and a cap on refused binds per source address and
// system_id, so that a storm of wrong passwords cannot buy bcrypt time
// without bound. Safe for concurrent use; a reload swaps the Table whole.
//
// A password that passed its bcrypt check is remembered for rememberFor,
// in its client's Table (so a reload, which builds another, forgets it),
// as an HMAC-SHA256 under a key made at random by NewAuth,
// never as the password or a plain hash of it; later binds presenting the
// same password are checked against it in constant time, without bcrypt.
// Binds that present one password while its bcrypt check runs wait for
// that check's answer instead of running their own. A wrong password is
// never remembered: each bind presenting one costs a bcrypt check, until
// the refused-bind cap refuses the address and system_id at once. One
// password is remembered per bcrypt client, so the memory it takes is
// bounded by the configuration.
//
// LOCKING: mu (the refused-bind counts) and a client's remembered.mu are
// never held together.
type Auth struct {
	table func() *Table // the clients of the configuration in force
	key   []byte        // of the HMACs of remembered passwords
	// compare is bcrypt.CompareHashAndPassword; tests count its calls.
	compare func(hash, password []byte) error

	maxFailures int
	window      time.Duration
	now         func() time.Time
	mu          sync.Mutex
	failures    map[failureKey]*failureCount
}

// remembered holds the last password of one client that passed its
// bcrypt check, as an HMAC, and the checks under way, by HMAC.
type remembered struct {
	mu      sync.Mutex
	mac     [sha256.Size]byte
	expires time.Time // zero: nothing remembered
	running map[[sha256.Size]byte]*bcryptCheck
}

// bcryptCheck is one bcrypt check under way; ok is set before done is
// closed.
type bcryptCheck struct {
	done chan struct{}
	ok   bool
}

// failureKey is what refused binds are counted by: the source address and
// the system_id, "" for every system_id that is not configured, so that
// made-up system_ids from one address share one count.
type failureKey struct {
	ip       netip.Addr
	systemID string
}

type failureCount struct {
	start time.Time
	n     int
}

// NewAuth returns an Auth for the clients of the Table table returns at
// each bind. A source address refused maxFailures times within window for
// one system_id (for unknown system_ids, all together) is refused at once
// for it until the window ends; maxFailures 0 turns that off.
func NewAuth(table func() *Table, maxFailures int, window time.Duration) *Auth {
	a := &Auth{
		table:       table,
		key:         make([]byte, sha256.Size),
		compare:     bcrypt.CompareHashAndPassword,
		maxFailures: maxFailures,
		window:      window,
		now:         time.Now,
		failures:    make(map[failureKey]*failureCount),
	}
	// crypto/rand.Read never fails: it crashes the program rather than
	// return predictable bytes.
	_, _ = rand.Read(a.key)
	return a
}

// Known reports whether systemID is a configured client.
func (a *Auth) Known(systemID string) bool { return a.table().Known(systemID) }

// Authenticate implements smppserver.Authenticator: a bind from an address
// past its refused-bind cap for the system_id is refused as throttled
// before anything else is checked; then an unknown system_id, a network
// the client may not use and a wrong password are refused, and counted.
func (a *Auth) Authenticate(_ context.Context, req smppserver.BindRequest) (smppserver.Account, smppserver.BindRefusal) {
	c := a.table().Get(req.SystemID)
	known := c != nil
	key := failureKey{ip: remoteIP(req.Remote)}
	if known {
		key.systemID = req.SystemID
	}
	if a.blocked(key) {
		return smppserver.Account{}, smppserver.RefusedThrottled
	}
	var r smppserver.BindRefusal
	switch {
	case !known:
		r = smppserver.RefusedUnknownSystemID
	case len(c.allow) > 0 && !allowed(c.allow, key.ip):
		r = smppserver.RefusedAllowList
	case !a.passwordOK(c, req.Password):
		r = smppserver.RefusedWrongPassword
	default:
		return smppserver.Account{SystemID: c.SystemID, Window: c.Window, MaxBinds: c.MaxBinds}, smppserver.BindAccepted
	}
	a.failed(key)
	return smppserver.Account{}, r
}

// passwordOK checks password against c's.
func (a *Auth) passwordOK(c *Client, password string) bool {
	if c.remembered == nil {
		return subtle.ConstantTimeCompare([]byte(c.Password), []byte(password)) == 1
	}
	mac := a.mac(c.SystemID, password)
	r := c.remembered
	r.mu.Lock()
	if !r.expires.IsZero() && a.now().Before(r.expires) && hmac.Equal(r.mac[:], mac[:]) {
		r.mu.Unlock()
		return true
	}
	if chk := r.running[mac]; chk != nil {
		r.mu.Unlock()
		<-chk.done
		return chk.ok
	}
	chk := &bcryptCheck{done: make(chan struct{})}
	if r.running == nil {
		r.running = make(map[[sha256.Size]byte]*bcryptCheck)
	}
	r.running[mac] = chk
	r.mu.Unlock()

	// Deferred, so that even a panic in the check lets the waiters go and
	// leaves no check under way behind.
	defer func() {
		r.mu.Lock()
		delete(r.running, mac)
		if chk.ok {
			r.mac, r.expires = mac, a.now().Add(rememberFor)
		}
		r.mu.Unlock()
		close(chk.done)
	}()
	chk.ok = a.compare([]byte(c.Password), []byte(password)) == nil
	return chk.ok
}

// mac returns the HMAC under a's key of password presented for systemID.
// A system_id holds no NUL, so the two cannot run into each other.
func (a *Auth) mac(systemID, password string) [sha256.Size]byte {
	h := hmac.New(sha256.New, a.key)
	h.Write([]byte(systemID))
	h.Write([]byte{0})
	h.Write([]byte(password))
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

func allowed(nets []netip.Prefix, ip netip.Addr) bool {
	for _, p := range nets {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func remoteIP(addr net.Addr) netip.Addr {
	if ta, ok := addr.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// blocked reports whether k is past its refused-bind cap.
func (a *Auth) blocked(k failureKey) bool {
	if a.maxFailures <= 0 {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.failures[k]
	return f != nil && a.now().Sub(f.start) < a.window && f.n >= a.maxFailures
}

// failed counts a refused bind under k.
func (a *Auth) failed(k failureKey) {
	if a.maxFailures <= 0 {
		return
	}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.failures) > 100_000 {
		for k, f := range a.failures {
			if now.Sub(f.start) >= a.window {
				delete(a.failures, k)
			}
		}
	}
	f := a.failures[k]
	if f == nil || now.Sub(f.start) >= a.window {
		f = &failureCount{start: now}
		a.failures[k] = f
	}
	f.n++
}
