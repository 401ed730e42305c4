package smppconn

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
)

// An idle connection keeps no goroutine when it has a Poller
// (Config.Poller): its reader ends, and the Poller's one goroutine starts
// another when the socket turns readable or the connection closes. Without
// a Poller the reader hands over to a goroutine of its own, started when
// the connection went idle, so that it waits on the smallest stack the
// runtime gives: a goroutine keeps the stack it grew while it handled a
// bind or a submit_sm (4-8 KiB), and the runtime never shrinks a stack
// below four times what the goroutine uses, which a reader parked under
// the frame reader always does. Either way the socket is waited for
// without reading, so that no buffer is held while idle either; once the
// peer sends, the new goroutine reads on as the reader.
//
// The reader finds out that the connection went idle through a read
// deadline, idleAfter after the last PDU read: a busy connection's reader
// sees it pass once per idleAfter at most and moves it on. A deadline
// passing mid-PDU loses nothing (pdu.Reader goes on with the frame).
//
// Going idle and waking cost more CPU than a reader parked in a read
// (about 15 us of syscalls, scheduling and stack growth per PDU,
// measured), and so does a deadline passing while the connection is busy:
// a connection whose peer sends again soon after it went idle, or that
// read a PDU in the last half of idleAfter when the deadline passes,
// waits twice as long before going idle the next time, up to
// idleAfterMax, and one left idle for idleAfterMax or more goes back to
// idleAfterMin (nextIdleAfter). So a busy connection's deadline passes
// once per idleAfterMax, a client sending a PDU a second keeps its reader,
// and one sending an enquire_link a minute keeps none.
// Connections whose socket the reader cannot wait for without reading
// (TLS, which buffers records of its own, or a net.Conn with no socket)
// keep one reader goroutine and set no read deadline.

// How long a connection reads nothing before its reader goes idle: the
// bounds of Conn.idleAfter.
const (
	idleAfterMin = 100 * time.Millisecond
	idleAfterMax = 64 * idleAfterMin
)

// nextIdleAfter returns how long a connection idle for waited, after
// going idle once it read nothing for cur, reads nothing before going
// idle again.
func nextIdleAfter(cur, waited time.Duration) time.Duration {
	if waited >= idleAfterMax {
		return idleAfterMin
	}
	return min(2*cur, idleAfterMax)
}

// armIdle sets the read deadline at which the reader checks whether the
// connection went idle, idleAfter after from.
func (c *Conn) armIdle(from time.Time) {
	if c.raw != nil {
		// A failure (the connection closed) leaves the next read to
		// report it.
		_ = c.nc.SetReadDeadline(from.Add(c.idleAfter))
	}
}

// awake is called by the reader back from an idle wait.
func (c *Conn) awake() {
	now := time.Now()
	c.idleAfter = nextIdleAfter(c.idleAfter, now.Sub(c.idleSince))
	c.rd = pdu.NewReader(c.src, c.cfg.MaxPDU)
	c.armIdle(now)
}

// idleDeadline reports whether err is the read deadline of armIdle
// passing, rather than a failure.
func (c *Conn) idleDeadline(err error) bool {
	return c.raw != nil && errors.Is(err, os.ErrDeadlineExceeded)
}

// goIdle is called when the idle deadline passed. It reports true, with
// the deadline cleared, when the connection went idle: nothing read for
// idleAfter and no PDU under way; otherwise it moves the deadline on.
func (c *Conn) goIdle() bool {
	idle := c.idleNow()
	if c.idleChecked != nil {
		c.idleChecked(idle)
	}
	return idle
}

func (c *Conn) idleNow() bool {
	last := time.Unix(0, c.lastRead.Load())
	now := time.Now()
	if since := now.Sub(last); since < c.idleAfter {
		if since < c.idleAfter/2 {
			c.idleAfter = min(2*c.idleAfter, idleAfterMax)
		}
		c.armIdle(last)
		return false
	}
	if !c.rd.Idle() {
		// A PDU arriving slowly: the inactivity timeout bounds it.
		c.armIdle(now)
		return false
	}
	if c.nc.SetReadDeadline(time.Time{}) != nil {
		return false
	}
	// The frame reader goes, and the writer's queue slices too, unless
	// it is writing.
	c.rd = nil
	c.idleSince = now
	c.qmu.Lock()
	if !c.writing {
		c.queue, c.spare = nil, nil
	}
	c.qmu.Unlock()
	return true
}

// awaitReadable returns once the socket has something to read, or an
// error to report, or the connection is closed: the read that follows
// says which.
func (c *Conn) awaitReadable() {
	_ = c.raw.Read(readable)
}

// rawConn returns nc's socket if the reader can wait for it to be
// readable: a TCP connection (or another with a socket of its own), not
// TLS.
func rawConn(nc net.Conn) syscall.RawConn {
	sc, ok := nc.(syscall.Conn)
	if !ok || !canPeek {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}
