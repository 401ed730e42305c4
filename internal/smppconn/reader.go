package smppconn

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"go.uber.org/zap"

	"github.com/smppmux/smppmux/internal/pdu"
)

// readLoop reads and dispatches PDUs until the connection closes, and
// reports false then, or until the connection has been idle for
// c.idleAfter between two PDUs, and reports true.
func (c *Conn) readLoop(handle func(pdu.Frame)) (idle bool) {
	defer c.recoverReader()
	for {
		if !c.waitWriter() {
			return false
		}
		f, err := c.rd.Read()
		if err != nil {
			if c.idleDeadline(err) {
				if c.goIdle() {
					return true
				}
				continue
			}
			c.readFailed(err)
			return false
		}
		c.lastRead.Store(f.At.UnixNano())
		switch {
		case pdu.IsResponse(f.ID):
			// Before the check of the command id: a response, even of
			// a command_id SMPP does not define, is never answered.
			c.dispatchResponse(f)
		case !pdu.Known(f.ID):
			c.unknownCommand(f.Header)
		case c.closing.Load():
			// See SendAndClose.
		default:
			handle(f)
		}
	}
}

// The reader's rare paths live in functions of their own: the frame of
// readLoop stays small, and with it the stack each idle connection's
// reader holds while it waits.

func (c *Conn) recoverReader() {
	if r := recover(); r != nil {
		c.logger().Error("panic in connection reader, closing this connection",
			zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
		c.Close(ReasonPanic, fmt.Errorf("panic: %v", r))
	}
}

func (c *Conn) readFailed(err error) {
	var le *pdu.LengthError
	switch {
	case errors.As(err, &le):
		c.logger().Warn("invalid command_length, closing",
			zap.Uint32("command_length", le.Header.Len), zap.Uint32("seq", le.Header.Seq))
		c.SendAndClose(pdu.Empty(pdu.GenericNack, pdu.StatusInvCmdLen, le.Header.Seq), ReasonBadLength, err)
	case errors.Is(err, io.EOF):
		r := ReasonPeerClosed
		if u := Reason(c.unbinding.Load()); u != ReasonNone {
			// Closed after (or instead of) answering our unbind.
			r = u
		}
		// The peer may have closed only its sending side: it still gets
		// the answers already queued.
		c.SendAndClose(nil, r, nil)
	case errors.Is(err, io.ErrUnexpectedEOF):
		// Closed mid-PDU: the PDUs before it are still answered.
		c.SendAndClose(nil, ReasonReadError, err)
	default:
		c.Close(ReasonReadError, err)
	}
}

// strayResponse drops a response that answers no request of ours: late
// (its request timed out), repeated, of a command_id SMPP does not
// define, or never asked for. SMPP 3.4 answers no response, not even
// with generic_nack. It is logged at info, once per strayLogEvery per
// connection at most with the count since the last line: a peer sending
// them by the thousand must not flood the log, and one that does so now
// and then is still seen, once.
func (c *Conn) strayResponse(f pdu.Frame) {
	c.strays++
	if now := time.Now(); c.strayLogged.IsZero() || now.Sub(c.strayLogged) >= strayLogEvery {
		c.logger().Info("response matches no request, dropped",
			zap.String("command", pdu.IDName(f.ID)), zap.Uint32("command_id", uint32(f.ID)),
			zap.Uint32("seq", f.Seq), zap.Uint64("dropped_since_last_line", c.strays))
		c.strayLogged, c.strays = now, 0
	}
	if c.cfg.OnUnmatched != nil {
		c.cfg.OnUnmatched(f)
	}
}

// strayLogEvery is the least time between two lines about stray
// responses on one connection.
const strayLogEvery = time.Minute

func (c *Conn) unknownCommand(h pdu.Header) {
	c.logger().Warn("unknown command_id, answering generic_nack",
		zap.Uint32("command_id", uint32(h.ID)), zap.Uint32("seq", h.Seq))
	_ = c.Send(pdu.Empty(pdu.GenericNack, pdu.StatusInvCmdID, h.Seq))
}
