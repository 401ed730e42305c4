package quickack

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"syscall"
)

// Reader returns a reader of nc that puts nc's TCP socket in quick-ACK
// mode each time it is about to wait for the peer: its read found nothing
// to read. For any other net.Conn with a socket under it, a *tls.Conn
// above all, which reads through buffers of its own, the socket is
// re-armed after every read that returned data instead.
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
	// Only a bare TCP connection is read through its socket: another
	// net.Conn, TLS or a wrapper, may hold octets read already.
	_, bare := nc.(*net.TCPConn)
	q := &reader{r: nc, rc: rc, direct: bare}
	q.readFn = q.readFD
	return q
}

// reader reads through the socket itself (direct), arming it when a read
// would wait, or else through r, arming after every read.
type reader struct {
	r      io.Reader
	rc     syscall.RawConn
	direct bool
	// The read under way, for readFD: readFn is the method value, made
	// once, so that a read allocates nothing.
	readFn func(fd uintptr) bool
	p      []byte
	n      int
	err    error
	armed  bool
}

func (q *reader) Read(p []byte) (int, error) {
	if !q.direct {
		n, err := q.r.Read(p)
		if n > 0 {
			// A failure (the socket just closed) leaves the next read to
			// report it.
			_ = q.rc.Control(arm)
		}
		return n, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	q.p, q.armed = p, false
	err := q.rc.Read(q.readFn)
	n, rerr := q.n, q.err
	q.p, q.n, q.err = nil, 0, nil
	if err != nil {
		// Closed, or the read deadline passed while it waited.
		return 0, err
	}
	return n, rerr
}

// readFD reads once from the socket, and reports false when it has to
// wait for the peer: then, the first time, it arms quick-ACK mode, which
// sends at once an ACK the kernel holds back and acknowledges at once
// what arrives while the reader waits. A busy connection whose reads find
// data waiting costs no setsockopt for them: its reader comes to wait,
// and arms, once it has read all the peer sent.
func (q *reader) readFD(fd uintptr) bool {
	for {
		n, err := syscall.Read(int(fd), q.p)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			if !q.armed {
				q.armed = true
				arm(fd)
			}
			return false
		case err != nil:
			q.err = os.NewSyscallError("read", err)
		case n == 0:
			q.err = io.EOF
		default:
			q.n = n
		}
		return true
	}
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
