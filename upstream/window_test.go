package upstream

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smppconn"
	"github.com/smppmux/smppmux/internal/smsctest"
)

func TestWindowBlocksUntilSlotFrees(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	gate := make(chan struct{})
	var seen atomic.Int32
	srv := smsctest.Start(t, smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
		if seen.Add(1) == 1 {
			<-gate // the SMSC sits on the first submit
		}
		return smsctest.Reply{}
	}})
	u, l := start(t, Config{Addr: srv.Addr(), Window: 2, ResponseTimeout: time.Minute}, nil)
	var once sync.Once
	open := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(open)
	waitBound(t, ctx, u, l, 1)

	rawA, _ := submitSM(1, "447700900001", "a", 0)
	rawB, _ := submitSM(2, "447700900002", "b", 0)
	a := submit(t, ctx, u, rawA)
	b := submit(t, ctx, u, rawB)

	notSent := func(pdu.Frame, error) { t.Error("done called for a submit that was not sent") }
	rawC, _ := submitSM(3, "447700900003", "c", 0)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := u.Submit(cancelled, rawC, notSent); !errors.Is(err, context.Canceled) {
		t.Fatalf("Submit with a full window and a cancelled context: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if err := u.Submit(short, rawC, notSent); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Submit with a full window and a short deadline: %v", err)
	}

	var opened atomic.Bool
	c := make(chan result, 1)
	errc := make(chan error, 1)
	afterOpen := make(chan bool, 1)
	go func() {
		err := u.Submit(ctx, rawC, func(f pdu.Frame, err error) { c <- result{f, err} })
		afterOpen <- opened.Load()
		errc <- err
	}()
	opened.Store(true)
	open()
	if !<-afterOpen {
		t.Error("third submit got a window slot while both were in use")
	}
	if err := <-errc; err != nil {
		t.Fatalf("Submit waiting for a slot: %v", err)
	}
	for name, ch := range map[string]<-chan result{"a": a, "b": b, "c": c} {
		if r := await(t, ctx, ch); r.err != nil || r.f.Status != pdu.StatusOK {
			t.Errorf("submit %s: %v status 0x%x", name, r.err, uint32(r.f.Status))
		}
	}
	if n := srv.Received(); n != 3 {
		t.Errorf("SMSC received %d submits, want 3: refused submits must not be sent", n)
	}
}

func TestResponseTimeoutKeepsBind(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	gate := make(chan struct{})
	var seen atomic.Int32
	srv := smsctest.Start(t, smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
		switch seen.Add(1) {
		case 1:
			return smsctest.Reply{Drop: true}
		case 2:
			<-gate // answered after the response timeout
		}
		return smsctest.Reply{}
	}})
	const timeout = 500 * time.Millisecond
	u, l := start(t, Config{Addr: srv.Addr(), ResponseTimeout: timeout, Window: 1}, nil)
	var once sync.Once
	open := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(open)
	waitBound(t, ctx, u, l, 1)

	raw, _ := submitSM(1, "447700900123", "dropped", 0)
	t0 := time.Now()
	r := await(t, ctx, submit(t, ctx, u, raw))
	if !errors.Is(r.err, smppconn.ErrTimeout) {
		t.Fatalf("dropped submit: %v, want ErrTimeout", r.err)
	}
	if d := time.Since(t0); d < timeout {
		t.Errorf("timed out after %v, before the response timeout %v", d, timeout)
	}

	// The timeout sent an enquire_link, which the SMSC answers: the bind
	// takes submits again once it has, and its window of 1 is free, the
	// timeout released the slot.
	waitHealthy(t, ctx, u)
	raw, _ = submitSM(2, "447700900123", "late", 0)
	if r := await(t, ctx, submit(t, ctx, u, raw)); !errors.Is(r.err, smppconn.ErrTimeout) {
		t.Fatalf("late submit: %v, want ErrTimeout", r.err)
	}
	open()
	if err := l.wait(ctx, func(es []logEntry) bool {
		return countLocked(es, "response matches no request, dropped")[0] >= 1
	}); err != nil {
		t.Fatalf("late response not seen: %v", err)
	}

	waitHealthy(t, ctx, u)
	raw, _ = submitSM(3, "447700900123", "fine", 0)
	if r := await(t, ctx, submit(t, ctx, u, raw)); r.err != nil || r.f.Status != pdu.StatusOK {
		t.Fatalf("submit after timeouts: %v status 0x%x", r.err, uint32(r.f.Status))
	}
	if got := l.count("upstream bound")[0]; got != 1 || srv.Binds() != 1 {
		t.Errorf("bound %d times, SMSC binds %d: a timeout must not cost the bind", got, srv.Binds())
	}
	if got := l.count("upstream bind lost"); len(got) != 0 {
		t.Errorf("bind lost: %v", got)
	}
	if st := u.Binds()[0].State(); st != StateBound {
		t.Errorf("state %s", st)
	}
}

// TestStalledWindowTakesNothing: a bind whose window is full and whose SMSC
// has answered nothing for a while takes no new submit until half its
// window is free.
func TestStalledWindowTakesNothing(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv := smsctest.Start(t, smsctest.Config{})
	const timeout = 3 * time.Second // stall after 1s
	u, _ := startBound(t, ctx, srv, Config{ResponseTimeout: timeout, Window: 4, EnquireLinkInterval: time.Hour}, nil)
	srv.SetHung(true)
	done := make(chan result, 4)
	for i := range 4 {
		raw, _ := submitSM(uint32(i+1), "447700900123", "lost", 0)
		if err := u.Submit(ctx, raw, func(f pdu.Frame, err error) { done <- result{f, err} }); err != nil {
			t.Fatal(err)
		}
	}
	// Congestion is decided when Healthy is called, from the time since the
	// last response: no event marks it, so this polls.
	for u.Healthy() {
		select {
		case <-ctx.Done():
			t.Fatal("a full window with no answer for a second still takes submits")
		case <-time.After(10 * time.Millisecond):
		}
	}
	srv.SetHung(false)
	// Nothing is answered: the SMSC dropped what it read while hung. The
	// window frees when those submits time out, and the bind takes
	// submits again.
	for range 4 {
		if r := await(t, ctx, done); !errors.Is(r.err, smppconn.ErrTimeout) {
			t.Fatalf("lost submit: %v", r.err)
		}
	}
	// Nor is its end signalled: a timed-out request frees its slot.
	for !u.Healthy() {
		select {
		case <-ctx.Done():
			t.Fatal("the bind never took submits again")
		case <-time.After(10 * time.Millisecond):
		}
	}
}
