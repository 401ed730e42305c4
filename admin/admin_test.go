package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/smppmux/smppmux/internal/ratelog"
	"github.com/smppmux/smppmux/metrics"
)

// fakeController records actions and answers from its fields.
type fakeController struct {
	mu        sync.Mutex
	snap      metrics.Snapshot
	members   map[string]bool // "group/upstream" that exist
	refuse    error           // returned by Drain and Undrain for known members
	reloadErr error
	calls     []string
	dead      map[string][]DeadLetter // configured clients' dead letters
}

func (f *fakeController) Snapshot() metrics.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap
}

func (f *fakeController) act(action, group, upstream string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, action+" "+group+"/"+upstream)
	if !f.members[group+"/"+upstream] {
		return fmt.Errorf("%w: member %s of group %s", ErrNotFound, upstream, group)
	}
	return f.refuse
}

func (f *fakeController) Drain(group, upstream string) error {
	return f.act("drain", group, upstream)
}

func (f *fakeController) Undrain(group, upstream string) error {
	return f.act("undrain", group, upstream)
}

func (f *fakeController) Reload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "reload")
	return f.reloadErr
}

func (f *fakeController) DeadLetterCounts() ([]metrics.DeadLetterInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []metrics.DeadLetterInfo
	for client, l := range f.dead {
		out = append(out, metrics.DeadLetterInfo{SystemID: client, Count: len(l)})
	}
	return out, nil
}

func (f *fakeController) DeadLetters(client string, after uint64, limit int) ([]DeadLetter, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("list %s after %d limit %d", client, after, limit))
	l, ok := f.dead[client]
	if !ok {
		return nil, fmt.Errorf("%w: client %q", ErrNoDeadLetter, client)
	}
	var out []DeadLetter
	for _, d := range l {
		if d.Seq > after && len(out) < limit {
			out = append(out, d)
		}
	}
	return out, nil
}

func (f *fakeController) PurgeDeadLetters(client string, seq uint64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("purge %s %d", client, seq))
	l, ok := f.dead[client]
	if !ok {
		return 0, fmt.Errorf("%w: client %q", ErrNoDeadLetter, client)
	}
	var keep []DeadLetter
	for _, d := range l {
		if seq != 0 && d.Seq != seq {
			keep = append(keep, d)
		}
	}
	if n := len(l) - len(keep); n > 0 || seq == 0 {
		f.dead[client] = keep
		return n, nil
	}
	return 0, fmt.Errorf("%w: dead letter %d", ErrNoDeadLetter, seq)
}

func (f *fakeController) RetryDeadLetters(client string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "retry "+client)
	l, ok := f.dead[client]
	if !ok {
		return 0, fmt.Errorf("%w: client %q", ErrNoDeadLetter, client)
	}
	f.dead[client] = nil
	return len(l), nil
}

func (f *fakeController) recorded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func newFake() *fakeController {
	return &fakeController{
		snap: metrics.Snapshot{
			Sessions: []metrics.SessionInfo{{ID: 7, SystemID: "shop", BindType: "transceiver", Remote: "10.0.0.1:4000", Inflight: 2}},
			Binds: []metrics.BindInfo{
				{Upstream: "carrier-a", Index: 0, BindType: "transceiver", State: "bound", LocalAddr: "10.1.0.1:5000", WindowUsed: 2, Window: 50},
				{Upstream: "carrier-b", Index: 0, BindType: "transceiver", State: "dialing", Window: 50},
			},
			Upstreams: []metrics.UpstreamInfo{{Name: "carrier-a", PaceTPS: 900, Throttled: 7}, {Name: "carrier-b"}},
			Groups: []metrics.GroupInfo{{Name: "main", Mode: "active-active", Members: []metrics.MemberInfo{
				{Upstream: "carrier-a", Weight: 3, EffectiveWeight: 3, Healthy: true, Breaker: "closed"},
				{Upstream: "carrier-b", Weight: 1, EffectiveWeight: 0, Healthy: false, Breaker: "open"},
			}, Available: true}, {Name: "backup", Mode: "active-standby", Members: []metrics.MemberInfo{
				{Upstream: "carrier-b", Weight: 1, Healthy: false, Breaker: "open"},
			}, Available: true}},
			Outboxes: []metrics.OutboxInfo{{SystemID: "shop", Depth: 3, OldestAge: 2 * time.Second}},
			Ready:    true,

			DeadLetters: []metrics.DeadLetterInfo{{SystemID: "shop", Count: 2}},
			ClientCloses: []metrics.ClientCloseInfo{{SystemID: "shop", LastReason: "slow_consumer_pending",
				LastAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Counts: map[string]uint64{"unbind": 4, "slow_consumer_pending": 1}}},
			Lifecycle: metrics.LifecycleInfo{Running: 2, Timers: 5, Panics: 1},
		},
		members: map[string]bool{"main/carrier-a": true, "main/carrier-b": true},
	}
}

