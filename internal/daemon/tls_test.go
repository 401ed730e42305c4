package daemon

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smppmux test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue writes a certificate for 127.0.0.1 with serial into dir and
// returns the file names.
func (ca *testCA) issue(t *testing.T, dir string, serial int64) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestTLS: a client binds over TLS, smppmux reaches its SMSC over TLS,
// and a renewed certificate applies on reload without a restart.
func TestTLS(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)

	// The SMSC speaks TLS with a certificate of its own.
	smscDir := t.TempDir()
	sc, sk := ca.issue(t, smscDir, 10)
	smscCert, err := tls.LoadX509KeyPair(sc, sk)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	smsc := smsctest.StartOn(t, tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{smscCert}}), smsctest.Config{})

	certFile, keyFile := ca.issue(t, dir, 20)
	yaml := fmt.Sprintf(`
listen: {smpp: "127.0.0.1:0", smpp_tls: "127.0.0.1:0", admin: ""}
tls: {cert_file: %q, key_file: %q}
clients: [{system_id: shop, password: secret}]
upstreams: [{name: a, addr: %q, system_id: mux, tls: {enabled: true, ca_file: %q}}]
groups: [{name: g, members: [{upstream: a}]}]
routes: [{group: g}]
`, certFile, keyFile, smsc.Addr(), caFile)
	e := startYAML(t, yaml, smsc)
	ctx := deadline(t)
	c := esmetest.Bind(t, ctx, esmetest.Config{Addr: e.d.TLSAddr().String(), SystemID: "shop", Password: "secret",
		TLS: &tls.Config{RootCAs: pool}})
	if r, err := c.Submit(ctx, plainBody(1)); err != nil || r.Status != pdu.StatusOK {
		t.Fatalf("submit over TLS both ways: %v %v", r.Status, err)
	}

	serial := func() int64 {
		conn, err := tls.Dial("tcp", e.d.TLSAddr().String(), &tls.Config{RootCAs: pool})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if s := serial(); s != 20 {
		t.Fatalf("certificate serial %d, want 20", s)
	}
	ca.issue(t, dir, 21) // renewed in place
	cfg, err := config.Parse([]byte(e.yaml))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.d.Apply(cfg); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if s := serial(); s != 21 {
		t.Fatalf("after reload the certificate serial is %d, want the renewed 21", s)
	}
}
