package redistest

import (
	"net"
	"sync"
	"testing"
)

// Proxy forwards TCP connections from a loopback port of its own to a
// server, and can hold everything back for a while, both ways, as a
// network that drops packets does until it heals (TCP then delivers what
// was sent meanwhile). One instance behind a Proxy can be cut off from a
// Redis the others still reach.
type Proxy struct {
	Addr string

	mu      sync.Mutex
	blocked bool
	healed  chan struct{} // closed by Unblock
	l       net.Listener
	conns   []net.Conn
	wg      sync.WaitGroup
}

// NewProxy listens on 127.0.0.1 and forwards to target until the test
// ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: l.Addr().String(), l: l, healed: make(chan struct{})}
	close(p.healed)
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
	if !p.blocked {
		p.blocked = true
		p.healed = make(chan struct{})
	}
}

// Unblock lets what was held back through, and what follows.
func (p *Proxy) Unblock() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.blocked {
		p.blocked = false
		close(p.healed)
	}
}

// gate returns a channel closed once nothing is held back.
func (p *Proxy) gate() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.healed
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l == nil {
		return false
	}
	p.conns = append(p.conns, c)
	return true
}

func (p *Proxy) serve(c net.Conn, target string) {
	<-p.gate() // a blocked network does not even connect
	up, err := net.Dial("tcp", target)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c) || !p.track(up) {
		c.Close()
		up.Close()
		return
	}
	done := make(chan struct{}, 2)
	pump := func(dst, src net.Conn) {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				<-p.gate()
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
	l, conns := p.l, p.conns
	p.l, p.conns = nil, nil
	p.mu.Unlock()
	if l != nil {
		l.Close()
	}
	for _, c := range conns {
		c.Close()
	}
	p.wg.Wait()
}
