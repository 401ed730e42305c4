package smppconn

import (
	"errors"
	"fmt"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
)

// probe checks a connection whose request went unanswered: an
// enquire_link at once, and the connection closed as a dead peer if that
// is not answered within ProbeTimeout. The connection is Suspect until
// then.
func (c *Conn) probe() {
	c.setSuspect(true)
	if !c.enquireOut.CompareAndSwap(false, true) {
		// The keepalive's enquire_link is out: its answer decides.
		return
	}
	_ = c.request(pdu.Empty(pdu.EnquireLink, pdu.StatusOK, 0), c.cfg.ProbeTimeout, func(_ pdu.Frame, err error) {
		c.enquireOut.Store(false)
		switch {
		case err == nil:
			c.setSuspect(false)
		case errors.Is(err, ErrTimeout):
			c.Close(ReasonDeadPeer, errors.New("enquire_link unanswered after a request timed out"))
		}
	}, false)
}

// Suspect reports whether a request went unanswered and the enquire_link
// sent to check the peer is not answered yet (see Config.ProbeTimeout).
func (c *Conn) Suspect() bool { return c.suspect.Load() }

// setSuspect sets Suspect and tells Config.OnSuspect of a change.
func (c *Conn) setSuspect(v bool) {
	if c.suspect.Swap(v) != v && c.cfg.OnSuspect != nil {
		c.cfg.OnSuspect(v)
	}
}

// keepaliveDelay returns how long to wait before the next keepalive check
// given the current idle time, 0 when keepalive is off.
func (c *Conn) keepaliveDelay(idle time.Duration) time.Duration {
	var d time.Duration
	if iv := c.cfg.EnquireLinkInterval; iv > 0 {
		d = iv - idle%iv
	}
	if it := c.cfg.InactivityTimeout; it > 0 && (d == 0 || it-idle < d) {
		d = it - idle
	}
	if d > 0 && d < 10*time.Millisecond {
		d = 10 * time.Millisecond
	}
	return d
}

func (c *Conn) checkAlive() {
	select {
	case <-c.done:
		return
	default:
	}
	idle := time.Since(time.Unix(0, c.lastRead.Load()))
	if it := c.cfg.InactivityTimeout; it > 0 && idle >= it {
		c.Close(ReasonDeadPeer, fmt.Errorf("no PDU received for %s", idle.Round(time.Millisecond)))
		return
	}
	if iv := c.cfg.EnquireLinkInterval; iv > 0 && idle >= iv && c.enquireOut.CompareAndSwap(false, true) {
		err := c.request(pdu.Empty(pdu.EnquireLink, pdu.StatusOK, 0), c.cfg.ResponseTimeout, func(_ pdu.Frame, err error) {
			c.enquireOut.Store(false)
			switch {
			case err == nil:
				c.setSuspect(false)
			case errors.Is(err, ErrTimeout):
				c.Close(ReasonDeadPeer, errors.New("enquire_link unanswered"))
			}
		}, false)
		if err != nil {
			return
		}
	}
	c.mu.Lock()
	if !c.closed {
		c.keepalive.Reset(c.keepaliveDelay(idle))
	}
	c.mu.Unlock()
}
