package daemon

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// TestBindDefences over real sockets: a client outside its allow-list is
// refused; an address that made too many refused binds is refused even
// with the right password, while another client still binds.
func TestBindDefences(t *testing.T) {
	t.Parallel()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	s := newSMSC(t, smsctest.Config{})
	e := startYAML(t, `
listen: {smpp: "127.0.0.1:0"}
server: {failed_binds_per_ip: 6, failed_bind_window: 1h}
clients:
  - {system_id: shop, password: secret}
  - {system_id: remote, password: secret, allow: [10.0.0.0/8]}
  - {system_id: hashed, password: "`+string(hash)+`"}
upstreams: [{name: a, addr: "{{0}}", system_id: mux}]
groups: [{name: g, members: [{upstream: a}]}]
routes: [{group: g}]
`, s)
	ctx := deadline(t)
	bind := func(id, pw string) pdu.Status {
		c, err := esmetest.Dial(ctx, esmetest.Config{Addr: e.d.Addr().String(), SystemID: id, Password: pw})
		var be *esmetest.BindError
		switch {
		case err == nil:
			c.Close()
			return pdu.StatusOK
		case errors.As(err, &be):
			return be.Status
		}
		t.Fatal(err)
		return 0
	}
	if st := bind("hashed", "s3cret"); st != pdu.StatusOK {
		t.Fatalf("bcrypt password: 0x%x", uint32(st))
	}
	if st := bind("hashed", "s3creT"); st != pdu.StatusInvPaswd {
		t.Fatalf("wrong bcrypt password: 0x%x, want ESME_RINVPASWD", uint32(st))
	}
	if st := bind("remote", "secret"); st != pdu.StatusBindFail {
		t.Fatalf("bind from outside the allow-list: 0x%x, want ESME_RBINDFAIL", uint32(st))
	}
	// Those were refused binds 1 and 2 from 127.0.0.1; four wrong
	// passwords make 6.
	for range 4 {
		if st := bind("shop", "wrong"); st != pdu.StatusInvPaswd {
			t.Fatalf("wrong password: 0x%x", uint32(st))
		}
	}
	if st := bind("shop", "secret"); st != pdu.StatusBindFail {
		t.Fatalf("right password past the cap: 0x%x, want ESME_RBINDFAIL", uint32(st))
	}
}

// TestTLSClientCertificateRequired: with require_client_cert a client
// without a certificate cannot bind; one with a certificate from the CA
// can.
func TestTLSClientCertificateRequired(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	dir, clientDir := t.TempDir(), t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := ca.issue(t, dir, 30)
	cc, ck := ca.issue(t, clientDir, 31)
	clientCert, err := tls.LoadX509KeyPair(cc, ck)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	s := newSMSC(t, smsctest.Config{})
	e := startYAML(t, fmt.Sprintf(`
listen: {smpp: "127.0.0.1:0", smpp_tls: "127.0.0.1:0"}
tls: {cert_file: %q, key_file: %q, client_ca_file: %q, require_client_cert: true}
clients: [{system_id: shop, password: secret}]
upstreams: [{name: a, addr: "{{0}}", system_id: mux}]
groups: [{name: g, members: [{upstream: a}]}]
routes: [{group: g}]
`, certFile, keyFile, caFile), s)
	ctx := deadline(t)
	addr := e.d.TLSAddr().String()
	if c, err := esmetest.Dial(ctx, esmetest.Config{Addr: addr, SystemID: "shop", Password: "secret",
		TLS: &tls.Config{RootCAs: pool}}); err == nil {
		c.Close()
		t.Fatal("bound over TLS without a client certificate")
	}
	c, err := esmetest.Dial(ctx, esmetest.Config{Addr: addr, SystemID: "shop", Password: "secret",
		TLS: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientCert}}})
	if err != nil {
		t.Fatalf("bind with a client certificate: %v", err)
	}
	c.Close()
}
