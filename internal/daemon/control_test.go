package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/smppmux/smppmux/admin"
	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// controlYAML is two upstreams in one group, two clients, and an admin
// listener behind a token. %d is a's window: a reload that changes it
// rebuilds a.
const controlYAML = `
listen: {smpp: "127.0.0.1:0", admin: "127.0.0.1:0"}
admin: {token: s3cret}
clients:
  - {system_id: shop, password: secret, window: 50}
  - {system_id: bank, password: secret2}
upstreams:
  - {name: a, addr: "{{0}}", system_id: mux, binds: 2, window: %d, reconnect_min: 10ms, reconnect_max: 50ms}
  - {name: b, addr: "{{1}}", system_id: mux, reconnect_min: 10ms, reconnect_max: 50ms}
groups: [{name: main, members: [{upstream: a}, {upstream: b}]}]
routes: [{group: main}]
`

// ctlEnv is a running smppmux whose admin API reloads the configuration
// held in yaml, and whose log is observed.
type ctlEnv struct {
	*env
	level zap.AtomicLevel
	logs  *observer.ObservedLogs

	mu   sync.Mutex
	yaml string // what a reload through the API reads
}

// startControl runs controlYAML over two fake SMSCs with a's window 10.
func startControl(t *testing.T, cfgs ...smsctest.Config) *ctlEnv {
	t.Helper()
	cfgs = append(cfgs, smsctest.Config{}, smsctest.Config{})
	a, b := smsctest.Start(t, cfgs[0]), smsctest.Start(t, cfgs[1])
	c := &ctlEnv{level: zap.NewAtomicLevelAt(zapcore.InfoLevel)}
	obs, logs := observer.New(c.level)
	c.logs = logs
	log := zap.New(zapcore.NewTee(zaptest.NewLogger(t, zaptest.Level(c.level)).Core(), obs))
	opts := Options{Level: &c.level, Reload: func() error {
		c.mu.Lock()
		yaml := c.yaml
		c.mu.Unlock()
		cfg, err := config.Parse([]byte(yaml))
		if err != nil {
			return err
		}
		_, err = c.d.Apply(cfg)
		return err
	}}
	c.env = startYAMLWith(t, fmt.Sprintf(controlYAML, 10), log, opts, a, b)
	c.yaml = c.env.yaml
	if err := a.WaitBinds(deadline(t), 2); err != nil {
		t.Fatal(err)
	}
	return c
}

// reload makes the API's reload read yaml with old replaced by new.
func (c *ctlEnv) reload(t *testing.T, old, new string) {
	t.Helper()
	c.mu.Lock()
	c.yaml = strings.Replace(c.env.yaml, old, new, 1)
	same := c.yaml == c.env.yaml
	c.mu.Unlock()
	if same {
		t.Fatalf("the configuration has no %q", old)
	}
	if code, body := c.call(t, "POST", "/api/v1/reload", ""); code != http.StatusOK {
		t.Fatalf("reload: %d %s", code, body)
	}
}

// callAs sends a request to the admin API with token (none when empty)
// and body (JSON when not empty), and returns the status and the body.
func (c *ctlEnv) callAs(t *testing.T, token, method, path, body string) (int, string) {
	t.Helper()
	return adminDo(t, c.d, token, method, path, body)
}

// call is callAs with the configured token.
func (c *ctlEnv) call(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	return c.callAs(t, "s3cret", method, path, body)
}

// callJSON calls the API, wants code, and decodes the answer into v.
func (c *ctlEnv) callJSON(t *testing.T, method, path, body string, code int, v any) {
	t.Helper()
	got, b := c.call(t, method, path, body)
	if got != code {
		t.Fatalf("%s %s: %d %s, want %d", method, path, got, b, code)
	}
	if err := json.Unmarshal([]byte(b), v); err != nil {
		t.Fatalf("%s %s: %v in %s", method, path, err, b)
	}
}

// control reads the status API's "control" part.
func (c *ctlEnv) control(t *testing.T) admin.Control {
	t.Helper()
	var doc struct {
		Control *admin.Control `json:"control"`
	}
	c.callJSON(t, "GET", "/api/v1/status", "", http.StatusOK, &doc)
	if doc.Control == nil {
		t.Fatal("the status has no control part")
	}
	return *doc.Control
}

