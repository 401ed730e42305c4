package upstream

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

func TestSubmitBeforeStartAndStopBeforeStart(t *testing.T) {
	t.Parallel()
	u := New(Config{Addr: "127.0.0.1:1"}, nil, nil)
	raw, _ := submitSM(1, "447700900123", "hi", 0)
	if err := u.Submit(context.Background(), raw, func(pdu.Frame, error) {}); !errors.Is(err, ErrNotBound) {
		t.Errorf("Submit before Start: %v, want ErrNotBound", err)
	}
	if err := u.Stop(context.Background()); err != nil {
		t.Errorf("Stop before Start: %v", err)
	}
}

// TestStop is not parallel: it checks that no goroutine of the package
// is left once Stop returns.
func TestStop(t *testing.T) {
	ctx := deadline(t)
	srv, w := newSMSC(t, smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
		return smsctest.Reply{Delay: 50 * time.Millisecond}
	}})
	u, l := startBound(t, ctx, srv, Config{Binds: 3, EnquireLinkInterval: 100 * time.Millisecond}, nil)
	if err := srv.WaitBinds(ctx, 3); err != nil {
		t.Fatal(err)
	}
	sessions := srv.Sessions()
	if len(packageGoroutines()) == 0 {
		t.Fatal("the goroutine check sees none of the running binds")
	}

	// An outstanding submit is answered before the bind unbinds.
	raw, _ := submitSM(1, "447700900123", "last one", 0)
	pending := submit(t, ctx, u, raw)
	if err := u.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case r := <-pending:
		if r.err != nil || r.f.Status != pdu.StatusOK {
			t.Errorf("outstanding submit: %v status 0x%x, want its response", r.err, uint32(r.f.Status))
		}
	default:
		t.Error("Stop returned before the outstanding submit was done")
	}
	unbinds, err := w.waitN(ctx, 3, ofID(pdu.Unbind))
	if err != nil {
		t.Fatal(err)
	}
	conns := make(map[int]bool)
	for _, p := range unbinds {
		conns[p.conn] = true
	}
	if len(conns) != 3 {
		t.Errorf("unbind on %d connections, want 3", len(conns))
	}
	for _, s := range sessions {
		select {
		case <-s.Done():
		case <-ctx.Done():
			t.Fatal("SMSC session still open after Stop")
		}
	}
	for _, b := range u.Binds() {
		if b.State() != StateClosed || b.LocalAddr() != nil {
			t.Errorf("bind %d state %s after Stop", b.index, b.State())
		}
	}
	if u.Bound() || u.Healthy() {
		t.Error("Bound() or Healthy() after Stop")
	}
	if gs := packageGoroutines(); len(gs) != 0 {
		t.Errorf("%d goroutines left after Stop:\n%s", len(gs), strings.Join(gs, "\n\n"))
	}
	if err := u.Submit(ctx, raw, func(pdu.Frame, error) { t.Error("done called after Stop") }); !errors.Is(err, ErrStopped) {
		t.Errorf("Submit after Stop: %v, want ErrStopped", err)
	}
	if err := u.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if got := l.count("upstream bind lost"); len(got) != 0 {
		t.Errorf("bind lost during Stop: %v", got)
	}
}

// TestStopPastDeadline stops while a handler holds the bind's reader: the
// SMSC's unbind_resp cannot be read, so Stop's context ends first.
func TestStopPastDeadline(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv := smsctest.Start(t, smsctest.Config{})
	entered := make(chan struct{})
	release := make(chan struct{})
	var returned atomic.Bool
	h := handlerFunc(func(_ *Upstream, _ pdu.Frame, ack func(pdu.Status)) {
		close(entered)
		<-release
		ack(pdu.StatusOK)
		returned.Store(true)
	})
	u, _ := startBound(t, ctx, srv, Config{}, h)
	raw, _ := deliverSM("447700900001", "slow")
	if err := srv.Push(raw); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-ctx.Done():
		t.Fatal("no delivery")
	}

	sctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	go func() {
		<-sctx.Done()
		close(release)
	}()
	if err := u.Stop(sctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop past its deadline: %v", err)
	}
	if !returned.Load() {
		t.Error("Stop returned while the handler was still running")
	}
	if st := u.Binds()[0].State(); st != StateClosed {
		t.Errorf("state %s after Stop", st)
	}
}
