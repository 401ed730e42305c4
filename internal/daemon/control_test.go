package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
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
	a, b := newSMSC(t, cfgs[0]), newSMSC(t, cfgs[1])
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
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+c.d.AdminAddr().String()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
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

// TestUpstreamStopStart: a stopped upstream's binds unbind and stay down,
// through a reload that rebuilds it, while submits go to the other
// member; started, it binds again and takes traffic.
func TestUpstreamStopStart(t *testing.T) {
	t.Parallel()
	c := startControl(t)
	a, b := c.smscs[0], c.smscs[1]
	ctx := deadline(t)
	shop := c.dial(t, "shop", "secret", pdu.BindTransmitter, 10)

	for range 2 { // the second stop changes nothing and says so with 204 too
		if code, body := c.call(t, "POST", "/api/v1/upstreams/a/stop", ""); code != http.StatusNoContent {
			t.Fatalf("stop a: %d %s", code, body)
		}
	}
	waitUntil(t, ctx, "a's binds gone from the SMSC", func() bool { return a.Binds() == 0 })
	if c.d.Upstream("a").Running() {
		t.Fatal("a runs after stop")
	}
	if n := metricSum(t, c.d, "smppmux_upstream_bind_losses_total"); n != 0 {
		t.Fatalf("%v bind losses counted for a stop", n)
	}
	if got := c.control(t).StoppedUpstreams; !slices.Equal(got, []string{"a"}) {
		t.Fatalf("stopped upstreams %q, want [a]", got)
	}
	check := func(when string) {
		t.Helper()
		before := b.Accepted()
		for i, r := range submitAll(t, shop, 20, plainBody) {
			if r.Status != pdu.StatusOK {
				t.Fatalf("%s: submit %d: 0x%08x", when, i, uint32(r.Status))
			}
		}
		if a.Received() != 0 || b.Accepted()-before != 20 {
			t.Fatalf("%s: a got %d, b %d of 20", when, a.Received(), b.Accepted()-before)
		}
	}
	check("stopped")

	old := c.d.Upstream("a")
	c.reload(t, "window: 10", "window: 20")
	if c.d.Upstream("a") == old {
		t.Fatal("the reload kept a: it does not test a rebuilt upstream")
	}
	if c.d.Upstream("a").Running() || a.Binds() != 0 {
		t.Fatalf("after a reload, a runs (%v) with %d binds: want it stopped", c.d.Upstream("a").Running(), a.Binds())
	}
	check("stopped, reloaded")

	if code, body := c.call(t, "POST", "/api/v1/upstreams/a/start", ""); code != http.StatusNoContent {
		t.Fatalf("start a: %d %s", code, body)
	}
	if err := a.WaitBinds(ctx, 2); err != nil {
		t.Fatalf("a did not bind again: %v", err)
	}
	waitUntil(t, ctx, "a healthy", c.d.Upstream("a").Healthy)
	for a.Accepted() == 0 {
		if ctx.Err() != nil {
			t.Fatal("a took no traffic after start")
		}
		if r, err := shop.Submit(ctx, plainBody(0)); err != nil || r.Status != pdu.StatusOK {
			t.Fatalf("submit: %v %v", r.Status, err)
		}
	}
	if got := c.control(t).StoppedUpstreams; len(got) != 0 {
		t.Fatalf("stopped upstreams %q after start, want none", got)
	}

	for _, path := range []string{"/api/v1/upstreams/zz/stop", "/api/v1/upstreams/zz/start"} {
		if code, body := c.call(t, "POST", path, ""); code != http.StatusNotFound || !strings.Contains(body, `"zz"`) {
			t.Errorf("POST %s: %d %s, want 404 naming it", path, code, body)
		}
	}
	if code, _ := c.call(t, "GET", "/api/v1/upstreams/a/stop", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("GET of stop: %d, want 405", code)
	}
}

