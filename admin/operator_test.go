package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// fakeOperator records what it is asked and answers err when set.
type fakeOperator struct {
	mu    sync.Mutex
	err   error
	calls []string
	level string
	ob    Outbox
	msg   Message
}

func (f *fakeOperator) record(format string, a ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, a...))
	return f.err
}

func (f *fakeOperator) recorded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeOperator) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeOperator) StopUpstream(name string) (bool, error) {
	return true, f.record("stop %s", name)
}

func (f *fakeOperator) StartUpstream(name string) (bool, error) {
	return true, f.record("start %s", name)
}

func (f *fakeOperator) KickClient(systemID, reason string) (int, error) {
	return 3, f.record("kick %s %q", systemID, reason)
}

func (f *fakeOperator) SuspendClient(systemID string) (bool, int, error) {
	return true, 2, f.record("suspend %s", systemID)
}

func (f *fakeOperator) ResumeClient(systemID string) (bool, error) {
	return true, f.record("resume %s", systemID)
}

func (f *fakeOperator) SetLogLevel(level string) error {
	err := f.record("level %s", level)
	if err == nil {
		f.mu.Lock()
		f.level = level
		f.mu.Unlock()
	}
	return err
}

func (f *fakeOperator) Outbox(systemID string, after uint64, limit int) (Outbox, error) {
	err := f.record("outbox %s after=%d limit=%d", systemID, after, limit)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ob, err
}

func (f *fakeOperator) PurgeOutbox(systemID string, seq uint64) (int, error) {
	return 5, f.record("purge %s %d", systemID, seq)
}

func (f *fakeOperator) Message(systemID, messageID string) (Message, error) {
	err := f.record("message %s %s", systemID, messageID)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.msg, err
}

func (f *fakeOperator) Control() Control {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Control{LogLevel: f.level}
}

// operatorRequests is one request of each operator endpoint, with the
// call it makes.
var operatorRequests = []struct {
	method, path, body, call string
}{
	{"POST", "/api/v1/upstreams/a/stop", "", "stop a"},
	{"POST", "/api/v1/upstreams/a/start", "", "start a"},
	{"POST", "/api/v1/clients/shop/kick?reason=too+fast", "", `kick shop "too fast"`},
	{"POST", "/api/v1/clients/shop/suspend", "", "suspend shop"},
	{"POST", "/api/v1/clients/shop/resume", "", "resume shop"},
	{"PUT", "/api/v1/log-level", `{"level": "debug"}`, "level debug"},
	{"GET", "/api/v1/clients/shop/outbox", "", "outbox shop after=0 limit=100"},
	{"DELETE", "/api/v1/clients/shop/outbox", "", "purge shop 0"},
	{"DELETE", "/api/v1/clients/shop/outbox/9", "", "purge shop 9"},
	{"GET", "/api/v1/clients/shop/messages/ab%2Fcd", "", "message shop ab/cd"},
}

// send makes a request with a JSON body (when not empty) and returns the
// status and the body.
func send(t *testing.T, url, method, path, body string, header ...string) (int, string) {
	t.Helper()
	code, b, _ := request(t, url, method, path, body, header...)
	return code, b
}

// TestOperatorErrors: an Operator's error is answered 404 (ErrUnknown),
// 400 (ErrBadInput), 409 (ErrRefused) or 500, with its text, on every
// endpoint.
func TestOperatorErrors(t *testing.T) {
	t.Parallel()
	op := &fakeOperator{}
	srv := serve(t, newFake(), Config{Operator: op})
	for _, tc := range []struct {
		err  error
		code int
	}{
		{fmt.Errorf("%w upstream or client %q", ErrUnknown, "zz"), http.StatusNotFound},
		{fmt.Errorf("%w: no such thing", ErrBadInput), http.StatusBadRequest},
		{fmt.Errorf("%w: smppmux is stopping", ErrRefused), http.StatusConflict},
		{errors.New("store: disk full"), http.StatusInternalServerError},
	} {
		op.setErr(tc.err)
		for _, r := range operatorRequests {
			code, body := send(t, srv.URL, r.method, r.path, r.body)
			if code != tc.code || strings.TrimSpace(body) != tc.err.Error() {
				t.Errorf("%s %s with %q: %d %q, want %d with the error", r.method, r.path, tc.err, code, body, tc.code)
			}
		}
	}
}

