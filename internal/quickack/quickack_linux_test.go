package quickack

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// delaying makes the kernel delay server's ACKs, as it does once a
// reply follows each read (pingpong mode), and checks that it does.
func delaying(t *testing.T, client, server net.Conn, rawServer net.Conn) {
	t.Helper()
	b := make([]byte, 1)
	for range 3 {
		if _, err := client.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(server, b); err != nil {
			t.Fatal(err)
		}
		if _, err := server.Write([]byte{2}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(client, b); err != nil {
			t.Fatal(err)
		}
	}
	on, err := Armed(rawServer)
	if err != nil {
		t.Fatal(err)
	}
	if on {
		t.Fatal("the socket acknowledges at once after replying: the kernel never delays ACKs here, nothing to check")
	}
}

// expectArmed reads a byte from client through Reader(server), a TLS
// connection, and checks the socket is in quick-ACK mode after it.
func expectArmed(t *testing.T, client, server net.Conn) {
	t.Helper()
	r := Reader(server)
	if _, ok := r.(*reader); !ok {
		t.Fatalf("Reader is %T, not one that re-arms", r)
	}
	if _, err := client.Write([]byte{3}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(r, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if on, err := Armed(server); err != nil || !on {
		t.Fatalf("after a read TCP_QUICKACK is %v (%v), want on", on, err)
	}
}

// TestReader: a read that finds nothing to read arms the socket before
// it waits, and returns what the peer sends then.
func TestReader(t *testing.T) {
	t.Parallel()
	c, s := tcpPair(t)
	delaying(t, c, s, s)
	r := Reader(s)
	if q, ok := r.(*reader); !ok || !q.direct {
		t.Fatalf("Reader is %T, not one that reads the socket itself", r)
	}
	got := make(chan error, 1)
	b := make([]byte, 4)
	go func() {
		n, err := r.Read(b)
		if err == nil && (n != 1 || b[0] != 3) {
			err = fmt.Errorf("read %q", b[:n])
		}
		got <- err
	}()
	waitArmed(t, s)
	if _, err := c.Write([]byte{3}); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

// TestReaderBusy: a read that finds data waiting returns it and leaves
// the socket as it was: a busy connection costs no setsockopt.
func TestReaderBusy(t *testing.T) {
	t.Parallel()
	c, s := tcpPair(t)
	delaying(t, c, s, s)
	r := Reader(s)
	if _, err := c.Write([]byte{3}); err != nil {
		t.Fatal(err)
	}
	// Wait until the byte can be read without waiting.
	if err := s.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	rc, err := s.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Read(func(fd uintptr) bool {
		_, _, e := syscall.Recvfrom(int(fd), make([]byte, 1), syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return e == nil
	}); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Read(make([]byte, 4)); n != 1 || err != nil {
		t.Fatalf("read %d octets, %v", n, err)
	}
	if on, err := Armed(s); err != nil || on {
		t.Fatalf("after a read that found data TCP_QUICKACK is %v (%v), want it left off", on, err)
	}
}

// TestReaderEOF: the peer closing ends the reader with io.EOF; a deadline
// passing, with os.ErrDeadlineExceeded, as net.Conn's Read.
func TestReaderEOF(t *testing.T) {
	t.Parallel()
	c, s := tcpPair(t)
	r := Reader(s)
	if err := s.SetReadDeadline(time.Now().Add(time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(make([]byte, 4)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past its deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	if err := s.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := r.Read(make([]byte, 4)); err != io.EOF {
		t.Fatalf("read after the peer closed: %v, want io.EOF", err)
	}
}

// waitArmed waits, at most ten seconds, for s's socket to be in quick-ACK
// mode.
func waitArmed(t *testing.T, s net.Conn) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		on, err := Armed(s)
		if err != nil {
			t.Fatal(err)
		}
		if on {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the reader waits and TCP_QUICKACK is still off")
		}
		runtime.Gosched()
	}
}

// TestReaderTLS: over TLS the socket under the TLS connection is re-armed.
func TestReaderTLS(t *testing.T) {
	t.Parallel()
	c, s := tcpPair(t)
	cert := selfSigned(t)
	ts := tls.Server(s, &tls.Config{Certificates: []tls.Certificate{cert}})
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	errc := make(chan error, 1)
	go func() { errc <- ts.Handshake() }()
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	delaying(t, tc, ts, s)
	expectArmed(t, tc, ts)
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// BenchmarkArm is the setsockopt alone, nothing to acknowledge.
func BenchmarkArm(b *testing.B) {
	_, s := tcpPair(b)
	q := Reader(s).(*reader)
	for b.Loop() {
		if err := q.rc.Control(arm); err != nil {
			b.Fatal(err)
		}
	}
}

// wrapped is a net.Conn around a TCP connection, as a listener's wrapper
// makes: it may hold octets of its own, so it is read through, not past.
type wrapped struct{ net.Conn }

func (w wrapped) SyscallConn() (syscall.RawConn, error) {
	return w.Conn.(*net.TCPConn).SyscallConn()
}

// TestReaderWrapped: a connection that is not a bare *net.TCPConn is read
// through its own Read, and its socket re-armed after every read.
func TestReaderWrapped(t *testing.T) {
	t.Parallel()
	c, s := tcpPair(t)
	delaying(t, c, s, s)
	w := wrapped{s}
	if q, ok := Reader(w).(*reader); !ok || q.direct {
		t.Fatalf("Reader of a wrapper is %T (direct %v), want one that reads through it", Reader(w), ok && q.direct)
	}
	expectArmed(t, c, w)
}
