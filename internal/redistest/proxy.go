package redistest

import (
	"net"
	"sync"
	"testing"
)

// Proxy forwards TCP connections from a loopback port of its own to a
// server, and can hold everything back for a while, both ways, as a
// network that drops packets does until it heals (TCP then delivers what
// was sent meanwhile, late). One instance behind a Proxy can be cut off
// from a Redis the others still reach.
type Proxy struct {
	Addr string

	mu      sync.Mutex
	newGate chan struct{} // the gate of connections accepted from now on
	conns   map[*proxyConn]bool
	l       net.Listener
	wg      sync.WaitGroup
}

// proxyConn is one connection through the proxy: what it carries waits
// while its gate is open (not closed).
type proxyConn struct {
	client, server net.Conn
	gate           chan struct{}
}

// passing is a closed gate: nothing waits.
var passing = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// NewProxy listens on 127.0.0.1 and forwards to target until the test
// ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: l.Addr().String(), l: l, newGate: passing, conns: make(map[*proxyConn]bool)}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.serve(c, target)
			}()
		}
	}()
	t.Cleanup(p.close)
	return p
}

// Block holds back every byte, on connections open and new, until
// Unblock.
func (p *Proxy) Block() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.newGate == passing {
		p.newGate = make(chan struct{})
	}
	for pc := range p.conns {
		if pc.gate == passing {
			pc.gate = p.newGate
		}
	}
}

// UnblockNew lets new connections through while those open keep what
// they carry held back, as when a network heals before TCP sends again
// what it lost.
func (p *Proxy) UnblockNew() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.newGate = passing
}

// Unblock lets what was held back through, and what follows.
func (p *Proxy) Unblock() {
	p.mu.Lock()
	defer p.mu.Unlock()
	closed := map[chan struct{}]bool{passing: true}
	for pc := range p.conns {
		if !closed[pc.gate] {
			close(pc.gate)
			closed[pc.gate] = true
		}
		pc.gate = passing
	}
	if !closed[p.newGate] {
		close(p.newGate)
	}
	p.newGate = passing
}

// gate returns the channel pc's traffic waits on.
func (p *Proxy) gate(pc *proxyConn) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return pc.gate
}

func (p *Proxy) serve(c net.Conn, target string) {
	p.mu.Lock()
	if p.l == nil {
		p.mu.Unlock()
		c.Close()
		return
	}
	pc := &proxyConn{client: c, gate: p.newGate}
	p.conns[pc] = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.conns, pc)
		p.mu.Unlock()
	}()
	<-p.gate(pc) // a blocked network does not even connect
	up, err := net.Dial("tcp", target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	pc.server = up
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	pump := func(dst, src net.Conn) {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				<-p.gate(pc)
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	go pump(up, c)
	go pump(c, up)
	<-done
	c.Close()
	up.Close()
	<-done
}

// close stops the proxy and its connections.
func (p *Proxy) close() {
	p.Unblock()
	p.mu.Lock()
	l := p.l
	p.l = nil
	var conns []*proxyConn
	for pc := range p.conns {
		conns = append(conns, pc)
	}
	p.mu.Unlock()
	if l != nil {
		l.Close()
	}
	for _, pc := range conns {
		pc.client.Close()
		p.mu.Lock()
		if pc.server != nil {
			pc.server.Close()
		}
		p.mu.Unlock()
	}
	p.wg.Wait()
}
