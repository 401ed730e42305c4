package upstream

import (
	"context"
	"errors"
	"testing"

	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// TestTPSCap: with tps 100 (bursts of 5), submits that may not wait are
// refused with ErrRateLimited past the burst and never sent; submits that
// may wait all go out.
func TestTPSCap(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv := smsctest.Start(t, smsctest.Config{})
	u, _ := startBound(t, ctx, srv, Config{TPS: 100, Window: 100}, nil)

	done := make(chan error, 300)
	cb := func(_ pdu.Frame, err error) { done <- err }
	now, cancel := context.WithCancel(ctx)
	cancel()
	sent, limited := 0, 0
	for range 200 {
		raw, _ := submitSM(0, "447700900001", "x", 0)
		switch err := u.Submit(now, raw, cb); {
		case err == nil:
			sent++
		case errors.Is(err, ErrRateLimited):
			limited++
		default:
			t.Fatalf("submit: %v", err)
		}
	}
	// The burst goes out; 200 submits come far faster than the 2 s the
	// tokens for all of them would take.
	if sent < 5 || limited == 0 || sent+limited != 200 {
		t.Fatalf("without waiting: %d sent, %d refused; want the burst of 5 (plus what refilled) sent, the rest refused", sent, limited)
	}
	for range 20 {
		raw, _ := submitSM(0, "447700900001", "x", 0)
		if err := u.Submit(ctx, raw, cb); err != nil {
			t.Fatalf("submit that may wait: %v", err)
		}
		sent++
	}
	for range sent {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.WaitAccepted(ctx, sent); err != nil || srv.Received() != sent {
		t.Fatalf("SMSC received %d, want %d: %v", srv.Received(), sent, err)
	}
}