// TestOperatorAnswers: each endpoint calls the Operator with what the
// request says and answers in JSON, empty lists as [], or 204.
func TestOperatorAnswers(t *testing.T) {
	t.Parallel()
	op := &fakeOperator{level: "info", ob: Outbox{SystemID: "shop"}, msg: Message{SystemID: "shop", MessageID: "ab/cd", State: "awaiting_receipt"}}
	srv := serve(t, newFake(), Config{Operator: op})
	want := map[string]struct {
		code int
		body string
	}{
		"stop a":                        {204, ""},
		"start a":                       {204, ""},
		`kick shop "too fast"`:          {200, `{"closed":3}`},
		"suspend shop":                  {200, `{"closed":2}`},
		"resume shop":                   {204, ""},
		"level debug":                   {200, `{"level":"debug"}`},
		"outbox shop after=0 limit=100": {200, `{"system_id":"shop","depth":0,"oldest_age_seconds":0,"items":[]}`},
		"purge shop 0":                  {200, `{"purged":5}`},
		"purge shop 9":                  {200, `{"purged":5}`},
		"message shop ab/cd":            {200, `{"system_id":"shop","message_id":"ab/cd","state":"awaiting_receipt","session_bound":false,"receipts":[]}`},
	}
	for _, r := range operatorRequests {
		before := len(op.recorded())
		code, body := send(t, srv.URL, r.method, r.path, r.body)
		if calls := op.recorded()[before:]; !reflect.DeepEqual(calls, []string{r.call}) {
			t.Errorf("%s %s called %q, want %q", r.method, r.path, calls, r.call)
		}
		w := want[r.call]
		var compact strings.Builder
		if body != "" {
			var v any
			if err := json.Unmarshal([]byte(body), &v); err != nil {
				t.Errorf("%s %s: not JSON: %q", r.method, r.path, body)
				continue
			}
			b, _ := json.Marshal(v)
			compact.Write(b)
		}
		if code != w.code || !jsonEqual(compact.String(), w.body) {
			t.Errorf("%s %s: %d %s, want %d %s", r.method, r.path, code, body, w.code, w.body)
		}
	}
	if code, body := send(t, srv.URL, "GET", "/api/v1/log-level", ""); code != 200 || !jsonEqual(body, `{"level":"debug"}`) {
		t.Errorf("GET log-level: %d %s", code, body)
	}
	before := len(op.recorded())
	if code, _ := send(t, srv.URL, "GET", "/api/v1/clients/shop/outbox?after=7&limit=10000", ""); code != 200 {
		t.Errorf("outbox page: %d", code)
	}
	if calls := op.recorded()[before:]; !reflect.DeepEqual(calls, []string{"outbox shop after=7 limit=10000"}) {
		t.Errorf("outbox page called %q", calls)
	}
	// A status with the Operator has its "control" part.
	code, body := send(t, srv.URL, "GET", "/api/v1/status", "")
	var doc map[string]json.RawMessage
	if code != 200 || json.Unmarshal([]byte(body), &doc) != nil || !jsonEqual(string(doc["control"]),
		`{"log_level":"debug","stopped_upstreams":[],"suspended_clients":[],"drained":[],"clients":[],"recent_errors":[]}`) {
		t.Errorf("status control: %d %s", code, doc["control"])
	}
}

func jsonEqual(a, b string) bool {
	if a == "" || b == "" {
		return a == b
	}
	var va, vb any
	return json.Unmarshal([]byte(a), &va) == nil && json.Unmarshal([]byte(b), &vb) == nil && reflect.DeepEqual(va, vb)
}