// waitUntil polls cond until it holds or ctx ends; what names it.
func waitUntil(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("never: %s", what)
		}
	}
}

// waitSMSCs waits, woken by either fake SMSC's Changed, until cond
// holds or ctx ends; what names it. cond reads what Changed signals.
func (c *ctlEnv) waitSMSCs(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for {
		a, b := c.smscs[0].Changed(), c.smscs[1].Changed()
		if cond() {
			return
		}
		select {
		case <-a:
		case <-b:
		case <-ctx.Done():
			t.Fatalf("never: %s", what)
		}
	}
}

// ended waits until the client's connection ended and returns why.
func ended(t *testing.T, c *esmetest.Client) error {
	t.Helper()
	select {
	case <-c.Done():
		return c.Err()
	case <-deadline(t).Done():
		t.Fatal("the session stayed open")
		return nil
	}
}

// receiptsWaiting submits n messages asking for receipts from a
// transmitter of shop, waits until smppmux took every receipt (they wait
// in shop's outbox: shop has no receiver) and returns the ids given.
func receiptsWaiting(t *testing.T, c *ctlEnv, tx *esmetest.Client, acked, n int) []string {
	t.Helper()
	ids := submitN(t, tx, acked, n)
	ctx := deadline(t)
	c.waitSMSCs(t, ctx, "receipts taken", func() bool {
		return c.smscs[0].ReceiptsAcked()+c.smscs[1].ReceiptsAcked() == acked+n
	})
	return ids
}

// TestOperatorAuth: without the token, or with a wrong one, or with the
// token as a browser's Basic password for a change, every operation is
// refused with 401 and changes nothing.
func TestOperatorAuth(t *testing.T) {
	t.Parallel()
	c := startControl(t)
	shop := c.dial(t, "shop", "secret", pdu.BindTransmitter, 10)
	ops := []struct{ method, path, body string }{
		{"POST", "/api/v1/upstreams/a/stop", ""},
		{"POST", "/api/v1/upstreams/a/start", ""},
		{"POST", "/api/v1/clients/shop/kick", ""},
		{"POST", "/api/v1/clients/shop/suspend", ""},
		{"POST", "/api/v1/clients/shop/resume", ""},
		{"GET", "/api/v1/log-level", ""},
		{"PUT", "/api/v1/log-level", `{"level": "debug"}`},
		{"GET", "/api/v1/clients/shop/outbox", ""},
		{"DELETE", "/api/v1/clients/shop/outbox", ""},
		{"DELETE", "/api/v1/clients/shop/outbox/1", ""},
		{"GET", "/api/v1/clients/shop/messages/1", ""},
		{"GET", "/api/v1/deadletters/shop", ""},
		{"POST", "/api/v1/deadletters/shop/retry", ""},
		{"DELETE", "/api/v1/deadletters/shop", ""},
		{"GET", "/api/v1/status", ""},
	}
	for _, op := range ops {
		for _, token := range []string{"", "s3cre", "s3cret2", "S3CRET"} {
			if code, body := c.callAs(t, token, op.method, op.path, op.body); code != http.StatusUnauthorized {
				t.Errorf("%s %s with token %q: %d %s, want 401", op.method, op.path, token, code, body)
			}
		}
		if op.method == "GET" {
			continue
		}
		req, err := http.NewRequest(op.method, "http://"+c.d.AdminAddr().String()+op.path, strings.NewReader(op.body))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("admin", "s3cret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s with the token as a Basic password: %d, want 401", op.method, op.path, resp.StatusCode)
		}
	}
	if !c.d.Upstream("a").Running() || c.level.Level() != zapcore.InfoLevel || len(c.control(t).SuspendedClients) != 0 {
		t.Fatal("a refused request changed something")
	}
	select {
	case <-shop.Done():
		t.Fatal("a refused request closed shop's session")
	default:
	}
	if r, err := shop.Submit(deadline(t), plainBody(0)); err != nil || r.Status != pdu.StatusOK {
		t.Fatalf("submit: %v %v", r.Status, err)
	}
}
