package relay

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/smppserver"
)

func TestAuth(t *testing.T) {
	t.Parallel()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	a := NewAuth([]config.Client{
		{SystemID: "shop", Password: "secret", Window: 5, MaxBinds: 2},
		{SystemID: "bank", Password: string(hash), Allow: []string{"10.1.0.0/16", "192.0.2.7"}},
	}, 0, time.Minute)
	from := func(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000} }
	tests := []struct {
		name     string
		req      smppserver.BindRequest
		want     pdu.Status
		wantAcct smppserver.Account
	}{
		{"plain ok", smppserver.BindRequest{SystemID: "shop", Password: "secret", Remote: from("127.0.0.1")}, pdu.StatusOK,
			smppserver.Account{SystemID: "shop", Window: 5, MaxBinds: 2}},
		{"plain wrong", smppserver.BindRequest{SystemID: "shop", Password: "secreT", Remote: from("127.0.0.1")}, pdu.StatusInvPaswd, smppserver.Account{}},
		{"unknown", smppserver.BindRequest{SystemID: "nobody", Password: "x", Remote: from("127.0.0.1")}, pdu.StatusInvSysID, smppserver.Account{}},
		{"bcrypt ok from the network", smppserver.BindRequest{SystemID: "bank", Password: "s3cret", Remote: from("10.1.2.3")}, pdu.StatusOK,
			smppserver.Account{SystemID: "bank"}},
		{"bcrypt ok from the single address", smppserver.BindRequest{SystemID: "bank", Password: "s3cret", Remote: from("::ffff:192.0.2.7")}, pdu.StatusOK,
			smppserver.Account{SystemID: "bank"}},
		{"bcrypt wrong", smppserver.BindRequest{SystemID: "bank", Password: "nope", Remote: from("10.1.2.3")}, pdu.StatusInvPaswd, smppserver.Account{}},
		{"outside the allow list", smppserver.BindRequest{SystemID: "bank", Password: "s3cret", Remote: from("10.2.0.1")}, pdu.StatusBindFail, smppserver.Account{}},
	}
	for _, tt := range tests {
		acct, st := a.Authenticate(context.Background(), tt.req)
		if st != tt.want || acct != tt.wantAcct {
			t.Errorf("%s: %+v 0x%x, want %+v 0x%x", tt.name, acct, uint32(st), tt.wantAcct, uint32(tt.want))
		}
	}
}

// TestAuthFailedBindCap: past its cap of refused binds an address is
// refused before any password is checked, until the window ends.
func TestAuthFailedBindCap(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Unix(1000, 0)
	a := NewAuth([]config.Client{{SystemID: "shop", Password: "secret"}}, 3, time.Minute)
	a.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	attacker := &net.TCPAddr{IP: net.ParseIP("198.51.100.9"), Port: 1}
	other := &net.TCPAddr{IP: net.ParseIP("198.51.100.10"), Port: 1}
	for range 3 {
		if _, st := a.Authenticate(context.Background(), smppserver.BindRequest{SystemID: "shop", Password: "guess", Remote: attacker}); st != pdu.StatusInvPaswd {
			t.Fatalf("wrong password: 0x%x", uint32(st))
		}
	}
	// Even the right password is refused now, from that address only.
	if _, st := a.Authenticate(context.Background(), smppserver.BindRequest{SystemID: "shop", Password: "secret", Remote: attacker}); st != pdu.StatusBindFail {
		t.Fatalf("bind past the cap: 0x%x, want ESME_RBINDFAIL", uint32(st))
	}
	if _, st := a.Authenticate(context.Background(), smppserver.BindRequest{SystemID: "shop", Password: "secret", Remote: other}); st != pdu.StatusOK {
		t.Fatalf("another address: 0x%x", uint32(st))
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if _, st := a.Authenticate(context.Background(), smppserver.BindRequest{SystemID: "shop", Password: "secret", Remote: attacker}); st != pdu.StatusOK {
		t.Fatalf("after the window: 0x%x", uint32(st))
	}
}