// TestOperatorBadRequests: what the handler can tell is wrong is answered
// 400 without calling the Operator.
func TestOperatorBadRequests(t *testing.T) {
	t.Parallel()
	op := &fakeOperator{}
	srv := serve(t, newFake(), Config{Operator: op})
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/api/v1/clients/shop/kick?reason=" + strings.Repeat("x", maxReason+1), ""},
		{"POST", "/api/v1/clients/shop/kick?reason=a%0Ab", ""},
		{"PUT", "/api/v1/log-level", ""},
		{"PUT", "/api/v1/log-level", `{"level": ""}`},
		{"PUT", "/api/v1/log-level", `{"level": "debug", "for": "1h"}`},
		{"PUT", "/api/v1/log-level", `"debug"`},
		{"GET", "/api/v1/clients/shop/outbox?limit=0", ""},
		{"GET", "/api/v1/clients/shop/outbox?limit=10001", ""},
		{"GET", "/api/v1/clients/shop/outbox?after=x", ""},
		{"DELETE", "/api/v1/clients/shop/outbox/0", ""},
		{"DELETE", "/api/v1/clients/shop/outbox/-1", ""},
	} {
		if code, body := send(t, srv.URL, r.method, r.path, r.body); code != http.StatusBadRequest {
			t.Errorf("%s %s %q: %d %s, want 400", r.method, r.path, r.body, code, body)
		}
	}
	if calls := op.recorded(); len(calls) != 0 {
		t.Errorf("bad requests called %q", calls)
	}
}

// TestOperatorAbsent: without an Operator its endpoints are 404 and the
// status has no "control" part.
func TestOperatorAbsent(t *testing.T) {
	t.Parallel()
	srv := serve(t, newFake(), Config{})
	for _, r := range operatorRequests {
		if code, _ := send(t, srv.URL, r.method, r.path, r.body); code != http.StatusNotFound {
			t.Errorf("%s %s without an Operator: %d, want 404", r.method, r.path, code)
		}
	}
	if _, body := send(t, srv.URL, "GET", "/api/v1/status", ""); strings.Contains(body, `"control"`) {
		t.Errorf("status without an Operator has a control part: %s", body)
	}
}

// TestOperatorCrossOrigin: a change asked by a page of another origin is
// refused (403) even with the token, and the Operator is not called.
func TestOperatorCrossOrigin(t *testing.T) {
	t.Parallel()
	op := &fakeOperator{}
	srv := serve(t, newFake(), Config{Operator: op, Token: "s3cret"})
	for _, r := range operatorRequests {
		if r.method == "GET" {
			continue
		}
		code, _ := send(t, srv.URL, r.method, r.path, r.body, "Authorization", "Bearer s3cret", "Sec-Fetch-Site", "cross-site")
		if code != http.StatusForbidden {
			t.Errorf("%s %s from another origin: %d, want 403", r.method, r.path, code)
		}
	}
	if calls := op.recorded(); len(calls) != 0 {
		t.Errorf("cross-origin requests called %q", calls)
	}
}

// TestOperatorLogs: each operation makes one info line naming it, what it
// acted on, the caller and its result.
func TestOperatorLogs(t *testing.T) {
	t.Parallel()
	op := &fakeOperator{}
	core, logs := observer.New(zap.InfoLevel)
	srv := serve(t, newFake(), Config{Operator: op, Logger: zap.New(core)})
	send(t, srv.URL, "POST", "/api/v1/upstreams/a/stop", "")
	send(t, srv.URL, "POST", "/api/v1/clients/shop/kick?reason=abuse", "")
	op.setErr(fmt.Errorf("%w client %q", ErrUnknown, "zz"))
	send(t, srv.URL, "POST", "/api/v1/clients/zz/suspend", "")
	type line struct{ msg, subject, result, remote string }
	var got []line
	for _, e := range logs.All() {
		f := e.ContextMap()
		subject, _ := f["upstream"].(string)
		if c, ok := f["client"].(string); ok {
			subject = c
			if r, ok := f["reason"].(string); ok {
				subject += " " + r
			}
		}
		remote, _ := f["remote"].(string)
		res, _ := f["result"].(string)
		got = append(got, line{e.Message, subject, res, strings.Split(remote, ":")[0]})
	}
	want := []line{
		{"upstream stop", "a", "done", "127.0.0.1"},
		{"client kick", "shop abuse", "done", "127.0.0.1"},
		{"client suspend", "zz", "refused", "127.0.0.1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("log lines\n got %+v\nwant %+v", got, want)
	}
}
