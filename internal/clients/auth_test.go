package clients

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/smppserver"
)

func TestAuth(t *testing.T) {
	t.Parallel()
	bank := bcryptClient(t, "bank", "s3cret", 0)
	bank.Allow = []string{"10.1.0.0/16", "192.0.2.7"}
	a, _ := testAuth(t, []config.Client{{SystemID: "shop", Password: "secret", Window: 5, MaxBinds: 2}, bank}, 0, time.Minute)
	from := func(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000} }
	tests := []struct {
		name     string
		req      smppserver.BindRequest
		want     smppserver.BindRefusal
		wantAcct smppserver.Account
	}{
		{"plain ok", smppserver.BindRequest{SystemID: "shop", Password: "secret", Remote: from("127.0.0.1")}, smppserver.BindAccepted,
			smppserver.Account{SystemID: "shop", Window: 5, MaxBinds: 2}},
		{"plain wrong", smppserver.BindRequest{SystemID: "shop", Password: "secreT", Remote: from("127.0.0.1")}, smppserver.RefusedWrongPassword, smppserver.Account{}},
		{"unknown", smppserver.BindRequest{SystemID: "nobody", Password: "x", Remote: from("127.0.0.1")}, smppserver.RefusedUnknownSystemID, smppserver.Account{}},
		{"bcrypt ok from the network", smppserver.BindRequest{SystemID: "bank", Password: "s3cret", Remote: from("10.1.2.3")}, smppserver.BindAccepted,
			smppserver.Account{SystemID: "bank"}},
		{"bcrypt ok from the single address", smppserver.BindRequest{SystemID: "bank", Password: "s3cret", Remote: from("::ffff:192.0.2.7")}, smppserver.BindAccepted,
			smppserver.Account{SystemID: "bank"}},
		{"bcrypt wrong", smppserver.BindRequest{SystemID: "bank", Password: "nope", Remote: from("10.1.2.3")}, smppserver.RefusedWrongPassword, smppserver.Account{}},
		{"bcrypt wrong after a right one", smppserver.BindRequest{SystemID: "bank", Password: "s3creT", Remote: from("10.1.2.3")}, smppserver.RefusedWrongPassword, smppserver.Account{}},
		{"outside the allow list", smppserver.BindRequest{SystemID: "bank", Password: "s3cret", Remote: from("10.2.0.1")}, smppserver.RefusedAllowList, smppserver.Account{}},
	}
	for _, tt := range tests {
		acct, r := a.Authenticate(context.Background(), tt.req)
		if r != tt.want || acct != tt.wantAcct {
			t.Errorf("%s: %+v %v, want %+v %v", tt.name, acct, r, tt.wantAcct, tt.want)
		}
	}
}

