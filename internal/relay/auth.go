package relay

import (
	"context"
	"crypto/subtle"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/smppserver"
)

// Auth checks binds against the configured clients: system_id, password
// (plain, compared in constant time, or bcrypt), the networks the client
// may bind from, and a cap on refused binds per source address, so that a
// storm of wrong passwords cannot buy bcrypt time without bound. Safe for
// concurrent use; Set replaces the clients at once.
type Auth struct {
	clients atomic.Pointer[map[string]authClient]

	maxFailures int
	window      time.Duration
	now         func() time.Time
	mu          sync.Mutex
	failures    map[netip.Addr]*failureCount
}

type authClient struct {
	config.Client
	allow []netip.Prefix
}

type failureCount struct {
	start time.Time
	n     int
}

// NewAuth returns an Auth for clients. A source address refused
// maxFailures times within window is refused at once until the window
// ends; maxFailures 0 turns that off.
func NewAuth(clients []config.Client, maxFailures int, window time.Duration) *Auth {
	a := &Auth{maxFailures: maxFailures, window: window, now: time.Now, failures: make(map[netip.Addr]*failureCount)}
	a.Set(clients)
	return a
}

// Set replaces the clients. Sessions already bound keep their settings.
func (a *Auth) Set(clients []config.Client) {
	m := make(map[string]authClient, len(clients))
	for _, c := range clients {
		ac := authClient{Client: c}
		for _, s := range c.Allow {
			if p, err := config.ParsePrefix(s); err == nil {
				ac.allow = append(ac.allow, p)
			}
		}
		m[c.SystemID] = ac
	}
	a.clients.Store(&m)
}

// Known reports whether systemID is a configured client.
func (a *Auth) Known(systemID string) bool {
	_, ok := (*a.clients.Load())[systemID]
	return ok
}

// Authenticate implements smppserver.Authenticator: an unknown system_id
// gets ESME_RINVSYSID, a wrong password ESME_RINVPASWD, a bind from a
// network the client may not use or from an address past its refused-bind
// cap ESME_RBINDFAIL.
func (a *Auth) Authenticate(_ context.Context, req smppserver.BindRequest) (smppserver.Account, pdu.Status) {
	ip := remoteIP(req.Remote)
	if a.blocked(ip) {
		return smppserver.Account{}, pdu.StatusBindFail
	}
	st := a.check(req, ip)
	if st != pdu.StatusOK {
		a.failed(ip)
		return smppserver.Account{}, st
	}
	c := (*a.clients.Load())[req.SystemID]
	return smppserver.Account{SystemID: c.SystemID, Window: c.Window, MaxBinds: c.MaxBinds}, pdu.StatusOK
}

func (a *Auth) check(req smppserver.BindRequest, ip netip.Addr) pdu.Status {
	c, ok := (*a.clients.Load())[req.SystemID]
	if !ok {
		return pdu.StatusInvSysID
	}
	if len(c.allow) > 0 && !allowed(c.allow, ip) {
		return pdu.StatusBindFail
	}
	if c.IsBcrypt() {
		if bcrypt.CompareHashAndPassword([]byte(c.Password), []byte(req.Password)) != nil {
			return pdu.StatusInvPaswd
		}
	} else if subtle.ConstantTimeCompare([]byte(c.Password), []byte(req.Password)) != 1 {
		return pdu.StatusInvPaswd
	}
	return pdu.StatusOK
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

// blocked reports whether ip is past its refused-bind cap.
func (a *Auth) blocked(ip netip.Addr) bool {
	if a.maxFailures <= 0 {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.failures[ip]
	return f != nil && a.now().Sub(f.start) < a.window && f.n >= a.maxFailures
}

// failed counts a refused bind from ip.
func (a *Auth) failed(ip netip.Addr) {
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
	f := a.failures[ip]
	if f == nil || now.Sub(f.start) >= a.window {
		f = &failureCount{start: now}
		a.failures[ip] = f
	}
	f.n++
}
