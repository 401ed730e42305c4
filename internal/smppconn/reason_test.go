package smppconn

import "testing"

func TestReasonString(t *testing.T) {
	t.Parallel()
	for r, want := range map[Reason]string{
		ReasonNone: "none", ReasonPeerClosed: "peer_closed", ReasonUnbind: "unbind",
		ReasonReadError: "read_error", ReasonWriteError: "write_error", ReasonBadLength: "bad_length",
		ReasonBindTimeout: "bind_timeout", ReasonBindFailed: "bind_failed", ReasonDeadPeer: "dead_peer",
		ReasonShutdown: "shutdown", ReasonPanic: "panic", ReasonProtocol: "protocol_error",
		ReasonKicked: "kicked", ReasonSuspended: "suspended",
		ReasonSlowPending: "slow_consumer_pending", ReasonSlowDeadline: "slow_consumer_deadline",
		ReasonRemoved: "removed",
		Reason(-1):    "unknown", Reason(99): "unknown",
	} {
		if got := r.String(); got != want {
			t.Errorf("Reason(%d).String() = %q, want %q", int(r), got, want)
		}
	}
}