// TestKickClient: every session of a kicked client is unbound, closed
// with reason kicked, and logged with the operator's reason; other
// clients keep theirs, and the client may bind again at once.
func TestKickClient(t *testing.T) {
	t.Parallel()
	c := startControl(t)
	shop1 := c.dial(t, "shop", "secret", pdu.BindTransceiver, 10)
	shop2 := c.dial(t, "shop", "secret", pdu.BindTransmitter, 10)
	bank := c.dial(t, "bank", "secret2", pdu.BindTransmitter, 10)

	var res map[string]int
	c.callJSON(t, "POST", "/api/v1/clients/shop/kick?reason=flooding+us", "", http.StatusOK, &res)
	if res["closed"] != 2 {
		t.Fatalf("kick answered %v, want closed 2", res)
	}
	for i, s := range []*esmetest.Client{shop1, shop2} {
		if err := ended(t, s); err != esmetest.ErrUnbound {
			t.Errorf("shop session %d ended with %v, want an unbind from smppmux", i, err)
		}
	}
	// The closes are counted once logged; the client may see its
	// connection end a moment before.
	waitUntil(t, deadline(t), "2 sessions closed", func() bool {
		return metricSum(t, c.d, "smppmux_client_sessions_closed_total") == 2
	})
	if v, _ := seriesValue(families(t, c.d.opts.Registry), "smppmux_client_sessions_closed_total", "reason=kicked"); v != 2 {
		t.Errorf("sessions closed for kicked: %v, want 2", v)
	}
	var kicked, closed int
	for _, e := range c.logs.All() {
		f := e.ContextMap()
		switch {
		case e.Message == "session kicked by an operator" && f["why"] == "flooding us" && f["system_id"] == "shop":
			kicked++
		case e.Message == "session closed" && f["reason"] == "kicked" && f["system_id"] == "shop":
			closed++
		}
	}
	if kicked != 2 || closed != 2 {
		t.Errorf("log: %d kick lines with the reason, %d closes with reason kicked, want 2 each", kicked, closed)
	}
	if r, err := bank.Submit(deadline(t), plainBody(0)); err != nil || r.Status != pdu.StatusOK {
		t.Fatalf("bank's session after shop's kick: %v %v", r.Status, err)
	}
	again := c.dial(t, "shop", "secret", pdu.BindTransmitter, 10)
	if r, err := again.Submit(deadline(t), plainBody(1)); err != nil || r.Status != pdu.StatusOK {
		t.Fatalf("shop bound again after the kick: %v %v", r.Status, err)
	}
	c.callJSON(t, "POST", "/api/v1/clients/bank/kick", "", http.StatusOK, &res)
	if res["closed"] != 1 || ended(t, bank) != esmetest.ErrUnbound {
		t.Fatalf("kick without a reason: %v", res)
	}

	for _, tc := range []struct {
		path string
		code int
	}{
		{"/api/v1/clients/nobody/kick", http.StatusNotFound},
		{"/api/v1/clients/shop/kick?reason=" + strings.Repeat("x", 201), http.StatusBadRequest},
		{"/api/v1/clients/shop/kick?reason=a%0Ab", http.StatusBadRequest},
	} {
		if code, body := c.call(t, "POST", tc.path, ""); code != tc.code {
			t.Errorf("POST %s: %d %s, want %d", tc.path, code, body, tc.code)
		}
	}
	select {
	case <-again.Done():
		t.Fatal("a refused kick closed the session")
	default:
	}
}

