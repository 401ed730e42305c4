package daemon

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/smppmux/smppmux/balancer"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
	"github.com/smppmux/smppmux/metrics"
)

// TestAdminEndpoints drives the admin listener of a running smppmux:
// readiness, status, metrics after traffic, and drain/undrain of a member.
func TestAdminEndpoints(t *testing.T) {
	t.Parallel()
	a, b := smsctest.Start(t, smsctest.Config{}), smsctest.Start(t, smsctest.Config{})
	e := startYAML(t, `
listen: {smpp: "127.0.0.1:0", admin: "127.0.0.1:0"}
admin: {token: s3cret}
clients: [{system_id: shop, password: secret}]
upstreams:
  - {name: a, addr: "{{0}}", system_id: mux}
  - {name: b, addr: "{{1}}", system_id: mux}
groups: [{name: main, members: [{upstream: a}, {upstream: b}]}]
routes: [{group: main}]
`, a, b)
	do := func(method, path string, token bool) (int, string) {
		t.Helper()
		if token {
			return adminDo(t, e.d, "s3cret", method, path, "")
		}
		return adminDo(t, e.d, "", method, path, "")
	}
	if code, _ := do("GET", "/healthz", false); code != 200 {
		t.Fatalf("/healthz %d", code)
	}
	if code, _ := do("GET", "/readyz", false); code != 401 {
		t.Fatalf("/readyz without the token: %d, want 401", code)
	}
	if code, body := do("GET", "/readyz", true); code != 200 {
		t.Fatalf("/readyz %d %s", code, body)
	}
	code, body := do("GET", "/api/v1/status", true)
	var snap metrics.Snapshot
	if code != 200 || json.Unmarshal([]byte(body), &snap) != nil || len(snap.Binds) != 2 || len(snap.Groups) != 1 {
		t.Fatalf("/api/v1/status %d: %s", code, body)
	}

	c := e.dial(t, "shop", "secret", pdu.BindTransmitter, 10)
	ctx := deadline(t)
	if code, _ := do("POST", "/api/v1/groups/main/members/a/drain", true); code != 204 {
		t.Fatalf("drain %d", code)
	}
	for i := range 20 {
		if r, err := c.Submit(ctx, plainBody(i)); err != nil || r.Status != pdu.StatusOK {
			t.Fatalf("submit: %v %v", r.Status, err)
		}
	}
	if a.Accepted() != 0 || b.Accepted() != 20 {
		t.Fatalf("drained member took traffic: a %d, b %d", a.Accepted(), b.Accepted())
	}
	if code, _ := do("POST", "/api/v1/groups/main/members/a/undrain", true); code != 204 {
		t.Fatalf("undrain %d", code)
	}
	for i := range 20 {
		if _, err := c.Submit(ctx, plainBody(i)); err != nil {
			t.Fatal(err)
		}
	}
	if a.Accepted() == 0 {
		t.Fatal("undrained member took nothing")
	}
	if code, _ := do("POST", "/api/v1/groups/main/members/zz/drain", true); code != 404 {
		t.Fatalf("drain of an unknown member: %d, want 404", code)
	}
	if code, _ := do("POST", "/api/v1/reload", true); code != 409 {
		t.Fatalf("reload without a file: %d, want 409", code)
	}

	_, body = do("GET", "/metrics", true)
	for _, want := range []string{
		`smppmux_submits_total{client="shop",group="main",status="0x00000000",upstream="b"} ` + fmt.Sprint(b.Accepted()),
		`smppmux_upstream_binds{state="bound",upstream="a"} 1`,
		`smppmux_client_binds{bind_type="bind_transmitter",client="shop"} 1`,
		`smppmux_ready 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The 40 messages' mappings were synced: the store's histograms say so.
	for _, name := range []string{"smppmux_store_sync_duration_seconds_count", "smppmux_store_batch_writes_count"} {
		m := regexp.MustCompile(name + `\{kind="pebble"\} (\d+)`).FindStringSubmatch(body)
		if len(m) < 2 {
			t.Errorf("/metrics lacks %s", name)
		} else if n, _ := strconv.Atoi(m[1]); n == 0 {
			t.Errorf("/metrics: %s is 0, want the syncs counted", name)
		}
	}
	if t.Failed() {
		fmt.Println(body)
	}
}

// TestReadyzAndHealth: a member whose breaker opened is reported unhealthy
// though still bound, and /readyz names the groups left without an
// available member.
func TestReadyzAndHealth(t *testing.T) {
	t.Parallel()
	a := smsctest.Start(t, smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
		return smsctest.Reply{Status: pdu.StatusSysErr}
	}})
	b := smsctest.Start(t, smsctest.Config{})
	e := startYAML(t, `
listen: {smpp: "127.0.0.1:0", admin: "127.0.0.1:0"}
clients: [{system_id: shop, password: secret}]
upstreams:
  - {name: a, addr: "{{0}}", system_id: mux, reconnect_min: 10ms, reconnect_max: 20ms}
  - {name: b, addr: "{{1}}", system_id: mux}
groups:
  - {name: main, members: [{upstream: a}, {upstream: b}], breaker: {failures: 2, cooldown: 1h}}
  - {name: solo, members: [{upstream: a}]}
routes: [{group: main}]
`, a, b)
	readyz := func() (int, string) { return e.readyz(t) }
	c := e.dial(t, "shop", "secret", pdu.BindTransmitter, 1)
	ctx := deadline(t)
	main := e.d.Group("main")
	for main.Status()[0].Breaker != balancer.BreakerOpen {
		if ctx.Err() != nil {
			t.Fatal("a's breaker never opened")
		}
		if r, err := c.Submit(ctx, plainBody(0)); err != nil || r.Status != pdu.StatusOK {
			t.Fatalf("submit: %v %v", r.Status, err)
		}
	}
	if !e.d.Upstream("a").Healthy() {
		t.Fatal("a is not bound: the test needs it bound")
	}
	if st := main.Status()[0]; st.Healthy {
		t.Fatalf("a with its breaker open reported %+v, want unhealthy", st)
	}
	if got := metricSum(t, e.d, "smppmux_group_member_healthy"); got != 2 {
		t.Fatalf("smppmux_group_member_healthy sums to %v, want 2 (b in main, a in solo)", got)
	}
	if code, body := readyz(); code != 200 {
		t.Fatalf("/readyz %d %q with b available in main and a in solo", code, body)
	}

	a.Close() // a's binds are lost and cannot come back
	waitHealth(t, ctx, e.d.Upstream("a"), false, "a stayed bound")
	code, body := readyz()
	if code != 503 || !strings.Contains(body, "no available member in group solo (") {
		t.Fatalf("/readyz %d %q, want 503 naming solo only", code, body)
	}
}
