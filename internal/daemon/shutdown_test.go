package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/lifecycle"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// TestShutdownReleasesParkedReceipts: a receipt waiting for its mapping
// when smppmux stops is answered ESME_RX_T_APPN before the upstream
// unbinds, so the SMSC sends it again, and its wait never ends in a
// lookup in the closed store.
func TestShutdownReleasesParkedReceipts(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{})
	e := startYAML(t, `
listen: {smpp: "127.0.0.1:0"}
clients: [{system_id: shop, password: secret}]
upstreams: [{name: a, addr: "{{0}}", system_id: mux}]
groups: [{name: g, members: [{upstream: a}]}]
routes: [{group: g}]
receipts: {wait_for_mapping: 1h}
`, s)
	ctx := deadline(t)
	parkOneReceipt(t, ctx, e, s)

	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := e.d.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := s.WaitPushesAnswered(ctx, 2); err != nil {
		t.Fatalf("the parked receipt was never answered: %v", err)
	}
	if got := s.PushStatuses(); got[pdu.StatusXTAppn] != 2 || len(got) != 1 {
		t.Fatalf("pushes answered %v, want two ESME_RX_T_APPN (the MO, the parked receipt)", got)
	}
	if n := e.d.Relay.Stats.ReceiptsUnmatched.Load(); n != 0 {
		t.Fatalf("%d receipts counted unmatched", n)
	}
}

// TestShutdownAfterAcceptLoopDied: when the SMPP accept loop has stopped
// on its own and its error was taken from Err, as the command does,
// Shutdown still returns, with nothing left to report.
func TestShutdownAfterAcceptLoopDied(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{})
	cfg, err := config.Parse(fmt.Appendf(nil, `
listen: {smpp: "127.0.0.1:0", admin: "127.0.0.1:0"}
state_dir: %q
clients: [{system_id: shop, password: secret}]
upstreams: [{name: a, addr: %q, system_id: mux}]
groups: [{name: g, members: [{upstream: a}]}]
routes: [{group: g}]
`, t.TempDir(), s.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	// Not startYAML: its cleanup would wait for a Shutdown that hangs.
	d, err := New(cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	ctx := deadline(t)
	if err := d.listener.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.Err():
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("accept loop ended with %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the accept loop did not stop")
	}

	shutdownReturns(t, ctx, d, "Shutdown did not return")
}

// shutdownReturns runs d.Shutdown with 10 s, from a goroutine of its own,
// and fails the test with why unless it returns nil before ctx ends.
func shutdownReturns(t *testing.T, ctx context.Context, d *Daemon, why string) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- d.Shutdown(sctx)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-ctx.Done():
		t.Fatal(why)
	}
}

