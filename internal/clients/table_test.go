package clients

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/smppserver"
)

// TestTableReload: a Table built for a reload keeps the limits, and their
// state, of the clients the reload leaves as they were, gives a changed or
// added client new ones, and holds each client's message id format.
func TestTableReload(t *testing.T) {
	t.Parallel()
	shop := config.Client{SystemID: "shop", Password: "secret", TPS: 100, MessageID: config.MessageID{Format: config.IDDecimal, Length: 12}}
	bank := config.Client{SystemID: "bank", Password: "secret2", TPS: 100}
	cfgs := []config.Client{shop, bank}
	first, err := NewTable(cfgs, nil, config.Diff(nil, &config.Config{Clients: cfgs}).Clients)
	if err != nil {
		t.Fatal(err)
	}
	if c := first.Get("shop"); c == nil || c.IDBase != dlr.BaseDecimal || c.IDLength != 12 || c.Limits == nil {
		t.Fatalf("shop: %+v", c)
	}
	if first.Known("nobody") || first.Get("nobody") != nil || (*Table)(nil).Known("shop") {
		t.Fatal("an unknown client is known")
	}
	// Spend shop's burst of 10.
	now := time.Unix(1000, 0)
	for range 10 {
		first.Get("shop").Limits.Check(nil, []byte("1"), now)
	}
	if st, _ := first.Get("shop").Limits.Check(nil, []byte("1"), now); st != pdu.StatusThrottled {
		t.Fatalf("past the burst: 0x%x", uint32(st))
	}

	bank.TPS = 200
	next := []config.Client{shop, bank, {SystemID: "new", Password: "x"}}
	ch := config.Diff(&config.Config{Clients: cfgs}, &config.Config{Clients: next}).Clients
	second, err := NewTable(next, first, ch)
	if err != nil {
		t.Fatal(err)
	}
	if second.Get("shop").Limits != first.Get("shop").Limits {
		t.Error("an unchanged client lost its limits' state")
	}
	if st, _ := second.Get("shop").Limits.Check(nil, []byte("1"), now); st != pdu.StatusThrottled {
		t.Errorf("an unchanged client's spent burst came back: 0x%x", uint32(st))
	}
	if second.Get("bank").Limits == first.Get("bank").Limits {
		t.Error("a changed client kept its old limits")
	}
	if second.Get("new") == nil || second.Get("new").Limits == nil {
		t.Error("an added client has no limits")
	}
	if _, err := NewTable([]config.Client{{SystemID: "odd", MessageID: config.MessageID{Format: "octal"}}}, nil, config.Entities{}); err == nil {
		t.Error("a message id format that is none was taken")
	}
}

// TestTableReloadForgetsPasswords: a reload forgets the remembered bcrypt
// passwords, even of a client it leaves as it was: the next bind checks
// its password with bcrypt again.
func TestTableReloadForgetsPasswords(t *testing.T) {
	t.Parallel()
	bank := bcryptClient(t, "bank", "s3cret", 0)
	a, counter, set := countedAuth(t, bank)
	close(counter.gate)
	req := smppserver.BindRequest{SystemID: "bank", Password: "s3cret", Remote: &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 1}}
	for range 2 {
		if _, r := a.Authenticate(context.Background(), req); r != smppserver.BindAccepted {
			t.Fatalf("bind: %v", r)
		}
	}
	if got := counter.n.Load(); got != 1 {
		t.Fatalf("two binds ran %d bcrypt checks, want 1", got)
	}
	set([]config.Client{bank})
	if _, r := a.Authenticate(context.Background(), req); r != smppserver.BindAccepted {
		t.Fatalf("bind after the reload: %v", r)
	}
	if got := counter.n.Load(); got != 2 {
		t.Fatalf("a bind after a reload ran %d bcrypt checks in all, want 2", got)
	}
}
