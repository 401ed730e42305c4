package quickack

import (
	"crypto/tls"
	"io"
	"net"
	"syscall"
)

// Reader returns a reader of nc that re-arms TCP_QUICKACK on nc's TCP
// socket after every read that returned data. For a *tls.Conn the
// socket is the one under it.
func Reader(nc net.Conn) io.Reader {
	raw := nc
	if tc, ok := nc.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	sc, ok := raw.(syscall.Conn)
	if !ok {
		return nc
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nc
	}
	return &reader{r: nc, rc: rc}
}

type reader struct {
	r  io.Reader
	rc syscall.RawConn
}

func (q *reader) Read(p []byte) (int, error) {
	n, err := q.r.Read(p)
	if n > 0 {
		// A failure (the socket just closed) leaves the next read to
		// report it.
		_ = q.rc.Control(arm)
	}
	return n, err
}

// arm is a function value of its own so that Control allocates nothing.
var arm = func(fd uintptr) {
	_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
}

// Armed reports whether nc's TCP socket is in quick-ACK mode now: what
// getsockopt TCP_QUICKACK says, false for anything else.
func Armed(nc net.Conn) (bool, error) {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false, ErrNotTCP
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false, err
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		v, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK)
	}); err != nil {
		return false, err
	}
	return v != 0, gerr
}
