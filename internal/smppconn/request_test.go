package smppconn

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
)

func TestRequestResponse(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{}, nil)
	done := make(chan result, 1)
	b := submit()
	if err := fx.c.Request(ctxFor(t), b, waitLimit, collect(done)); err != nil {
		t.Fatal(err)
	}
	f := fx.read(t)
	expectHeader(t, f, pdu.SubmitSM, pdu.StatusOK, 1)
	if !bytes.Equal(f.Body(), []byte("body")) || pdu.ParseHeader(b).Seq != 1 {
		t.Fatalf("sent % x", f.Raw)
	}
	if n := fx.c.Pending(); n != 1 {
		t.Fatalf("Pending = %d", n)
	}

	// A response of another command with the same sequence does not match.
	fx.send(t, pdu.MessageIDResp(pdu.DeliverSMResp, pdu.StatusOK, 1, ""))
	u := recv(t, fx.unmatched, "unmatched response")
	expectHeader(t, u, pdu.DeliverSMResp, pdu.StatusOK, 1)
	none(t, done, "done call")

	fx.send(t, pdu.MessageIDResp(pdu.SubmitSMResp, pdu.StatusOK, 1, "abc"))
	r := recv(t, done, "done")
	if r.err != nil {
		t.Fatal(r.err)
	}
	expectHeader(t, r.f, pdu.SubmitSMResp, pdu.StatusOK, 1)
	if id, _ := pdu.ParseMessageIDResp(r.f.Body()); string(id) != "abc" {
		t.Fatalf("message_id %q", id)
	}
	if n := fx.c.Pending(); n != 0 {
		t.Fatalf("Pending = %d", n)
	}
	if fx.c.RemoteAddr().String() != fx.peer.LocalAddr().String() || fx.c.LocalAddr().String() != fx.peer.RemoteAddr().String() {
		t.Fatal("addresses mixed up")
	}
}

func TestGenericNackAnswersRequest(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{}, nil)
	done := make(chan result, 1)
	if err := fx.c.TryRequest(submit(), waitLimit, collect(done)); err != nil {
		t.Fatal(err)
	}
	f := fx.read(t)
	fx.send(t, pdu.Empty(pdu.GenericNack, pdu.StatusInvCmdID, f.Seq))
	r := recv(t, done, "done")
	if r.err != nil {
		t.Fatal(r.err)
	}
	expectHeader(t, r.f, pdu.GenericNack, pdu.StatusInvCmdID, f.Seq)
	if n := fx.c.WindowFree(); n != 10 {
		t.Fatalf("WindowFree = %d, want 10", n)
	}
}

func TestWindow(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{Window: 2}, nil)
	done := make(chan result, 4)
	for range 2 {
		if err := fx.c.TryRequest(submit(), waitLimit, collect(done)); err != nil {
			t.Fatal(err)
		}
	}
	if err := fx.c.TryRequest(submit(), waitLimit, collect(done)); !errors.Is(err, ErrWindowFull) {
		t.Fatalf("TryRequest past the window: %v", err)
	}
	if n := fx.c.WindowFree(); n != 0 {
		t.Fatalf("WindowFree = %d", n)
	}

	// Request waits for a slot until its context ends.
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := fx.c.Request(short, submit(), waitLimit, collect(done)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Request on a full window: %v", err)
	}

	// A waiting Request gets the slot a response frees.
	queued := make(chan error, 1)
	ctx := ctxFor(t)
	go func() { queued <- fx.c.Request(ctx, submit(), waitLimit, collect(done)) }()
	f := fx.read(t)
	fx.read(t)
	fx.send(t, pdu.Empty(pdu.SubmitSMResp, pdu.StatusSysErr, f.Seq))
	if r := recv(t, done, "done"); r.err != nil || r.f.Status != pdu.StatusSysErr {
		t.Fatalf("done: %+v %v", r.f.Header, r.err)
	}
	if err := recv(t, queued, "queued Request"); err != nil {
		t.Fatal(err)
	}
	expectHeader(t, fx.read(t), pdu.SubmitSM, pdu.StatusOK, 3)
	none(t, done, "done call")
}

func TestResponseTimeout(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{Window: 1}, nil)
	done := make(chan result, 1)
	if err := fx.c.TryRequest(submit(), 50*time.Millisecond, collect(done)); err != nil {
		t.Fatal(err)
	}
	f := fx.read(t)
	if r := recv(t, done, "done"); !errors.Is(r.err, ErrTimeout) {
		t.Fatalf("done: %v, want ErrTimeout", r.err)
	}
	if n := fx.c.WindowFree(); n != 1 {
		t.Fatalf("WindowFree = %d after the timeout", n)
	}
	// The late response is unmatched; the connection goes on.
	fx.send(t, pdu.Empty(pdu.SubmitSMResp, pdu.StatusOK, f.Seq))
	expectHeader(t, recv(t, fx.unmatched, "unmatched"), pdu.SubmitSMResp, pdu.StatusOK, f.Seq)
	none(t, done, "second done call")
	if fx.c.Reason() != ReasonNone {
		t.Fatalf("closed: %v", fx.c.Reason())
	}
}

