package quickack

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"net"
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

// expectArmed reads a byte from client through Reader(server) and checks
// the socket is in quick-ACK mode after it.
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

func TestReader(t *testing.T) {
	t.Parallel()
	c, s := tcpPair(t)
	delaying(t, c, s, s)
	expectArmed(t, c, s)
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
