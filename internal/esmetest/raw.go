package esmetest

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
)

// RawConn is an unbound SMPP connection with no protocol logic: it writes
// the bytes it is given and reads whole frames. It starts no goroutine.
type RawConn struct {
	conn net.Conn
	rd   *pdu.Reader
	wmu  sync.Mutex
	rmu  sync.Mutex // one Read at a time

	dmu    sync.Mutex
	active bool // a Read is in progress
}

// Connect connects to addr without binding, for the test tb: a failed
// connect fails the test, and the connection is closed when the test and
// its subtests are over.
func Connect(tb testing.TB, ctx context.Context, addr string) *RawConn {
	tb.Helper()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		tb.Fatalf("esmetest: connect to %s: %v", addr, err)
	}
	r := &RawConn{conn: conn, rd: pdu.NewReader(conn, 0)}
	tb.Cleanup(func() { r.Close() })
	return r
}

// Send writes raw as is: a whole PDU, part of one, several, or garbage.
func (r *RawConn) Send(raw []byte) error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	_, err := r.conn.Write(raw)
	return err
}

// Read reads the next whole frame, giving up when ctx is done (its
// deadline becomes the read deadline). Frames longer than
// pdu.DefaultMaxLen fail with a *pdu.LengthError. After an error the
// stream position is unknown: close the RawConn.
func (r *RawConn) Read(ctx context.Context) (pdu.Frame, error) {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	if err := ctx.Err(); err != nil {
		return pdu.Frame{}, err
	}
	dl, hasDL := ctx.Deadline() // zero: no deadline
	r.conn.SetReadDeadline(dl)
	r.dmu.Lock()
	r.active = true
	r.dmu.Unlock()
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		r.dmu.Lock()
		if r.active {
			r.conn.SetReadDeadline(time.Unix(1, 0))
		}
		r.dmu.Unlock()
	})
	f, err := r.rd.Read()
	if !stop() {
		<-fired // leave no goroutine of ours behind
	}
	r.dmu.Lock()
	r.active = false
	r.dmu.Unlock()
	if err != nil && (ctx.Err() != nil || hasDL && errors.Is(err, os.ErrDeadlineExceeded)) {
		// The socket deadline may fire just before the context's own
		// timer: report the context's error either way.
		<-ctx.Done()
		return f, ctx.Err()
	}
	return f, err
}

// CloseWrite half-closes the connection: the peer reads end of stream.
func (r *RawConn) CloseWrite() error {
	if tc, ok := r.conn.(*net.TCPConn); ok {
		return tc.CloseWrite()
	}
	return r.conn.Close()
}

// LocalAddr returns the local address of the connection.
func (r *RawConn) LocalAddr() net.Addr { return r.conn.LocalAddr() }

// Close closes the connection.
func (r *RawConn) Close() error { return r.conn.Close() }
