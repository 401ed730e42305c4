package relay

import (
	"context"
	"crypto/subtle"
	"sync/atomic"

	"golang.org/x/crypto/bcrypt"

	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/smppserver"
)

// Auth checks binds against the configured clients. Safe for concurrent
// use; Set replaces the clients at once.
type Auth struct {
	clients atomic.Pointer[map[string]config.Client]
}

// NewAuth returns an Auth for clients.
func NewAuth(clients []config.Client) *Auth {
	a := &Auth{}
	a.Set(clients)
	return a
}

// Set replaces the clients. Sessions already bound keep their settings.
func (a *Auth) Set(clients []config.Client) {
	m := make(map[string]config.Client, len(clients))
	for _, c := range clients {
		m[c.SystemID] = c
	}
	a.clients.Store(&m)
}

// Authenticate implements smppserver.Authenticator: an unknown system_id
// gets ESME_RINVSYSID, a wrong password ESME_RINVPASWD. Plain passwords are
// compared in constant time, bcrypt hashes with bcrypt.
func (a *Auth) Authenticate(_ context.Context, req smppserver.BindRequest) (smppserver.Account, pdu.Status) {
	c, ok := (*a.clients.Load())[req.SystemID]
	if !ok {
		return smppserver.Account{}, pdu.StatusInvSysID
	}
	if c.IsBcrypt() {
		if bcrypt.CompareHashAndPassword([]byte(c.Password), []byte(req.Password)) != nil {
			return smppserver.Account{}, pdu.StatusInvPaswd
		}
	} else if subtle.ConstantTimeCompare([]byte(c.Password), []byte(req.Password)) != 1 {
		return smppserver.Account{}, pdu.StatusInvPaswd
	}
	return smppserver.Account{SystemID: c.SystemID, Window: c.Window, MaxBinds: c.MaxBinds}, pdu.StatusOK
}

// Known reports whether systemID is a configured client.
func (a *Auth) Known(systemID string) bool {
	_, ok := (*a.clients.Load())[systemID]
	return ok
}