// TestSuspendResume: a suspended client's sessions are unbound and its
// binds refused with ESME_RBINDFAIL, through a reload, while other
// clients bind; resumed, it binds again.
func TestSuspendResume(t *testing.T) {
	t.Parallel()
	c := startControl(t)
	ctx := deadline(t)
	addr := c.d.Addr().String()
	shop := c.dial(t, "shop", "secret", pdu.BindTransceiver, 10)

	var res map[string]int
	c.callJSON(t, "POST", "/api/v1/clients/shop/suspend", "", http.StatusOK, &res)
	if res["closed"] != 1 {
		t.Fatalf("suspend answered %v, want closed 1", res)
	}
	if err := ended(t, shop); err != esmetest.ErrUnbound {
		t.Fatalf("shop's session ended with %v, want an unbind from smppmux", err)
	}
	waitUntil(t, ctx, "the session's close counted", func() bool {
		return metricSum(t, c.d, "smppmux_client_sessions_closed_total") == 1
	})
	if v, _ := seriesValue(families(t, c.d.opts.Registry), "smppmux_client_sessions_closed_total", "reason=suspended"); v != 1 {
		t.Errorf("sessions closed for suspended: %v, want 1", v)
	}
	refused := func(when string) {
		t.Helper()
		for _, bind := range []pdu.ID{pdu.BindTransmitter, pdu.BindReceiver, pdu.BindTransceiver} {
			cl, st, err := esmetest.DialStatus(ctx, esmetest.Config{Addr: addr, SystemID: "shop", Password: "secret", Bind: bind})
			if err != nil {
				t.Fatal(err)
			}
			if cl != nil {
				cl.Close()
			}
			if st != pdu.StatusBindFail {
				t.Fatalf("%s: %v of shop answered 0x%08x, want ESME_RBINDFAIL", when, bind, uint32(st))
			}
		}
	}
	refused("suspended")
	// The wrong password is refused as such: a suspension tells nothing
	// to someone without the credentials.
	if _, st := dialStatus(t, ctx, addr, "shop", "wrong"); st != pdu.StatusInvPaswd {
		t.Fatalf("wrong password of a suspended client: 0x%08x, want ESME_RINVPASWD", uint32(st))
	}
	if v, _ := seriesValue(families(t, c.d.opts.Registry), "smppmux_client_bind_failures_total",
		"client=shop", "status=0x0000000d", "reason=suspended"); v != 3 {
		t.Errorf("binds refused for suspended: %v, want 3", v)
	}
	bank := c.dial(t, "bank", "secret2", pdu.BindTransmitter, 10)
	if r, err := bank.Submit(ctx, plainBody(0)); err != nil || r.Status != pdu.StatusOK {
		t.Fatalf("bank while shop is suspended: %v %v", r.Status, err)
	}
	ctl := c.control(t)
	if !slices.Equal(ctl.SuspendedClients, []string{"shop"}) ||
		!slices.Contains(ctl.Clients, admin.ClientState{SystemID: "shop", Suspended: true}) ||
		!slices.Contains(ctl.Clients, admin.ClientState{SystemID: "bank", Sessions: 1}) {
		t.Fatalf("control %+v, want shop suspended without sessions, bank with one", ctl)
	}

	c.reload(t, "{system_id: shop, password: secret, window: 50}", "{system_id: shop, password: secret, window: 60}")
	refused("suspended, reloaded")
	c.callJSON(t, "POST", "/api/v1/clients/shop/suspend", "", http.StatusOK, &res)
	if res["closed"] != 0 {
		t.Fatalf("suspend again answered %v, want closed 0", res)
	}

	for range 2 { // the second resume changes nothing and says so with 204 too
		if code, body := c.call(t, "POST", "/api/v1/clients/shop/resume", ""); code != http.StatusNoContent {
			t.Fatalf("resume: %d %s", code, body)
		}
	}
	again := c.dial(t, "shop", "secret", pdu.BindTransceiver, 10)
	if r, err := again.Submit(ctx, plainBody(1)); err != nil || r.Status != pdu.StatusOK {
		t.Fatalf("shop resumed: %v %v", r.Status, err)
	}
	if got := c.control(t).SuspendedClients; len(got) != 0 {
		t.Fatalf("suspended %q after resume, want none", got)
	}
	for _, path := range []string{"/api/v1/clients/nobody/suspend", "/api/v1/clients/nobody/resume"} {
		if code, body := c.call(t, "POST", path, ""); code != http.StatusNotFound {
			t.Errorf("POST %s: %d %s, want 404", path, code, body)
		}
	}
}