// TestAuthFailedBindCap: past its cap of refused binds an address is
// refused for that system_id before any password is checked, until the
// window ends; other clients behind the same address still bind, and
// made-up system_ids from one address share one count.
func TestAuthFailedBindCap(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Unix(1000, 0)
	a, _ := testAuth(t, []config.Client{{SystemID: "shop", Password: "secret"}, {SystemID: "bank", Password: "secret2"}}, 3, time.Minute)
	a.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	attacker := &net.TCPAddr{IP: net.ParseIP("198.51.100.9"), Port: 1}
	other := &net.TCPAddr{IP: net.ParseIP("198.51.100.10"), Port: 1}
	auth := func(id, pw string, from net.Addr) smppserver.BindRefusal {
		_, r := a.Authenticate(context.Background(), smppserver.BindRequest{SystemID: id, Password: pw, Remote: from})
		return r
	}
	for range 3 {
		if r := auth("shop", "guess", attacker); r != smppserver.RefusedWrongPassword {
			t.Fatalf("wrong password: %v", r)
		}
	}
	// Even the right password is refused now, for that address and
	// system_id only.
	if r := auth("shop", "secret", attacker); r != smppserver.RefusedThrottled {
		t.Fatalf("bind past the cap: %v, want throttled", r)
	}
	if r := auth("bank", "secret2", attacker); r != smppserver.BindAccepted {
		t.Fatalf("another client from that address: %v", r)
	}
	if r := auth("shop", "secret", other); r != smppserver.BindAccepted {
		t.Fatalf("another address: %v", r)
	}
	for i := range 3 {
		if r := auth(fmt.Sprintf("made-up%d", i), "x", attacker); r != smppserver.RefusedUnknownSystemID {
			t.Fatalf("unknown system_id %d: %v", i, r)
		}
	}
	if r := auth("made-up9", "x", attacker); r != smppserver.RefusedThrottled {
		t.Fatalf("a fourth made-up system_id: %v, want throttled", r)
	}
	if r := auth("bank", "secret2", attacker); r != smppserver.BindAccepted {
		t.Fatalf("a client from the address that made system_ids up: %v", r)
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if r := auth("shop", "secret", attacker); r != smppserver.BindAccepted {
		t.Fatalf("after the window: %v", r)
	}
}

// countedBcrypt is an Auth.compare that counts the bcrypt checks and makes
// each wait for gate to close.
type countedBcrypt struct {
	n    atomic.Int32
	gate chan struct{}
}

func (c *countedBcrypt) compare(hash, password []byte) error {
	c.n.Add(1)
	<-c.gate
	return bcrypt.CompareHashAndPassword(hash, password)
}

// testAuth returns an Auth for clients and a function that replaces its
// clients as a reload does, with a Table built afresh.
func testAuth(t *testing.T, clients []config.Client, maxFailures int, window time.Duration) (*Auth, func([]config.Client)) {
	t.Helper()
	var cur atomic.Pointer[Table]
	set := func(clients []config.Client) {
		t.Helper()
		tbl, err := NewTable(clients, cur.Load(), config.Diff(&config.Config{Clients: clientsOf(cur.Load())}, &config.Config{Clients: clients}).Clients)
		if err != nil {
			t.Fatal(err)
		}
		cur.Store(tbl)
	}
	set(clients)
	return NewAuth(cur.Load, maxFailures, window), set
}

// clientsOf returns the settings of t's clients.
func clientsOf(t *Table) []config.Client {
	var out []config.Client
	if t != nil {
		for _, c := range t.clients {
			out = append(out, c.Client)
		}
	}
	return out
}

// countedAuth returns an Auth for client, with a refused-bind cap of 3 an
// hour, whose bcrypt checks counter counts and holds until its gate
// closes, and a function that replaces its clients as a reload does.
func countedAuth(t *testing.T, client config.Client) (*Auth, *countedBcrypt, func([]config.Client)) {
	a, set := testAuth(t, []config.Client{client}, 3, time.Hour)
	counter := &countedBcrypt{gate: make(chan struct{})}
	a.compare = counter.compare
	return a, counter, set
}

// bcryptClient returns a client whose password is a bcrypt hash (of the
// lowest cost, to keep tests fast) of password.
func bcryptClient(t *testing.T, systemID, password string, maxBinds int) config.Client {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return config.Client{SystemID: systemID, Password: string(hash), MaxBinds: maxBinds}
}

// enteringAuth tells, by closing all, when want binds have reached the
// Auth.
type enteringAuth struct {
	*Auth
	n    atomic.Int32
	want int32
	all  chan struct{}
}

func (e *enteringAuth) Authenticate(ctx context.Context, req smppserver.BindRequest) (smppserver.Account, smppserver.BindRefusal) {
	if e.n.Add(1) == e.want {
		close(e.all)
	}
	return e.Auth.Authenticate(ctx, req)
}

// nopHandler serves bound sessions by refusing every request.
type nopHandler struct{}

func (nopHandler) HandleRequest(s *smppserver.Session, f pdu.Frame) {
	s.Respond(pdu.Empty(pdu.RespID(f.ID), pdu.StatusSysErr, f.Seq))
}
func (nopHandler) SessionBound(*smppserver.Session)  {}
func (nopHandler) SessionClosed(*smppserver.Session) {}

// serveAuth serves binds checked by auth on 127.0.0.1 until the test ends
// and returns the address.
func serveAuth(t *testing.T, auth smppserver.Authenticator) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &smppserver.Server{Auth: auth, Handler: nopHandler{}}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-served
	})
	return l.Addr().String()
}