func TestCallContext(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{}, nil)
	ctx, cancel := context.WithTimeout(ctxFor(t), 50*time.Millisecond)
	defer cancel()
	if _, err := fx.c.Call(ctx, pdu.Empty(pdu.EnquireLink, pdu.StatusOK, 0), waitLimit); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Call: %v", err)
	}
	ctx = ctxFor(t)
	res := make(chan result, 1)
	go func() {
		f, err := fx.c.Call(ctx, pdu.Empty(pdu.EnquireLink, pdu.StatusOK, 0), waitLimit)
		res <- result{f, err}
	}()
	expectHeader(t, fx.read(t), pdu.EnquireLink, pdu.StatusOK, 1)
	expectHeader(t, fx.read(t), pdu.EnquireLink, pdu.StatusOK, 2)
	fx.send(t, pdu.Empty(pdu.EnquireLinkResp, pdu.StatusOK, 2))
	r := recv(t, res, "Call")
	if r.err != nil {
		t.Fatal(r.err)
	}
	expectHeader(t, r.f, pdu.EnquireLinkResp, pdu.StatusOK, 2)
	// The abandoned call still takes its late response quietly.
	fx.send(t, pdu.Empty(pdu.EnquireLinkResp, pdu.StatusOK, 1))
	none(t, fx.unmatched, "unmatched response")
}

func TestSequenceWraps(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{}, nil)
	fx.c.mu.Lock()
	fx.c.seq = pdu.MaxSeq - 1
	fx.c.mu.Unlock()
	done := make(chan result, 3)
	for _, want := range []uint32{pdu.MaxSeq, 1, 2} {
		if err := fx.c.TryRequest(submit(), waitLimit, collect(done)); err != nil {
			t.Fatal(err)
		}
		expectHeader(t, fx.read(t), pdu.SubmitSM, pdu.StatusOK, want)
	}
}

// TestResponseTimeoutsInDeadlineOrder: requests of different timeouts
// share the connection's one timer, each failing at its own deadline and
// not before; an answered one never times out, and the window slots of
// the expired ones come back.
func TestResponseTimeoutsInDeadlineOrder(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		local, peer := net.Pipe()
		c := New(local, Config{Window: 4})
		c.Start(func(pdu.Frame) {})
		frames := make(chan pdu.Frame, 8)
		go func() {
			rd := pdu.NewReader(peer, 0)
			for {
				f, err := rd.Read()
				if err != nil {
					close(frames)
					return
				}
				frames <- f
			}
		}()
		start := time.Now()
		type outcome struct {
			name  string
			after time.Duration
			err   error
		}
		outcomes := make(chan outcome, 4)
		request := func(name string, timeout time.Duration) {
			t.Helper()
			err := c.TryRequest(submit(), timeout, func(_ pdu.Frame, err error) {
				outcomes <- outcome{name, time.Since(start), err}
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		request("a", 10*time.Second)
		request("b", 5*time.Second)
		request("c", 10*time.Second)
		request("d", 2*time.Second)
		a := <-frames
		for range 3 {
			<-frames
		}
		if _, err := peer.Write(pdu.Empty(pdu.SubmitSMResp, pdu.StatusOK, a.Seq)); err != nil {
			t.Fatal(err)
		}
		want := []outcome{{"a", 0, nil}, {"d", 2 * time.Second, ErrTimeout},
			{"b", 5 * time.Second, ErrTimeout}, {"c", 10 * time.Second, ErrTimeout}}
		for _, w := range want {
			got := <-outcomes
			if got.name != w.name || got.after != w.after || !errors.Is(got.err, w.err) {
				t.Fatalf("got %s after %v (%v), want %s after %v (%v)", got.name, got.after, got.err, w.name, w.after, w.err)
			}
		}
		if n := c.WindowFree(); n != 4 || c.Pending() != 0 {
			t.Fatalf("WindowFree = %d, Pending = %d after every call ended", n, c.Pending())
		}
		// The timer, idle now, serves a later request too.
		request("e", time.Second)
		<-frames
		if got := <-outcomes; got.name != "e" || got.after != 11*time.Second || !errors.Is(got.err, ErrTimeout) {
			t.Fatalf("got %s after %v (%v), want e after 11s (timeout)", got.name, got.after, got.err)
		}
		c.Close(ReasonShutdown, nil)
		c.Wait()
		_ = peer.Close()
		for range frames {
		}
	})
}

// BenchmarkRequestResponse relays submit_sm and submit_sm_resp between
// two Conns over loopback TCP with 100 requests outstanding, as an
// upstream bind under load: allocations per round trip, both sides.
func BenchmarkRequestResponse(b *testing.B) {
	fx := newFixture(b, Config{Window: 100}, nil)
	peer := New(fx.peer, Config{Window: 100})
	resp := pdu.MessageIDResp(pdu.SubmitSMResp, pdu.StatusOK, 0, "19a3c5e2f0b14")
	peer.Start(func(f pdu.Frame) {
		r := slices.Clone(resp)
		pdu.SetSeq(r, f.Seq)
		_ = peer.Send(r)
	})
	b.Cleanup(func() {
		peer.Close(ReasonShutdown, nil)
		peer.Wait()
	})
	ctx := ctxFor(b)
	var wg sync.WaitGroup
	done := func(_ pdu.Frame, err error) {
		if err != nil {
			b.Error(err)
		}
		wg.Done()
	}
	body := submit()[pdu.HeaderLen:]
	b.ReportAllocs()
	for b.Loop() {
		wg.Add(1)
		if err := fx.c.Request(ctx, pdu.Request(pdu.SubmitSM, 0, body), time.Minute, done); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
}