// serve starts an admin server over ctl with cfg's other settings.
func serve(t *testing.T, ctl Controller, cfg Config) *httptest.Server {
	t.Helper()
	cfg.Controller = ctl
	srv := httptest.NewServer(NewHandler(cfg))
	t.Cleanup(srv.Close)
	return srv
}

// do sends a request and returns the status code and body.
func do(t *testing.T, srv *httptest.Server, method, path, token string) (int, string, http.Header) {
	t.Helper()
	var header []string
	if token != "" {
		header = []string{"Authorization", token}
	}
	return request(t, srv.URL, method, path, "", header...)
}

// request sends body (when not empty) with header's name and value pairs
// and returns the status code, the body and the headers.
func request(t *testing.T, url, method, path, body string, header ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	srv := serve(t, newFake(), Config{})
	code, body, _ := do(t, srv, "GET", "/healthz", "")
	if code != http.StatusOK || body != "ok\n" {
		t.Errorf("GET /healthz = %d %q, want 200 \"ok\\n\"", code, body)
	}
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	ctl := newFake()
	srv := serve(t, ctl, Config{})
	if code, body, _ := do(t, srv, "GET", "/readyz", ""); code != http.StatusOK {
		t.Errorf("GET /readyz ready = %d %q, want 200", code, body)
	}

	ctl.mu.Lock()
	ctl.snap.Ready = false
	ctl.mu.Unlock()
	code, body, _ := do(t, srv, "GET", "/readyz", "")
	if code != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz not ready = %d, want 503", code)
	}
	if want := "not ready: not serving (upstream binds bound: 1 of 2)\n"; body != want {
		t.Errorf("GET /readyz not ready body %q, want %q", body, want)
	}

	ctl.mu.Lock()
	ctl.snap.Groups[0].Available = false
	ctl.snap.Groups[1].Available = false
	ctl.mu.Unlock()
	_, body, _ = do(t, srv, "GET", "/readyz", "")
	if want := "not ready: no available member in group main, backup (upstream binds bound: 1 of 2)\n"; body != want {
		t.Errorf("GET /readyz with groups down: body %q, want %q", body, want)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	ctl := newFake()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, ctl)
	m.Submit("shop", "main", "carrier-a", 0, time.Millisecond)
	srv := serve(t, ctl, Config{Gatherer: reg})

	code, body, hdr := do(t, srv, "GET", "/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics = %d %q", code, body)
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("GET /metrics Content-Type %q", ct)
	}
	for _, want := range []string{
		`smppmux_submits_total{client="shop",group="main",status="0x00000000",upstream="carrier-a"} 1`,
		`smppmux_upstream_binds{state="bound",upstream="carrier-a"} 1`,
		`smppmux_breaker_state{group="main",state="open",upstream="carrier-b"} 1`,
		`smppmux_ready 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /metrics lacks %s", want)
		}
	}
}

func TestMetricsWithoutGatherer(t *testing.T) {
	t.Parallel()
	srv := serve(t, newFake(), Config{})
	if code, _, _ := do(t, srv, "GET", "/metrics", ""); code != http.StatusNotFound {
		t.Errorf("GET /metrics without a Gatherer = %d, want 404", code)
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	ctl := newFake()
	srv := serve(t, ctl, Config{})
	code, body, hdr := do(t, srv, "GET", "/api/v1/status", "")
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1/status = %d %q", code, body)
	}
	if ct := hdr.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var got metrics.Snapshot
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("status is not JSON: %v\n%s", err, body)
	}
	if want := ctl.Snapshot(); !reflect.DeepEqual(got, want) {
		t.Errorf("status\n got %+v\nwant %+v", got, want)
	}
	for _, key := range []string{`"system_id": "shop"`, `"effective_weight": 3`, `"breaker": "open"`, `"oldest_age_seconds": 2`, `"window_used": 2`, `"pace_tps": 900`, `"last_reason": "slow_consumer_pending"`, `"panics": 1`} {
		if !strings.Contains(body, key) {
			t.Errorf("status lacks %s:\n%s", key, body)
		}
	}
}

func TestStatusEmptyListsAreArrays(t *testing.T) {
	t.Parallel()
	ctl := &fakeController{snap: metrics.Snapshot{Groups: []metrics.GroupInfo{{Name: "main"}}}}
	srv := serve(t, ctl, Config{})
	_, body, _ := do(t, srv, "GET", "/api/v1/status", "")
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"sessions", "binds", "outboxes", "dead_letters"} {
		if string(raw[key]) != "[]" {
			t.Errorf("%s = %s, want []", key, raw[key])
		}
	}
	if !strings.Contains(body, `"members": []`) {
		t.Errorf("members of an empty group not []:\n%s", body)
	}
	if strings.Contains(body, "null") {
		t.Errorf("status has null:\n%s", body)
	}
}

func TestDrainUndrain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		path     string
		refuse   error
		wantCode int
		wantBody string
		wantCall string
	}{
		{"drain", "/api/v1/groups/main/members/carrier-a/drain", nil, http.StatusNoContent, "", "drain main/carrier-a"},
		{"undrain", "/api/v1/groups/main/members/carrier-b/undrain", nil, http.StatusNoContent, "", "undrain main/carrier-b"},
		{"unknown group", "/api/v1/groups/nope/members/carrier-a/drain", nil, http.StatusNotFound,
			"no such group or member: member carrier-a of group nope\n", "drain nope/carrier-a"},
		{"unknown member", "/api/v1/groups/main/members/carrier-z/undrain", nil, http.StatusNotFound,
			"no such group or member: member carrier-z of group main\n", "undrain main/carrier-z"},
		{"refused", "/api/v1/groups/main/members/carrier-a/drain", errors.New("last healthy member of main"), http.StatusConflict,
			"last healthy member of main\n", "drain main/carrier-a"},
		{"escaped names", "/api/v1/groups/main%20eu/members/carrier%2Fa/drain", nil, http.StatusNotFound,
			"no such group or member: member carrier/a of group main eu\n", "drain main eu/carrier/a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctl := newFake()
			ctl.refuse = tt.refuse
			core, logs := observer.New(zap.DebugLevel)
			srv := serve(t, ctl, Config{Logger: zap.New(core)})

			code, body, _ := do(t, srv, "POST", tt.path, "")
			if code != tt.wantCode || body != tt.wantBody {
				t.Errorf("POST %s = %d %q, want %d %q", tt.path, code, body, tt.wantCode, tt.wantBody)
			}
			if calls := ctl.recorded(); len(calls) != 1 || calls[0] != tt.wantCall {
				t.Errorf("controller calls %q, want [%q]", calls, tt.wantCall)
			}
			if n := logs.FilterLevelExact(zap.InfoLevel).Len(); n != 1 {
				t.Errorf("%d info lines, want 1: %v", n, logs.All())
			}
		})
	}
}

func TestActionLogs(t *testing.T) {
	t.Parallel()
	ctl := newFake()
	core, logs := observer.New(zap.InfoLevel)
	srv := serve(t, ctl, Config{Logger: zap.New(core)})

	do(t, srv, "POST", "/api/v1/groups/main/members/carrier-a/drain", "")
	do(t, srv, "POST", "/api/v1/groups/main/members/nope/undrain", "")
	ctl.mu.Lock()
	ctl.reloadErr = errors.New("listen.smpp: changing the listener needs a restart")
	ctl.mu.Unlock()
	do(t, srv, "POST", "/api/v1/reload", "")

	type line struct{ msg, group, upstream, result string }
	var got []line
	for _, e := range logs.All() {
		f := e.ContextMap()
		str := func(k string) string { s, _ := f[k].(string); return s }
		got = append(got, line{e.Message, str("group"), str("upstream"), str("result")})
	}
	want := []line{
		{"drain", "main", "carrier-a", "done"},
		{"undrain", "main", "nope", "not_found"},
		{"reload", "", "", "refused"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("log lines\n got %+v\nwant %+v", got, want)
	}
}

func TestReload(t *testing.T) {
	t.Parallel()
	ctl := newFake()
	srv := serve(t, ctl, Config{})
	if code, body, _ := do(t, srv, "POST", "/api/v1/reload", ""); code != http.StatusOK || body != "reloaded\n" {
		t.Errorf("POST /api/v1/reload = %d %q, want 200 \"reloaded\\n\"", code, body)
	}

	ctl.mu.Lock()
	ctl.reloadErr = errors.New("upstreams[0].addr: changing it needs a restart")
	ctl.mu.Unlock()
	code, body, _ := do(t, srv, "POST", "/api/v1/reload", "")
	if code != http.StatusConflict || body != "upstreams[0].addr: changing it needs a restart\n" {
		t.Errorf("POST /api/v1/reload refused = %d %q, want 409 with the reason", code, body)
	}
	if calls := ctl.recorded(); !reflect.DeepEqual(calls, []string{"reload", "reload"}) {
		t.Errorf("controller calls %q", calls)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	ctl := newFake()
	srv := serve(t, ctl, Config{Gatherer: prometheus.NewRegistry()})
	for _, tt := range []struct{ method, path string }{
		{"POST", "/healthz"},
		{"POST", "/readyz"},
		{"POST", "/metrics"},
		{"DELETE", "/api/v1/status"},
		{"GET", "/api/v1/reload"},
		{"GET", "/api/v1/groups/main/members/carrier-a/drain"},
		{"PUT", "/api/v1/groups/main/members/carrier-a/undrain"},
		{"POST", "/"}, // the status page
	} {
		if code, _, hdr := do(t, srv, tt.method, tt.path, ""); code != http.StatusMethodNotAllowed || hdr.Get("Allow") == "" {
			t.Errorf("%s %s = %d Allow %q, want 405 with Allow", tt.method, tt.path, code, hdr.Get("Allow"))
		}
	}
	if calls := ctl.recorded(); len(calls) != 0 {
		t.Errorf("controller called by refused methods: %q", calls)
	}
}

func TestNotFoundPaths(t *testing.T) {
	t.Parallel()
	srv := serve(t, newFake(), Config{})
	for _, path := range []string{"/nothing", "/api/v1", "/api/v1/groups/main/members/carrier-a", "/api/v1/groups/main/drain"} {
		if code, _, _ := do(t, srv, "POST", path, ""); code != http.StatusNotFound {
			t.Errorf("POST %s = %d, want 404", path, code)
		}
	}
}

func TestToken(t *testing.T) {
	t.Parallel()
	const token = "s3cret-token"
	endpoints := []struct {
		method, path string
		ok           int
	}{
		{"GET", "/readyz", http.StatusOK},
		{"GET", "/metrics", http.StatusOK},
		{"GET", "/api/v1/status", http.StatusOK},
		{"POST", "/api/v1/groups/main/members/carrier-a/drain", http.StatusNoContent},
		{"POST", "/api/v1/groups/main/members/carrier-a/undrain", http.StatusNoContent},
		{"POST", "/api/v1/reload", http.StatusOK},
	}
	headers := []struct {
		name   string
		header string
		accept bool
	}{
		{"none", "", false},
		{"wrong token", "Bearer wrong", false},
		{"token prefix", "Bearer s3cret", false},
		{"token longer", "Bearer s3cret-token-and-more", false},
		{"basic scheme", "Basic " + token, false},
		{"no scheme", token, false},
		{"empty token", "Bearer ", false},
		{"right", "Bearer " + token, true},
		{"scheme case", "bearer " + token, true},
	}
	for _, hd := range headers {
		t.Run(hd.name, func(t *testing.T) {
			t.Parallel()
			ctl := newFake()
			srv := serve(t, ctl, Config{Gatherer: prometheus.NewRegistry(), Token: token})
			for _, ep := range endpoints {
				code, _, hdr := do(t, srv, ep.method, ep.path, hd.header)
				switch {
				case hd.accept && code != ep.ok:
					t.Errorf("%s %s with %q = %d, want %d", ep.method, ep.path, hd.header, code, ep.ok)
				case !hd.accept && code != http.StatusUnauthorized:
					t.Errorf("%s %s with %q = %d, want 401", ep.method, ep.path, hd.header, code)
				case !hd.accept && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer"):
					t.Errorf("%s %s 401 without WWW-Authenticate: Bearer", ep.method, ep.path)
				}
			}
			if !hd.accept {
				if calls := ctl.recorded(); len(calls) != 0 {
					t.Errorf("controller acted without the token: %q", calls)
				}
			}
			// /healthz never needs the token.
			if code, _, _ := do(t, srv, "GET", "/healthz", hd.header); code != http.StatusOK {
				t.Errorf("GET /healthz with %q = %d, want 200", hd.header, code)
			}
		})
	}
}

func TestNewHandlerWithoutController(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("NewHandler without a Controller did not panic")
		}
	}()
	NewHandler(Config{})
}

func TestPprof(t *testing.T) {
	t.Parallel()
	srv := serve(t, newFake(), Config{Token: "s3cret"})
	if code, _, _ := do(t, srv, "GET", "/debug/pprof/heap?debug=1", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /debug/pprof/heap without the token = %d, want 401", code)
	}
	code, body, _ := do(t, srv, "GET", "/debug/pprof/heap?debug=1", "Bearer s3cret")
	if code != http.StatusOK || !strings.Contains(body, "heap profile") {
		t.Errorf("GET /debug/pprof/heap = %d %.80q, want 200 and a heap profile", code, body)
	}
	if code, body, _ := do(t, srv, "GET", "/debug/pprof/", "Bearer s3cret"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("GET /debug/pprof/ = %d %.80q, want the index", code, body)
	}
}

// TestBadTokenLoggedAtWarn: requests with a bad or missing token are
// logged at warn with their source address, one line per interval
// counting the others.
func TestBadTokenLoggedAtWarn(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.InfoLevel)
	srv := serve(t, newFake(), Config{Token: "t0k", Logger: zap.New(core)})
	for _, auth := range []string{"", "Bearer nope", "Bearer t0", "Basic t0k", "Bearer nope"} {
		if code, _, _ := do(t, srv, "GET", "/api/v1/status", auth); code != http.StatusUnauthorized {
			t.Fatalf("%q: %d, want 401", auth, code)
		}
	}
	lines := logs.FilterMessage("admin request refused: bad or missing bearer token").All()
	if len(lines) != 1 {
		t.Fatalf("%d lines for 5 refused requests within 10 s, want 1", len(lines))
	}
	l := lines[0]
	if l.Level != zap.WarnLevel || !strings.HasPrefix(l.ContextMap()["remote"].(string), "127.0.0.1:") ||
		l.ContextMap()["path"] != "/api/v1/status" {
		t.Errorf("line %v %v", l.Level, l.ContextMap())
	}
	for _, e := range logs.All() {
		if strings.Contains(e.Message+fmt.Sprint(e.ContextMap()), "nope") {
			t.Errorf("a token was logged: %v", e)
		}
	}

	clock := time.Unix(1_700_000_000, 0)
	core2, logs2 := observer.New(zap.InfoLevel)
	h := &handler{log: zap.New(core2), refusedLog: ratelog.Every{Now: func() time.Time { return clock }}}
	for range 4 {
		h.logRefused("10.0.0.1:5000", "/metrics")
		clock = clock.Add(time.Second)
	}
	clock = clock.Add(10 * time.Second)
	h.logRefused("10.0.0.2:6000", "/readyz")
	got := logs2.All()
	if len(got) != 2 || got[1].ContextMap()["more_refused_since_last_line"] != int64(3) || got[1].ContextMap()["remote"] != "10.0.0.2:6000" {
		t.Errorf("lines %v", got)
	}
}