// bindStatus binds to addr and returns the bind's status, with the client
// when it bound.
func bindStatus(t *testing.T, ctx context.Context, addr, systemID, password string) (*esmetest.Client, pdu.Status) {
	t.Helper()
	return esmetest.BindStatus(t, ctx, esmetest.Config{Addr: addr, SystemID: systemID, Password: password})
}

// TestAuthBcryptOncePerPassword over real sockets: binds that arrive
// together with the same bcrypt-checked password run one bcrypt check
// between them, and later binds with it none; once a reload changed the
// password, the old one is refused and the new one is checked once.
func TestAuthBcryptOncePerPassword(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 50
	a, counter, set := countedAuth(t, bcryptClient(t, "bank", "s3cret", n+1))
	e := &enteringAuth{Auth: a, want: n, all: make(chan struct{})}
	addr := serveAuth(t, e)

	// The first check waits until every bind has reached the Auth, so they
	// all overlap it.
	var wg sync.WaitGroup
	// Dial, not esmetest.Bind: these goroutines may not fail the test.
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			c, err := esmetest.Dial(ctx, esmetest.Config{Addr: addr, SystemID: "bank", Password: "s3cret"})
			if c != nil {
				defer c.Close()
			}
			errs <- err
		})
	}
	select {
	case <-e.all:
	case <-ctx.Done():
		t.Fatalf("%d of %d binds reached the Auth", e.n.Load(), n)
	}
	close(counter.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("bind: %v", err)
		}
	}
	if got := counter.n.Load(); got != 1 {
		t.Fatalf("%d concurrent binds ran %d bcrypt checks, want 1", n, got)
	}
	c, st := bindStatus(t, ctx, addr, "bank", "s3cret")
	if st != pdu.StatusOK {
		t.Fatalf("a later bind: 0x%08x", uint32(st))
	}
	c.Close()
	if got := counter.n.Load(); got != 1 {
		t.Fatalf("a later bind ran bcrypt: %d checks, want 1", got)
	}

	set([]config.Client{bcryptClient(t, "bank", "n3wpass", n+1)})
	if _, st := bindStatus(t, ctx, addr, "bank", "s3cret"); st != pdu.StatusInvPaswd {
		t.Fatalf("the old password after reload: 0x%08x, want ESME_RINVPASWD", uint32(st))
	}
	if got := counter.n.Load(); got != 2 {
		t.Fatalf("the old password after reload ran %d bcrypt checks in all, want 2", got)
	}
	for i := range 2 {
		c, st := bindStatus(t, ctx, addr, "bank", "n3wpass")
		if st != pdu.StatusOK {
			t.Fatalf("the new password, bind %d: 0x%08x", i, uint32(st))
		}
		c.Close()
	}
	if got := counter.n.Load(); got != 3 {
		t.Fatalf("two binds with the new password ran %d bcrypt checks in all, want 3", got)
	}
}

// TestAuthWrongPasswordAlwaysBcrypt over real sockets: with the right
// password remembered, every wrong one still costs a bcrypt check until
// the refused-bind cap refuses the address and system_id without one.
func TestAuthWrongPasswordAlwaysBcrypt(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, counter, _ := countedAuth(t, bcryptClient(t, "bank", "s3cret", 4))
	close(counter.gate)
	addr := serveAuth(t, a)

	c, st := bindStatus(t, ctx, addr, "bank", "s3cret")
	if st != pdu.StatusOK {
		t.Fatalf("right password: 0x%08x", uint32(st))
	}
	c.Close()
	for i := range 3 {
		if _, st := bindStatus(t, ctx, addr, "bank", "s3creT"); st != pdu.StatusInvPaswd {
			t.Fatalf("wrong password %d: 0x%08x, want ESME_RINVPASWD", i, uint32(st))
		}
		if got, want := counter.n.Load(), int32(i+2); got != want {
			t.Fatalf("after wrong password %d: %d bcrypt checks, want %d", i, got, want)
		}
	}
	for _, pw := range []string{"s3creT", "s3cret"} {
		if _, st := bindStatus(t, ctx, addr, "bank", pw); st != pdu.StatusBindFail {
			t.Fatalf("past the cap: 0x%08x, want ESME_RBINDFAIL", uint32(st))
		}
	}
	if got := counter.n.Load(); got != 4 {
		t.Fatalf("binds refused past the cap ran bcrypt: %d checks, want 4", got)
	}
}
