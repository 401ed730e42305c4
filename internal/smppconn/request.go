package smppconn

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
)

// Request sends the request PDU b under this connection's next sequence
// number, which it writes into b, so b must belong to the caller. It waits
// for a window slot until ctx is done. done is called exactly once, from
// the reader goroutine with the response, or with ErrTimeout, ErrClosed or
// ErrNotSent.
// When Request returns an error, done is not called and b was not sent.
func (c *Conn) Request(ctx context.Context, b []byte, timeout time.Duration, done func(pdu.Frame, error)) error {
	sem := c.window()
	select {
	case sem <- struct{}{}:
	default:
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return ErrClosed
		}
	}
	return c.request(b, timeout, done, true)
}

// TryRequest is Request that fails at once with ErrWindowFull when no
// window slot is free, or ErrClosed once the connection is closed.
func (c *Conn) TryRequest(b []byte, timeout time.Duration, done func(pdu.Frame, error)) error {
	select {
	case c.window() <- struct{}{}:
	default:
		// Close does not give back the slots of the calls it fails.
		select {
		case <-c.done:
			return ErrClosed
		default:
		}
		return ErrWindowFull
	}
	return c.request(b, timeout, done, true)
}

// ErrWindowFull is returned by TryRequest when the window is in use.
var ErrWindowFull = errors.New("smpp: window full")

// WindowFree reports how many requests can be sent before the window is
// full.
func (c *Conn) WindowFree() int {
	if p := c.sem.Load(); p != nil {
		return cap(*p) - len(*p)
	}
	return c.cfg.Window
}

// window returns the semaphore of the window, made on first use.
func (c *Conn) window() chan struct{} {
	if p := c.sem.Load(); p != nil {
		return *p
	}
	sem := make(chan struct{}, c.cfg.Window)
	c.sem.CompareAndSwap(nil, &sem)
	return *c.sem.Load()
}

func (c *Conn) request(b []byte, timeout time.Duration, done func(pdu.Frame, error), windowed bool) error {
	h := pdu.ParseHeader(b)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		if windowed {
			<-c.window()
		}
		return ErrClosed
	}
	c.seq = pdu.NextSeq(c.seq)
	seq := c.seq
	pdu.SetSeq(b, seq)
	k := key{pdu.RespID(h.ID), seq}
	cl := &call{done: done, deadline: time.Now().Add(timeout), windowed: windowed}
	if c.pending == nil {
		c.pending = make(map[key]*call)
	}
	c.pending[k] = cl
	if !c.expiryArmed || cl.deadline.Before(c.expiryAt) {
		c.armExpiryLocked(cl.deadline)
	}
	c.mu.Unlock()
	// If the queue refuses, the connection is closed and Close fails the
	// pending call, so done is still called exactly once.
	_ = c.enqueue(outItem{b: b, call: cl})
	return nil
}

// Call sends a request and waits for its response or ctx.
func (c *Conn) Call(ctx context.Context, b []byte, timeout time.Duration) (pdu.Frame, error) {
	type result struct {
		f   pdu.Frame
		err error
	}
	ch := make(chan result, 1)
	if err := c.request(b, timeout, func(f pdu.Frame, err error) { ch <- result{f, err} }, false); err != nil {
		return pdu.Frame{}, err
	}
	select {
	case r := <-ch:
		return r.f, r.err
	case <-ctx.Done():
		return pdu.Frame{}, ctx.Err()
	}
}

func (c *Conn) armExpiryLocked(at time.Time) {
	c.expiryArmed, c.expiryAt = true, at
	d := time.Until(at)
	if c.expiry == nil {
		c.expiry = time.AfterFunc(d, c.expireDue)
	} else {
		c.expiry.Reset(d)
	}
}

// expireDue runs on the timer: the calls past their deadline fail with
// ErrTimeout, and the timer is armed for the earliest deadline left. The
// timer fires about once per response timeout under steady traffic (it
// is not moved when the call it was armed for is answered), so going
// through the pending calls, at most a window's worth, costs little.
func (c *Conn) expireDue() {
	type expired struct {
		key key
		cl  *call
	}
	var due []expired
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	now := time.Now()
	var next time.Time
	for k, cl := range c.pending {
		switch {
		case !cl.deadline.After(now):
			due = append(due, expired{k, cl})
		case next.IsZero() || cl.deadline.Before(next):
			next = cl.deadline
		}
	}
	for _, e := range due {
		delete(c.pending, e.key)
	}
	if len(due) > 0 {
		c.signalIdleLocked()
	}
	if next.IsZero() {
		c.expiryArmed = false
	} else {
		c.armExpiryLocked(next)
	}
	c.mu.Unlock()
	slices.SortFunc(due, func(a, b expired) int { return a.cl.deadline.Compare(b.cl.deadline) })
	// The connection is suspect before anyone hears of the timeout, so
	// that what the callbacks do next avoids it.
	if c.cfg.ProbeTimeout > 0 && slices.ContainsFunc(due, func(e expired) bool { return e.cl.windowed }) {
		c.probe()
	}
	for _, e := range due {
		if e.cl.windowed {
			<-c.window()
		}
		e.cl.done(pdu.Frame{}, ErrTimeout)
	}
}

// Congested reports whether the window is stalled: it became congested
// when every slot was in use and no response had arrived for stall, and
// stays so until half the window is free again. New requests are better
// sent elsewhere meanwhile: those in the window are likely lost.
func (c *Conn) Congested(stall time.Duration) bool {
	used, size := 0, c.cfg.Window
	if p := c.sem.Load(); p != nil {
		used = len(*p)
	}
	if c.congested.Load() {
		if used > size/2 {
			return true
		}
		c.congested.Store(false)
		return false
	}
	if used < size || time.Since(time.Unix(0, c.lastResp.Load())) < stall {
		return false
	}
	c.congested.Store(true)
	return true
}

// signalIdleLocked wakes WaitIdle when nothing is pending any more.
// Called with c.mu held.
func (c *Conn) signalIdleLocked() {
	if len(c.pending) == 0 && c.idle != nil {
		select {
		case c.idle <- struct{}{}:
		default:
		}
	}
}

// WaitIdle waits until no request awaits a response, the connection is
// closed, or ctx is done, and reports whether nothing is pending.
func (c *Conn) WaitIdle(ctx context.Context) bool {
	for {
		c.mu.Lock()
		if len(c.pending) == 0 {
			c.mu.Unlock()
			return true
		}
		if c.idle == nil {
			c.idle = make(chan struct{}, 1)
		}
		idle := c.idle
		c.mu.Unlock()
		select {
		case <-idle:
		case <-c.done:
			return c.Pending() == 0
		case <-ctx.Done():
			return false
		}
	}
}

func (c *Conn) dispatchResponse(f pdu.Frame) {
	c.mu.Lock()
	k := key{f.ID, f.Seq}
	cl := c.pending[k]
	if cl == nil && f.ID == pdu.GenericNack {
		// generic_nack answers whatever request carried its sequence.
		for pk, pc := range c.pending {
			if pk.seq == f.Seq {
				k, cl = pk, pc
				break
			}
		}
	}
	if cl != nil {
		delete(c.pending, k)
		c.signalIdleLocked()
	}
	c.mu.Unlock()
	c.lastResp.Store(f.At.UnixNano())
	if cl == nil {
		c.strayResponse(f)
		return
	}
	if cl.windowed {
		<-c.window()
	}
	cl.done(f, nil)
}
