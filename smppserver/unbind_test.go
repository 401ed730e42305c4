package smppserver_test

import (
	"testing"

	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smppconn"
)

// TestUnbindKeepsItsReason: a session unbound for a reason closes with
// that reason whether the client answers the unbind and closes the
// connection itself, as many do, or closes it without an answer; the
// client's close is not taken for the reason.
func TestUnbindKeepsItsReason(t *testing.T) {
	t.Parallel()
	for _, answer := range []bool{true, false} {
		ctx := testCtx(t)
		reasons := make(chan smppconn.Reason, 1)
		h := start(t, func(h *harness) { h.srv.OnSessionClosed = func(r smppconn.Reason) { reasons <- r } })
		rc := dialRaw(t, ctx, h.addr)
		rawBind(t, ctx, rc, pdu.BindTransceiver)
		s := recv(t, ctx, h.handler.bound, "SessionBound")
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.Unbind(ctx, smppconn.ReasonKicked)
		}()
		f := read(t, ctx, rc)
		expect(t, f, pdu.Unbind, pdu.StatusOK, f.Seq)
		if answer {
			send(t, rc, pdu.Empty(pdu.UnbindResp, pdu.StatusOK, f.Seq))
		}
		rc.Close()
		if r := recv(t, ctx, reasons, "the close"); r != smppconn.ReasonKicked {
			t.Errorf("answered %v: closed for %v, want kicked", answer, r)
		}
		recv(t, ctx, done, "Unbind's return")
	}
}
