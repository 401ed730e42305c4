package upstream

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smppconn"
	"github.com/smppmux/smppmux/internal/smsctest"
)

func TestConnectionLossFailsPendingAndReconnects(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	arrived := make(chan struct{}, 16)
	var drop atomic.Bool
	drop.Store(true)
	srv := smsctest.Start(t, smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
		r := smsctest.Reply{Drop: drop.Load()}
		arrived <- struct{}{}
		return r
	}})
	u, l := startBound(t, ctx, srv, Config{Binds: 2, ResponseTimeout: time.Minute, ReconnectMin: 10 * time.Millisecond}, nil)

	var pending []<-chan result
	for i := range 4 {
		raw, _ := submitSM(1, "447700900123", fmt.Sprint(i), 0)
		pending = append(pending, submit(t, ctx, u, raw))
	}
	for range 4 {
		select {
		case <-arrived:
		case <-ctx.Done():
			t.Fatal("submits did not reach the SMSC")
		}
	}
	drop.Store(false)
	srv.DisconnectAll()
	for i, ch := range pending {
		if r := await(t, ctx, ch); !errors.Is(r.err, smppconn.ErrClosed) {
			t.Errorf("pending submit %d: %v, want ErrClosed", i, r.err)
		}
	}

	waitBound(t, ctx, u, l, 2)
	if err := srv.WaitBinds(ctx, 2); err != nil {
		t.Fatal(err)
	}
	for _, b := range u.Binds() {
		if b.State() != StateBound {
			t.Errorf("bind %d state %s after reconnecting", b.index, b.State())
		}
	}
	if !u.Bound() {
		t.Fatal("not Bound() after reconnecting")
	}
	for i := range 2 {
		raw, _ := submitSM(1, "447700900123", fmt.Sprint("again ", i), 0)
		if r := await(t, ctx, submit(t, ctx, u, raw)); r.err != nil || r.f.Status != pdu.StatusOK {
			t.Fatalf("submit after reconnecting: %v status 0x%x", r.err, uint32(r.f.Status))
		}
	}
	if got := l.count("upstream bind lost"); got[0] != 1 || got[1] != 1 {
		t.Errorf("bind lost logged %v, want once per bind", got)
	}
}

func TestSMSCUnbindReconnects(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, w := newSMSC(t, smsctest.Config{})
	u, l := startBound(t, ctx, srv, Config{ReconnectMin: 10 * time.Millisecond}, make(handler, 1))

	if err := srv.Push(pdu.Empty(pdu.Unbind, pdu.StatusOK, 0)); err != nil {
		t.Fatal(err)
	}
	resps, err := w.waitN(ctx, 1, ofID(pdu.UnbindResp))
	if err != nil {
		t.Fatal(err)
	}
	if resps[0].conn != 0 || resps[0].f.Status != pdu.StatusOK {
		t.Errorf("unbind_resp on connection %d status 0x%x", resps[0].conn, uint32(resps[0].f.Status))
	}
	waitBound(t, ctx, u, l, 2)
	raw, _ := submitSM(1, "447700900123", "after unbind", 0)
	if r := await(t, ctx, submit(t, ctx, u, raw)); r.err != nil {
		t.Fatal(r.err)
	}
}

// TestHealthChanged: the channel HealthChanged returned is closed when the
// bind is bound and again when its connection is lost, Healthy telling
// each new state.
func TestHealthChanged(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv := smsctest.Start(t, smsctest.Config{})
	u, _ := build(t, Config{Addr: srv.Addr(), ReconnectMin: time.Hour, ReconnectMax: time.Hour}, nil)
	changed := func(ch <-chan struct{}, when string, healthy bool) {
		t.Helper()
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("HealthChanged not closed when %s", when)
		}
		if err := waitHealth(ctx, u, healthy); err != nil {
			t.Fatalf("Healthy never %v once %s: %v", healthy, when, err)
		}
	}
	ch := u.HealthChanged()
	if u.Healthy() {
		t.Fatal("healthy before Start")
	}
	u.Start()
	changed(ch, "the bind was bound", true)
	ch = u.HealthChanged()
	srv.DisconnectAll() // and no redial for an hour
	changed(ch, "the bind was lost", false)
}
