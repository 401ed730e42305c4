package upstream

import (
	"context"
	"errors"
	"testing"

	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// TestStopThenStart: Stop unbinds every bind politely and Submit refuses;
// Start binds them again and the upstream relays, with the same binds.
func TestStopThenStart(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, w := newSMSC(t, smsctest.Config{})
	u, l := startBound(t, ctx, srv, Config{SystemID: "acme", Binds: 2}, make(handler, 1))
	if !u.Running() {
		t.Fatal("Running() false after Start")
	}

	sctx, cancel := context.WithTimeout(ctx, 5e9)
	defer cancel()
	if err := u.Stop(sctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if u.Running() || u.Bound() {
		t.Fatalf("after Stop: Running %v Bound %v", u.Running(), u.Bound())
	}
	if n := len(w.snapshot(ofID(pdu.Unbind))); n != 2 {
		t.Errorf("SMSC saw %d unbinds, want 2 (polite)", n)
	}
	for _, b := range u.Binds() {
		if b.State() != StateClosed {
			t.Errorf("bind %d %s after Stop, want closed", b.index, b.State())
		}
	}
	raw, _ := submitSM(1, "447700900123", "hi", 0)
	if err := u.Submit(ctx, raw, func(pdu.Frame, error) {}); !errors.Is(err, ErrStopped) {
		t.Fatalf("Submit after Stop: %v, want ErrStopped", err)
	}
	if err := u.Stop(sctx); err != nil {
		t.Fatalf("a second Stop: %v", err)
	}

	u.Start()
	waitBound(t, ctx, u, l, 2)
	if !u.Running() || !u.Bound() {
		t.Fatalf("after Start: Running %v Bound %v", u.Running(), u.Bound())
	}
	raw, _ = submitSM(2, "447700900123", "again", 0)
	if r := await(t, ctx, submit(t, ctx, u, raw)); r.err != nil || r.f.Status != pdu.StatusOK {
		t.Fatalf("submit after Start: %v %v", r.f.Status, r.err)
	}
	if n := len(w.snapshot(ofID(pdu.BindTransceiver))); n != 4 {
		t.Errorf("SMSC saw %d binds, want 4 (2, then 2 again)", n)
	}
}
