package smppserver_test

import (
	"runtime"
	"testing"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
)

// TestIdleSessionsKeepNoGoroutine: bound sessions with nothing to do wait
// on the server's poller, so 50 of them cost no goroutine (one each, at
// least, without it), and each still answers when its client sends. It
// counts goroutines, so it does not run in parallel.
func TestIdleSessionsKeepNoGoroutine(t *testing.T) {
	const n = 50
	ctx := testCtx(t)
	h := start(t, func(h *harness) { h.auth.maxBinds = n })
	// Serve's goroutine runs already; the poller adds one.
	baseline := runtime.NumGoroutine() + 1
	rcs := make([]*esmetest.RawConn, n)
	for i := range rcs {
		rcs[i] = bindRaw(t, ctx, h.addr, pdu.BindTransceiver)
		recv(t, ctx, h.handler.bound, "SessionBound")
	}
	waitGoroutines(t, ctx, baseline)
	for round := range uint32(2) {
		for i, rc := range rcs {
			enquire(t, ctx, rc, 2+round*n+uint32(i))
		}
		waitGoroutines(t, ctx, baseline)
	}
}
