package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/crypto/bcrypt"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// TestBindDefences over real sockets: a client outside its allow-list is
// refused; a system_id refused too often from one address is refused
// there even with the right password, while another client behind the
// same address (a NAT, a load balancer) still binds; made-up system_ids
// from one address share one count.
func TestBindDefences(t *testing.T) {
	t.Parallel()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	s := smsctest.Start(t, smsctest.Config{})
	e := startYAML(t, `
listen: {smpp: "127.0.0.1:0"}
server: {failed_binds_per_ip: 4, failed_bind_window: 1h}
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
		c, st := dialStatus(t, ctx, e.d.Addr().String(), id, pw)
		if c != nil {
			c.Close()
		}
		return st
	}
	for range 4 {
		if st := bind("shop", "wrong"); st != pdu.StatusInvPaswd {
			t.Fatalf("wrong password: 0x%x", uint32(st))
		}
	}
	if st := bind("shop", "secret"); st != pdu.StatusBindFail {
		t.Fatalf("right password past the cap: 0x%x, want ESME_RBINDFAIL", uint32(st))
	}
	if st := bind("hashed", "s3cret"); st != pdu.StatusOK {
		t.Fatalf("another client from the address past shop's cap: 0x%x", uint32(st))
	}
	if st := bind("hashed", "s3creT"); st != pdu.StatusInvPaswd {
		t.Fatalf("wrong bcrypt password: 0x%x, want ESME_RINVPASWD", uint32(st))
	}
	if st := bind("remote", "secret"); st != pdu.StatusBindFail {
		t.Fatalf("bind from outside the allow-list: 0x%x, want ESME_RBINDFAIL", uint32(st))
	}
	for i := range 4 {
		if st := bind(fmt.Sprintf("madeup%d", i), "x"); st != pdu.StatusInvSysID {
			t.Fatalf("made-up system_id %d: 0x%x, want ESME_RINVSYSID", i, uint32(st))
		}
	}
	if st := bind("madeup9", "x"); st != pdu.StatusBindFail {
		t.Fatalf("a fifth made-up system_id: 0x%x, want ESME_RBINDFAIL", uint32(st))
	}
	if st := bind("hashed", "s3cret"); st != pdu.StatusOK {
		t.Fatalf("a client from the address that made system_ids up: 0x%x", uint32(st))
	}
}

// dialStatus binds to addr and returns the bind's status, with the client
// when it bound.
func dialStatus(t *testing.T, ctx context.Context, addr, systemID, password string) (*esmetest.Client, pdu.Status) {
	t.Helper()
	return esmetest.BindStatus(t, ctx, esmetest.Config{Addr: addr, SystemID: systemID, Password: password})
}

// TestBindRefusalReasons over real sockets: every refused bind makes one
// "bind refused" log line naming its reason, without the password, and
// counts in smppmux_client_bind_failures_total under that reason.
func TestBindRefusalReasons(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.InfoLevel)
	reg := prometheus.NewRegistry()
	s := smsctest.Start(t, smsctest.Config{})
	e := startYAMLWith(t, `
listen: {smpp: "127.0.0.1:0"}
server: {failed_binds_per_ip: 2, failed_bind_window: 1h}
clients:
  - {system_id: shop, password: Sh0pPw1}
  - {system_id: remote, password: R3motPw, allow: [10.0.0.0/8]}
  - {system_id: one, password: 0nePw1, max_binds: 1}
  - {system_id: locked, password: L0ckPw1}
upstreams: [{name: a, addr: "{{0}}", system_id: mux}]
groups: [{name: g, members: [{upstream: a}]}]
routes: [{group: g}]
`, zap.New(core), Options{Registry: reg}, s)
	ctx := deadline(t)
	addr := e.d.Addr().String()
	refuse := func(id, pw string, want pdu.Status) {
		t.Helper()
		c, st := dialStatus(t, ctx, addr, id, pw)
		if c != nil {
			c.Close()
		}
		if st != want {
			t.Fatalf("bind %s: 0x%x, want 0x%x", id, uint32(st), uint32(want))
		}
	}
	refuse("shop", "Wr0ngPw", pdu.StatusInvPaswd)
	refuse("nobody", "Wr0ngPw", pdu.StatusInvSysID)
	refuse("remote", "R3motPw", pdu.StatusBindFail)
	first, st := dialStatus(t, ctx, addr, "one", "0nePw1")
	if st != pdu.StatusOK {
		t.Fatalf("first bind of one: 0x%x", uint32(st))
	}
	defer first.Close()
	refuse("one", "0nePw1", pdu.StatusBindFail)
	refuse("locked", "Wr0ngPw", pdu.StatusInvPaswd)
	refuse("locked", "Wr0ngPw", pdu.StatusInvPaswd)
	refuse("locked", "L0ckPw1", pdu.StatusBindFail)
	rc := esmetest.Connect(t, ctx, addr)
	// A system_id without its terminating NUL.
	if err := rc.Send(pdu.Request(pdu.BindTransceiver, 1, []byte("shop"))); err != nil {
		t.Fatal(err)
	}
	f, err := rc.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if f.ID != pdu.BindTransceiverResp || f.Status == pdu.StatusOK {
		t.Fatalf("malformed bind: %s 0x%x", pdu.IDName(f.ID), uint32(f.Status))
	}

	tests := []struct {
		reason, client string
		status         pdu.Status
		n              int
	}{
		{"wrong_password", "shop", pdu.StatusInvPaswd, 1},
		{"unknown_system_id", "unknown", pdu.StatusInvSysID, 1},
		{"allow_list", "remote", pdu.StatusBindFail, 1},
		{"max_binds", "one", pdu.StatusBindFail, 1},
		{"wrong_password", "locked", pdu.StatusInvPaswd, 2},
		{"throttled", "locked", pdu.StatusBindFail, 1},
		{"malformed", "unknown", f.Status, 1},
	}
	for _, tt := range tests {
		labels := map[string]string{"client": tt.client, "reason": tt.reason, "status": fmt.Sprintf("0x%08x", uint32(tt.status))}
		if got := counterValue(t, reg, "smppmux_client_bind_failures_total", labels); got != float64(tt.n) {
			t.Errorf("smppmux_client_bind_failures_total%v = %v, want %d", labels, got, tt.n)
		}
	}
	byReason := map[string]int{}
	for _, en := range logs.FilterMessage("bind refused").All() {
		m := en.ContextMap()
		r, _ := m["reason"].(string)
		byReason[r]++
		if _, ok := m["status"]; !ok {
			t.Errorf("bind refused without a status: %v", m)
		}
		if r != "malformed" && m["system_id"] == nil {
			t.Errorf("bind refused (%s) without its system_id: %v", r, m)
		}
	}
	want := map[string]int{"wrong_password": 3, "unknown_system_id": 1, "allow_list": 1, "max_binds": 1, "throttled": 1, "malformed": 1}
	if !maps.Equal(byReason, want) {
		t.Errorf("bind refused log lines by reason: %v, want %v", byReason, want)
	}
	for _, en := range logs.All() {
		line := fmt.Sprint(en.Message, en.ContextMap())
		for _, pw := range []string{"Sh0pPw1", "Wr0ngPw", "R3motPw", "0nePw1", "L0ckPw1"} {
			if strings.Contains(line, pw) {
				t.Errorf("a password in the log: %s", line)
			}
		}
	}
}

// counterValue returns the value of the counter name with exactly labels
// in reg, 0 when there is none.
func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if maps.Equal(got, labels) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
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
	s := smsctest.Start(t, smsctest.Config{})
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
	esmetest.Bind(t, ctx, esmetest.Config{Addr: addr, SystemID: "shop", Password: "secret",
		TLS: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientCert}}})
}
