package smppconn

import (
	"sync"

	"go.uber.org/zap"
)

// Poller waits for the sockets of many idle connections on one goroutine:
// a connection whose reader went idle is registered with it and keeps no
// goroutine (nor stack) of its own, and its reader starts again when the
// socket turns readable or the connection closes. Connections share a
// Poller through Config.Poller; without one (or where the system has no
// epoll) each idle connection keeps one goroutine waiting.
//
// Its goroutine starts with the first connection registered and ends with
// Close. The zero value is ready to use.
type Poller struct {
	mu     sync.Mutex
	parked map[uint64]*Conn // by registration id
	// lastID numbers registrations: an event that arrives for a
	// connection after it was woken by other means matches no later
	// registration.
	lastID uint64
	closed bool
	failed bool // the system's poller could not be set up: never again
	sys    sysPoller
	wg     sync.WaitGroup
}

// park registers c, whose reader is idle and has ended, and reports
// whether it did: the reader starts again on a new goroutine when the
// socket is readable or c closes. When it reports false the caller
// waits for the socket itself.
func (p *Poller) park(c *Conn) bool {
	if p == nil || c.raw == nil {
		return false
	}
	p.mu.Lock()
	if p.closed || p.failed {
		p.mu.Unlock()
		return false
	}
	if !p.sys.started() {
		if err := p.sys.start(p); err != nil {
			p.failed = true
			p.mu.Unlock()
			c.logger().Warn("cannot wait for idle connections together, each waits on a goroutine of its own", zap.Error(err))
			return false
		}
	}
	if p.parked == nil {
		p.parked = make(map[uint64]*Conn)
	}
	p.lastID++
	id := p.lastID
	p.parked[id] = c
	p.mu.Unlock()
	// From here on whoever takes c out of parked starts its reader: the
	// system's poller, Close of c, Close of p, or this function.
	c.parkID.Store(id)
	if err := p.sys.watch(c, id); err != nil {
		p.wake(id)
		return true
	}
	select {
	case <-c.done:
		// Close may have looked for a registration before there was
		// one.
		p.wake(id)
	default:
	}
	return true
}

// wake starts the reader of the connection registered as id, unless
// someone else did already.
func (p *Poller) wake(id uint64) {
	p.mu.Lock()
	c := p.parked[id]
	delete(p.parked, id)
	p.mu.Unlock()
	if c != nil {
		c.parkID.CompareAndSwap(id, 0)
		// The socket is readable, or c is closed: the reader need not
		// wait.
		go c.read(c.handle, false)
	}
}

// unpark wakes c if it is registered: Close calls it, since a closed
// socket shows the poller nothing.
func (p *Poller) unpark(c *Conn) {
	if p == nil {
		return
	}
	if id := c.parkID.Swap(0); id != 0 {
		p.wake(id)
	}
}

// parkedCount returns how many connections are registered.
func (p *Poller) parkedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.parked)
}

// Close wakes every connection registered, refuses new ones and stops
// the Poller's goroutine. Later calls do nothing.
func (p *Poller) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	ids := make([]uint64, 0, len(p.parked))
	for id := range p.parked {
		ids = append(ids, id)
	}
	p.mu.Unlock()
	for _, id := range ids {
		p.wake(id)
	}
	err := p.sys.stop()
	p.wg.Wait()
	return err
}
