package smppconn

// Reason says why a connection was closed. It reaches logs, metrics and the
// status API, so the set is fixed.
type Reason int

// Close reasons.
const (
	ReasonNone        Reason = iota
	ReasonPeerClosed         // the peer closed the TCP connection
	ReasonUnbind             // an unbind was exchanged
	ReasonReadError          // reading failed (reset, truncated PDU)
	ReasonWriteError         // writing failed (reset, broken pipe); see the slow consumer reasons
	ReasonBadLength          // command_length out of range: stream cannot be trusted
	ReasonBindTimeout        // no bind within the bind timeout
	ReasonBindFailed         // bind refused
	ReasonDeadPeer           // no PDU and no enquire_link_resp within the timeouts
	ReasonShutdown           // smppmux is stopping or the configuration removed it
	ReasonPanic              // a bug: the panic was recovered and only this connection closed
	ReasonProtocol           // the peer broke the protocol in a way that ends the session
	ReasonKicked             // an operator closed the client's sessions
	ReasonSuspended          // an operator suspended the client
	// ReasonSlowPending: a slow consumer by pending PDUs: the output
	// queue reached its bound while the peer did not read.
	ReasonSlowPending
	// ReasonSlowDeadline: a slow consumer by write deadline: one
	// batched write did not finish within the write timeout.
	ReasonSlowDeadline
	// ReasonRemoved: a reload removed the client or upstream from the
	// configuration, or replaced the upstream by one of new settings.
	ReasonRemoved
)

var reasonNames = [...]string{
	ReasonNone:         "none",
	ReasonPeerClosed:   "peer_closed",
	ReasonUnbind:       "unbind",
	ReasonReadError:    "read_error",
	ReasonWriteError:   "write_error",
	ReasonBadLength:    "bad_length",
	ReasonBindTimeout:  "bind_timeout",
	ReasonBindFailed:   "bind_failed",
	ReasonDeadPeer:     "dead_peer",
	ReasonShutdown:     "shutdown",
	ReasonPanic:        "panic",
	ReasonProtocol:     "protocol_error",
	ReasonKicked:       "kicked",
	ReasonSuspended:    "suspended",
	ReasonSlowPending:  "slow_consumer_pending",
	ReasonSlowDeadline: "slow_consumer_deadline",
	ReasonRemoved:      "removed",
}

// String returns the reason's name as used in logs and metric labels.
func (r Reason) String() string {
	if r >= 0 && int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// Reasons returns every close reason but ReasonNone, for metrics that
// report each from the start.
func Reasons() []Reason {
	rs := make([]Reason, 0, len(reasonNames)-1)
	for r := ReasonNone + 1; int(r) < len(reasonNames); r++ {
		rs = append(rs, r)
	}
	return rs
}