// TestLogLevelAtRunTime: the level set through the API decides what is
// logged from then on; a level that does not exist is refused.
func TestLogLevelAtRunTime(t *testing.T) {
	t.Parallel()
	c := startControl(t)
	ctx := deadline(t)
	var lv map[string]string
	c.callJSON(t, "GET", "/api/v1/log-level", "", http.StatusOK, &lv)
	if lv["level"] != "info" {
		t.Fatalf("level %v, want info", lv)
	}
	// A connection closed before its bind is logged at debug; the closes
	// are counted once logged.
	unbound := func() {
		t.Helper()
		before := metricSum(t, c.d, "smppmux_client_sessions_closed_total")
		conn, err := net.Dial("tcp", c.d.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
		waitUntil(t, ctx, "the connection's close counted", func() bool {
			return metricSum(t, c.d, "smppmux_client_sessions_closed_total") > before
		})
	}
	debugLines := func() int { return c.logs.FilterMessage("connection closed before bind").Len() }
	unbound()
	if n := debugLines(); n != 0 {
		t.Fatalf("%d debug lines at level info", n)
	}

	c.callJSON(t, "PUT", "/api/v1/log-level", `{"level": "debug"}`, http.StatusOK, &lv)
	if lv["level"] != "debug" || c.level.Level() != zapcore.DebugLevel {
		t.Fatalf("after PUT debug: %v, logger at %v", lv, c.level.Level())
	}
	unbound()
	if n := debugLines(); n != 1 {
		t.Fatalf("%d debug lines at level debug, want 1", n)
	}
	if c.control(t).LogLevel != "debug" {
		t.Fatal("the status does not show the level set")
	}

	c.callJSON(t, "PUT", "/api/v1/log-level", `{"level": "warn"}`, http.StatusOK, &lv)
	infos := c.logs.FilterLevelExact(zapcore.InfoLevel).Len()
	closes := metricSum(t, c.d, "smppmux_client_sessions_closed_total")
	kept := c.dial(t, "shop", "secret", pdu.BindTransmitter, 10) // "client bound" and "session closed" at info
	kept.Unbind(ctx)
	unbound()
	waitUntil(t, ctx, "both closes counted", func() bool {
		return metricSum(t, c.d, "smppmux_client_sessions_closed_total") == closes+2
	})
	if n := c.logs.FilterLevelExact(zapcore.InfoLevel).Len(); n != infos || debugLines() != 1 {
		t.Fatalf("at warn: %d new info lines, %d debug lines, want none new", n-infos, debugLines()-1)
	}

	for _, body := range []string{`{"level": "verbose"}`, `{"level": "fatal"}`, `{"level": ""}`, `{"lvl": "info"}`, `debug`, ``} {
		if code, b := c.call(t, "PUT", "/api/v1/log-level", body); code != http.StatusBadRequest {
			t.Errorf("PUT %q: %d %s, want 400", body, code, b)
		}
	}
	if c.level.Level() != zapcore.WarnLevel {
		t.Fatalf("refused levels changed it to %v", c.level.Level())
	}
	// A reload that changes log.level sets it; one that does not keeps
	// the level set through the API.
	c.reload(t, "window: 10", "window: 20")
	if c.level.Level() != zapcore.WarnLevel {
		t.Fatalf("a reload without log.level changed the level to %v", c.level.Level())
	}
}

// receiptsWaiting submits n messages asking for receipts from a
// transmitter of shop, waits until smppmux took every receipt (they wait
// in shop's outbox: shop has no receiver) and returns the ids given.
func receiptsWaiting(t *testing.T, c *ctlEnv, tx *esmetest.Client, acked, n int) []string {
	t.Helper()
	ids := submitN(t, tx, acked, n)
	ctx := deadline(t)
	waitUntil(t, ctx, "receipts taken", func() bool {
		return c.smscs[0].ReceiptsAcked()+c.smscs[1].ReceiptsAcked() == acked+n
	})
	return ids
}

// TestOutboxListAndPurge: the outbox lists the receipts waiting for a
// client, their text only at debug; purged, one or all, they are never
// delivered.
func TestOutboxListAndPurge(t *testing.T) {
	t.Parallel()
	c := startControl(t)
	ctx := deadline(t)
	tx := c.dial(t, "shop", "secret", pdu.BindTransmitter, 10)
	ids := receiptsWaiting(t, c, tx, 0, 4)

	var ob admin.Outbox
	c.callJSON(t, "GET", "/api/v1/clients/shop/outbox", "", http.StatusOK, &ob)
	if ob.SystemID != "shop" || ob.Depth != 4 || len(ob.Items) != 4 || ob.OldestAgeSeconds < 0 {
		t.Fatalf("outbox %+v, want 4 receipts", ob)
	}
	for i, it := range ob.Items {
		if !it.Receipt || it.Command != "deliver_sm" || it.MessageID != ids[i] || it.State != "DELIVRD" ||
			it.Source != destination(i) || it.Destination != "Shop" || it.Text != "" || it.Arrived.IsZero() || it.Seq == 0 {
			t.Errorf("item %d: %+v, want the receipt of %s without its text", i, it, ids[i])
		}
	}
	seqs := make([]uint64, len(ob.Items))
	for i, it := range ob.Items {
		seqs[i] = it.Seq
	}
	var page admin.Outbox
	c.callJSON(t, "GET", fmt.Sprintf("/api/v1/clients/shop/outbox?after=%d&limit=2", seqs[0]), "", http.StatusOK, &page)
	if len(page.Items) != 2 || page.Items[0].Seq != seqs[1] || page.Items[1].Seq != seqs[2] || page.Depth != 4 {
		t.Fatalf("page after the first, 2 items: %+v", page)
	}
	c.level.SetLevel(zapcore.DebugLevel)
	c.callJSON(t, "GET", "/api/v1/clients/shop/outbox?limit=1", "", http.StatusOK, &page)
	if len(page.Items) != 1 || !strings.Contains(page.Items[0].Text, "id:") || !strings.Contains(page.Items[0].Text, "stat:DELIVRD") {
		t.Fatalf("at debug, the item's text is %q, want the receipt's", page.Items[0].Text)
	}
	c.level.SetLevel(zapcore.InfoLevel)

	one := fmt.Sprintf("/api/v1/clients/shop/outbox/%d", seqs[1])
	var res map[string]int
	c.callJSON(t, "DELETE", one, "", http.StatusOK, &res)
	if res["purged"] != 1 {
		t.Fatalf("purge of one: %v", res)
	}
	if code, body := c.call(t, "DELETE", one, ""); code != http.StatusNotFound {
		t.Fatalf("purge of one already purged: %d %s, want 404", code, body)
	}
	c.callJSON(t, "GET", "/api/v1/clients/shop/outbox", "", http.StatusOK, &ob)
	if ob.Depth != 3 || len(ob.Items) != 3 || ob.Items[1].Seq != seqs[2] {
		t.Fatalf("after the purge of the second: %+v", ob)
	}
	c.callJSON(t, "DELETE", "/api/v1/clients/shop/outbox", "", http.StatusOK, &res)
	if res["purged"] != 3 {
		t.Fatalf("purge of all: %v, want 3", res)
	}
	c.callJSON(t, "GET", "/api/v1/clients/shop/outbox", "", http.StatusOK, &ob)
	if ob.Depth != 0 || len(ob.Items) != 0 || ob.OldestAgeSeconds != 0 {
		t.Fatalf("after the purge of all: %+v", ob)
	}

	// One more receipt waits behind where the purged ones were: it is the
	// first the client gets, and the outbox is empty after it.
	last := receiptsWaiting(t, c, tx, 4, 1)[0]
	rx := c.dial(t, "shop", "secret", pdu.BindReceiver, 10)
	select {
	case d := <-rx.Deliveries():
		if d.ReceiptID != last {
			t.Fatalf("first receipt delivered after the purge is %s's, want %s's (the purged were %q)", d.ReceiptID, last, ids)
		}
	case <-ctx.Done():
		t.Fatal("the receipt after the purge never came")
	}
	waitUntil(t, ctx, "the outbox empty", func() bool {
		c.callJSON(t, "GET", "/api/v1/clients/shop/outbox", "", http.StatusOK, &ob)
		return ob.Depth == 0
	})

	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/api/v1/clients/nobody/outbox", http.StatusNotFound},
		{"DELETE", "/api/v1/clients/nobody/outbox", http.StatusNotFound},
		{"DELETE", "/api/v1/clients/shop/outbox/x", http.StatusBadRequest},
		{"DELETE", "/api/v1/clients/shop/outbox/0", http.StatusBadRequest},
		{"GET", "/api/v1/clients/shop/outbox?limit=0", http.StatusBadRequest},
		{"GET", "/api/v1/clients/shop/outbox?limit=10001", http.StatusBadRequest},
		{"GET", "/api/v1/clients/shop/outbox?after=-1", http.StatusBadRequest},
	} {
		if code, body := c.call(t, tc.method, tc.path, ""); code != tc.code {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, code, body, tc.code)
		}
	}
}