// TestShutdownRightAfterStart: a Shutdown that follows Start at once,
// while the first reading of the store's statistics is under way, returns.
func TestShutdownRightAfterStart(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{})
	cfg, err := config.Parse(fmt.Appendf(nil, `
listen: {smpp: "127.0.0.1:0", admin: "127.0.0.1:0"}
state_dir: %q
clients: [{system_id: shop, password: secret}]
upstreams: [{name: a, addr: %q, system_id: mux}]
groups: [{name: g, members: [{upstream: a}]}]
routes: [{group: g}]
`, t.TempDir(), s.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := deadline(t)
	for range 20 {
		d, err := New(cfg, zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Start(); err != nil {
			t.Fatal(err)
		}
		shutdownReturns(t, ctx, d, "Shutdown right after Start did not return")
	}
}

// TestShutdownOrder: Shutdown goes through its stages in order, and the
// receipt parked when it began is answered, on its bind, before the
// store closes: by the time the upstreams are stopped its SMSC has the
// answer. The parking's timer, armed at the start, is gone once the
// Tracker stopped, nothing of the Tracker's runs when the store closes,
// and nothing new starts after.
func TestShutdownOrder(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{})
	e := startYAML(t, `
listen: {smpp: "127.0.0.1:0", admin: "127.0.0.1:0"}
clients: [{system_id: shop, password: secret}]
upstreams: [{name: a, addr: "{{0}}", system_id: mux}]
groups: [{name: g, members: [{upstream: a}]}]
routes: [{group: g}]
receipts: {wait_for_mapping: 1h}
`, s)
	ctx := deadline(t)
	e.dial(t, "shop", "secret", pdu.BindTransceiver, 1)
	parkOneReceipt(t, ctx, e, s)

	type seen struct {
		stage    string
		counts   lifecycle.Counts
		answered int
	}
	var stages []seen
	e.d.shutdownStep = func(stage string) {
		n := 0
		for _, k := range s.PushStatuses() {
			n += k
		}
		stages = append(stages, seen{stage, e.d.Lifecycle().Counts(), n})
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := e.d.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	want := []string{"drained", "parking released", "upstreams stopped", "outboxes closed", "lifecycle stopped", "store closed"}
	var got []string
	for _, st := range stages {
		got = append(got, st.stage)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("stages %q, want %q", got, want)
	}
	if c := stages[0].counts; c.Timers == 0 {
		t.Errorf("no timer armed once drained (%+v): the parking's expiry should be", c)
	}
	if n := stages[2].answered; n != 2 {
		t.Errorf("%d pushes answered once the upstreams stopped, want 2: the parked receipt before its bind unbound", n)
	}
	for _, st := range stages[4:] {
		if c := st.counts; c.Running != 0 || c.Timers != 0 {
			t.Errorf("at %s the Tracker holds %+v, want nothing", st.stage, c)
		}
	}
	if err := e.d.Lifecycle().Go("late", func(context.Context) { t.Error("work started after Shutdown") }); !errors.Is(err, lifecycle.ErrStopped) {
		t.Errorf("Go after Shutdown: %v, want lifecycle.ErrStopped", err)
	}
}

// parkOneReceipt pushes from s a receipt of a message smppmux never
// relayed, which waits for its mapping, and returns once it is parked:
// an MO message no MO route takes, pushed after it on the same bind, is
// refused at once, so once that is answered the receipt was read.
func parkOneReceipt(t *testing.T, ctx context.Context, e *env, s *smsctest.Server) {
	t.Helper()
	sub := &pdu.SM{SourceAddr: []byte("Shop"), DestAddr: []byte("447700900001"), ShortMessage: []byte("x"), RegisteredDelivery: 1}
	if err := s.Push(pdu.Request(pdu.DeliverSM, 1, smsctest.Receipt("feed1", sub, "DELIVRD", time.Now()))); err != nil {
		t.Fatal(err)
	}
	mo := pdu.AppendSM(nil, &pdu.SM{SourceAddr: []byte("447700900001"), DestAddr: []byte("555"), ShortMessage: []byte("x")})
	if err := s.Push(pdu.Request(pdu.DeliverSM, 1, mo)); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitPushesAnswered(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if n := e.d.Relay.Stats.ReceiptsParked.Load(); n != 1 {
		t.Fatalf("%d receipts parked, want 1", n)
	}
}

// TestShutdownHonoursContext: with a client's submit under way that its
// SMSC never answers (its outcome is due only at the upstream's response
// timeout, 20 s), Shutdown returns once its context is done, with the
// context's error, long before that timeout.
func TestShutdownHonoursContext(t *testing.T) {
	t.Parallel()
	got := make(chan struct{}, 1)
	s := smsctest.Start(t, smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
		select {
		case got <- struct{}{}:
		default:
		}
		return smsctest.Reply{Drop: true}
	}})
	e := startYAML(t, `
listen: {smpp: "127.0.0.1:0", admin: "127.0.0.1:0"}
clients: [{system_id: shop, password: secret}]
upstreams: [{name: a, addr: "{{0}}", system_id: mux, response_timeout: 20s}]
groups: [{name: g, members: [{upstream: a}]}]
routes: [{group: g}]
`, s)
	c := e.dial(t, "shop", "secret", pdu.BindTransceiver, 1)
	if err := c.SubmitAsync(esmetest.SubmitBody("Shop", "447700900001", []byte("x"), 0, nil), func(esmetest.Resp, error) {}); err != nil {
		t.Fatal(err)
	}
	ctx := deadline(t)
	select {
	case <-got:
	case <-ctx.Done():
		t.Fatal("the submit never reached the SMSC")
	}
	sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	ended := make(chan error, 1)
	go func() { ended <- e.d.Shutdown(sctx) }()
	// Half the response timeout: the submit under way is still pending.
	wait, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	select {
	case err := <-ended:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown: %v, want its context's deadline", err)
		}
	case <-wait.Done():
		t.Fatal("Shutdown outlived its context, waiting for a submit's response timeout")
	}
}
