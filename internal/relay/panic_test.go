package relay

import (
	"context"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/smppmux/smppmux/balancer"
	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/memstore"
	"github.com/smppmux/smppmux/internal/clients"
	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/lifecycle"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/router"
	"github.com/smppmux/smppmux/internal/smppconn"
	"github.com/smppmux/smppmux/internal/smsctest"
	"github.com/smppmux/smppmux/smppserver"
	"github.com/smppmux/smppmux/upstream"
)

// TestPanicInStoreCallbackClosesOnlyItsSession: a panic in the work a
// mapping's write calls back, on the store's committer goroutine, is
// recovered: that client's session is closed with reason panic and the
// line about it carries the stack, while the process, the upstream bind
// and another client's session go on (the other client's submit is
// answered ESME_ROK over the same bind). Not parallel: it sets
// testHookRecorded.
func TestPanicInStoreCallbackClosesOnlyItsSession(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	smsc := smsctest.Start(t, smsctest.Config{})
	core, logs := observer.New(zap.ErrorLevel)
	life := lifecycle.New(zap.New(core))
	r := New(Config{Registry: smppserver.NewRegistry(), Store: memstore.New(nil), IDs: dlr.NewIDs(time.Now()), Lifecycle: life})
	defer r.Close()
	u := upstream.New(upstream.Config{Name: "carrier", Addr: smsc.Addr(), SystemID: "mux"}, r, nil)
	u.Start()
	defer func() { _ = u.Stop(ctx) }()
	if err := smsc.WaitBinds(ctx, 1); err != nil {
		t.Fatal(err)
	}
	g := balancer.NewGroup(balancer.GroupConfig{Name: "main", Members: []balancer.Weighted{{Member: u, Weight: 1}}})
	defer g.Stop()
	tbl, err := clients.NewTable([]config.Client{{SystemID: "shop", Password: "pw"}, {SystemID: "bank", Password: "pw"}}, nil, config.Entities{})
	if err != nil {
		t.Fatal(err)
	}
	r.SetSnapshot(&Snapshot{Clients: tbl, Upstreams: map[string]*Upstream{"carrier": {Member: u}},
		Router: router.New([]router.Rule[*balancer.Group]{{Target: g}})})

	closes := make(chan smppconn.Reason, 4)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &smppserver.Server{
		Auth:     clients.NewAuth(func() *clients.Table { return tbl }, 0, 0),
		Handler:  r,
		Registry: r.cfg.Registry,
		OnSessionClosed: func(rs smppconn.Reason) {
			closes <- rs
		},
	}
	go func() { _ = srv.Serve(l) }()
	defer func() { _ = srv.Shutdown(ctx) }()

	testHookRecorded = func(s *smppserver.Session) {
		if s.SystemID() == "shop" {
			panic("bug after the mapping's write")
		}
	}
	defer func() { testHookRecorded = nil }()

	shop := esmetest.Bind(t, ctx, esmetest.Config{Addr: l.Addr().String(), SystemID: "shop", Password: "pw"})
	bank := esmetest.Bind(t, ctx, esmetest.Config{Addr: l.Addr().String(), SystemID: "bank", Password: "pw"})
	body := esmetest.SubmitBody("Shop", "447700900001", []byte("x"), 0, nil)
	if resp, err := shop.Submit(ctx, body); err == nil {
		t.Fatalf("the session whose callback panicked answered %v", resp.Status)
	}
	select {
	case rs := <-closes:
		if rs != smppconn.ReasonPanic {
			t.Fatalf("session closed for %v, want panic", rs)
		}
	case <-ctx.Done():
		t.Fatal("the session whose callback panicked stayed open")
	}
	select {
	case <-shop.Done():
	case <-ctx.Done():
		t.Fatal("the client of the panicked session is still connected")
	}
	// The bind and the other client go on.
	if resp, err := bank.Submit(ctx, body); err != nil || resp.Status != pdu.StatusOK {
		t.Fatalf("the other client's submit after the panic: %v %v", resp.Status, err)
	}
	if !u.Bound() || smsc.Binds() != 1 {
		t.Fatalf("upstream bound %v, SMSC saw %d binds: the bind did not survive", u.Bound(), smsc.Binds())
	}
	var logged bool
	for _, e := range logs.All() {
		if e.ContextMap()["work"] == "mapping written" && e.ContextMap()["stack"] != nil {
			logged = true
		}
	}
	if !logged || life.Counts().Panics != 1 {
		t.Fatalf("panic logged with its stack %v, %d panics counted: want it once", logged, life.Counts().Panics)
	}
}

// TestPanicInReceiptTimerHandsItBack: a panic in a receipt's work on a
// timer (the end of its hold) is recovered: the receipt goes back to its
// SMSC with ESME_RX_T_APPN, once, the panic is counted, and the relay
// goes on: the next receipt is parked as usual. Not parallel: it sets
// testHookHoldOver.
func TestPanicInReceiptTimerHandsItBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		life := lifecycle.New(nil)
		r := New(Config{Registry: smppserver.NewRegistry(), Store: memstore.New(nil), IDs: dlr.NewIDs(time.Now()),
			ParkTimeout: time.Hour, Hold: time.Second, Lifecycle: life})
		defer r.Close()
		u := upstream.New(upstream.Config{Name: "carrier", Addr: "127.0.0.1:1"}, r, nil)
		testHookHoldOver = func(*parked) { panic("bug at the end of a hold") }
		defer func() { testHookHoldOver = nil }()
		var acks []pdu.Status
		r.HandleDeliver(u, receipt("abc1"), func(st pdu.Status) { acks = append(acks, st) })
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if len(acks) != 1 || acks[0] != pdu.StatusXTAppn {
			t.Fatalf("receipt whose hold panicked answered %v, want ESME_RX_T_APPN once", acks)
		}
		if c := life.Counts(); c.Panics != 1 {
			t.Fatalf("%d panics counted, want 1", c.Panics)
		}
		testHookHoldOver = nil
		r.HandleDeliver(u, receipt("abc2"), func(st pdu.Status) { acks = append(acks, st) })
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if len(acks) != 2 || acks[1] != pdu.StatusOK {
			t.Fatalf("the next receipt answered %v after its hold, want ESME_ROK (kept waiting)", acks[1:])
		}
	})
}