// TestMessageLookup: a message is found by the id its client was given:
// its upstream, the SMSC's id, the session its receipts go to and when it
// was submitted while its receipt is owed; its receipt while it waits in
// the outbox; nothing once the receipt was delivered.
func TestMessageLookup(t *testing.T) {
	t.Parallel()
	noReceipt := func(r *smsctest.SubmitRequest) smsctest.Reply {
		return smsctest.Reply{NoReceipt: r.SM != nil && string(r.SM.DestAddr) == destination(0)}
	}
	c := startControl(t, smsctest.Config{Submit: noReceipt}, smsctest.Config{Submit: noReceipt})
	ctx := deadline(t)
	tx := c.dial(t, "shop", "secret", pdu.BindTransmitter, 10)
	before := time.Now()
	ids := submitN(t, tx, 0, 2)
	after := time.Now()
	waitUntil(t, ctx, "the receipt taken", func() bool {
		return c.smscs[0].ReceiptsAcked()+c.smscs[1].ReceiptsAcked() == 1
	})
	// Where the first went, with the SMSC's id.
	var upstream, upstreamID string
	for i, s := range c.smscs {
		for _, r := range s.Records() {
			var sm pdu.SM
			if err := pdu.ParseSM(r.Body, &sm); err != nil {
				t.Fatal(err)
			}
			if string(sm.DestAddr) == destination(0) {
				upstream, upstreamID = []string{"a", "b"}[i], r.MessageID
			}
		}
	}
	var sessionID uint64
	for _, s := range c.d.Server.Sessions() {
		sessionID = s.ID()
	}

	var m admin.Message
	c.callJSON(t, "GET", "/api/v1/clients/shop/messages/"+ids[0], "", http.StatusOK, &m)
	if m.SystemID != "shop" || m.MessageID != ids[0] || m.State != "awaiting_receipt" ||
		m.Upstream != upstream || m.UpstreamID != upstreamID || m.UpstreamID == "" ||
		m.Session != sessionID || !m.SessionBound ||
		m.Submitted.Before(before.Add(-time.Millisecond)) || m.Submitted.After(after) ||
		!m.Expires.After(m.Submitted) || len(m.Receipts) != 0 {
		t.Fatalf("message %+v\nwant shop's %s awaiting its receipt, at %s as %q, on session %d, submitted in [%v, %v]",
			m, ids[0], upstream, upstreamID, sessionID, before, after)
	}

	c.callJSON(t, "GET", "/api/v1/clients/shop/messages/"+ids[1], "", http.StatusOK, &m)
	if m.MessageID != ids[1] || len(m.Receipts) != 1 || m.Receipts[0].Where != "outbox" ||
		m.Receipts[0].State != "DELIVRD" || m.Receipts[0].Seq == 0 || m.Receipts[0].Arrived.IsZero() {
		t.Fatalf("message %+v, want its receipt in the outbox", m)
	}
	if m.State != "receipt_in_outbox" {
		t.Fatalf("message state %q, want receipt_in_outbox", m.State)
	}

	// Delivered, its receipt is owed no more.
	rx := c.dial(t, "shop", "secret", pdu.BindReceiver, 10)
	select {
	case d := <-rx.Deliveries():
		if d.ReceiptID != ids[1] {
			t.Fatalf("receipt of %s, want %s's", d.ReceiptID, ids[1])
		}
	case <-ctx.Done():
		t.Fatal("the receipt never came")
	}
	waitUntil(t, ctx, "the delivered message unknown", func() bool {
		code, _ := c.call(t, "GET", "/api/v1/clients/shop/messages/"+ids[1], "")
		return code == http.StatusNotFound
	})
	// Once its session is gone, the mapping says so.
	tx.Unbind(ctx)
	waitUntil(t, ctx, "the session gone", func() bool {
		c.callJSON(t, "GET", "/api/v1/clients/shop/messages/"+ids[0], "", http.StatusOK, &m)
		return !m.SessionBound
	})

	for _, path := range []string{
		"/api/v1/clients/shop/messages/nosuchid",
		"/api/v1/clients/bank/messages/" + ids[0], // another client's
		"/api/v1/clients/nobody/messages/" + ids[0],
	} {
		if code, body := c.call(t, "GET", path, ""); code != http.StatusNotFound {
			t.Errorf("GET %s: %d %s, want 404", path, code, body)
		}
	}
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

// TestDeadLetterOperations: a receipt the client refuses for good is a
// dead letter, listed, and its message says so; retried, it reaches the
// client; purged, it never does.
func TestDeadLetterOperations(t *testing.T) {
	t.Parallel()
	c := startControl(t)
	ctx := deadline(t)
	var mu sync.Mutex
	refusing := true
	tx, j := c.dialJudging(t, func(_ int, sm *pdu.SM) pdu.Status {
		mu.Lock()
		defer mu.Unlock()
		if refusing && string(sm.SourceAddr) == destination(0) {
			return 0x65 // ESME_RX_P_APPN: a dead letter at once
		}
		return pdu.StatusOK
	})
	call := adminClient(t, c.env)
	ids := submitN(t, tx, 0, 2)
	dead := waitDeadLetters(t, call, 1)
	if dead[0].MessageID != ids[0] || dead[0].Reason != "never" {
		t.Fatalf("dead letter %+v, want the receipt of %s", dead[0], ids[0])
	}
	var m admin.Message
	c.callJSON(t, "GET", "/api/v1/clients/shop/messages/"+ids[0], "", http.StatusOK, &m)
	if m.State != "receipt_dead_letter" || len(m.Receipts) != 1 || m.Receipts[0].Where != "dead_letter" ||
		m.Receipts[0].Seq != dead[0].Seq || m.Receipts[0].State != "DELIVRD" {
		t.Fatalf("message %+v, want its receipt among the dead letters", m)
	}

	mu.Lock()
	refusing = false
	mu.Unlock()
	var res map[string]int
	c.callJSON(t, "POST", "/api/v1/deadletters/shop/retry", "", http.StatusOK, &res)
	if res["requeued"] != 1 {
		t.Fatalf("retry: %v", res)
	}
	if !j.waitFor(ctx, func(j *judged) bool { return j.accepted[ids[0]] == 1 }) {
		t.Fatal("the retried dead letter never reached the client")
	}
	waitDeadLetters(t, call, 0)

	mu.Lock()
	refusing = true
	mu.Unlock()
	again := submitN(t, tx, 0, 1)[0]
	dead = waitDeadLetters(t, call, 1)
	one := fmt.Sprintf("/api/v1/deadletters/shop/%d", dead[0].Seq)
	c.callJSON(t, "DELETE", one, "", http.StatusOK, &res)
	if res["purged"] != 1 {
		t.Fatalf("purge: %v", res)
	}
	if code, _ := c.call(t, "DELETE", one, ""); code != http.StatusNotFound {
		t.Fatalf("purge again: %d, want 404", code)
	}
	waitDeadLetters(t, call, 0)
	if code, body := c.call(t, "GET", "/api/v1/clients/shop/messages/"+again, ""); code != http.StatusNotFound {
		t.Fatalf("message of a purged dead letter: %d %s, want 404", code, body)
	}
	c.callJSON(t, "DELETE", "/api/v1/deadletters/shop", "", http.StatusOK, &res)
	if res["purged"] != 0 {
		t.Fatalf("purge of none: %v", res)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.accepted[again] != 0 || j.refused[destination(0)] != 2 {
		t.Fatalf("the purged receipt: accepted %d times; refusals %v", j.accepted[again], j.refused)
	}
}

// TestUpstreamStopUnderLoad: the submits under way on an upstream being
// stopped get their answers, and those after go to the other member:
// every message is accepted once.
func TestUpstreamStopUnderLoad(t *testing.T) {
	t.Parallel()
	slow := func(*smsctest.SubmitRequest) smsctest.Reply { return smsctest.Reply{Delay: 200 * time.Millisecond} }
	c := startControl(t, smsctest.Config{Submit: slow})
	a, b := c.smscs[0], c.smscs[1]
	ctx := deadline(t)
	shop := c.dial(t, "shop", "secret", pdu.BindTransmitter, 50)
	const n = 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[pdu.Status]int{}
	for i := range n {
		wg.Add(1)
		err := shop.SubmitAsync(plainBody(i), func(r esmetest.Resp, err error) {
			defer wg.Done()
			if err != nil {
				t.Errorf("submit %d: %v", i, err)
				return
			}
			mu.Lock()
			statuses[r.Status]++
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		if i == 20 {
			waitUntil(t, ctx, "submits under way at a", func() bool { return a.Received() > 0 })
			if code, body := c.call(t, "POST", "/api/v1/upstreams/a/stop", ""); code != http.StatusNoContent {
				t.Fatalf("stop a: %d %s", code, body)
			}
		}
	}
	wg.Wait()
	if statuses[pdu.StatusOK] != n || a.Received() == 0 || a.Accepted()+b.Accepted() != n || a.Accepted() != a.Received() {
		t.Fatalf("statuses %v; a received %d, accepted %d; b accepted %d: want all %d accepted once, a's answered",
			statuses, a.Received(), a.Accepted(), b.Accepted(), n)
	}
}
