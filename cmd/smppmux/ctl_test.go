package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smppmux/smppmux/admin"
	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
	"github.com/smppmux/smppmux/metrics"
)

// fakeOps is an admin Controller and Operator that answers from fixed
// data and records what it was asked to do.
type fakeOps struct {
	mu    sync.Mutex
	calls []string
	level string
}

func (f *fakeOps) record(format string, a ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, a...))
}

func (f *fakeOps) recorded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

var fakeTime = time.Date(2026, 11, 29, 22, 30, 0, 0, time.UTC)

func (f *fakeOps) Snapshot() metrics.Snapshot {
	return metrics.Snapshot{
		Ready: true,
		Store: metrics.StoreInfo{Kind: "pebble", Healthy: true},
		Sessions: []metrics.SessionInfo{
			{ID: 1, SystemID: "shop", BindType: "transceiver", Remote: "127.0.0.1:40000"},
			{ID: 2, SystemID: "shop", BindType: "transmitter", Remote: "127.0.0.1:40001"},
		},
		Binds: []metrics.BindInfo{
			{Upstream: "a", Index: 0, State: "closed", Window: 10},
			{Upstream: "b", Index: 0, State: "bound", WindowUsed: 3, Window: 10},
			{Upstream: "b", Index: 1, State: "bound", Window: 10},
		},
		Upstreams: []metrics.UpstreamInfo{{Name: "a"}, {Name: "b", PaceTPS: 50, Throttled: 7}},
		Groups: []metrics.GroupInfo{{Name: "main", Mode: "active-active", Available: true, Members: []metrics.MemberInfo{
			{Upstream: "a", Weight: 1, Breaker: "closed"},
			{Upstream: "b", Weight: 2, EffectiveWeight: 2, Healthy: true, Breaker: "closed"},
		}}},
		Outboxes:    []metrics.OutboxInfo{{SystemID: "bank", Depth: 12, OldestAge: 95 * time.Second}},
		DeadLetters: []metrics.DeadLetterInfo{{SystemID: "bank", Count: 3, Oldest: fakeTime}},
	}
}

func (f *fakeOps) Drain(group, upstream string) error   { return nil }
func (f *fakeOps) Undrain(group, upstream string) error { return nil }
func (f *fakeOps) Reload() error                        { return nil }

func (f *fakeOps) DeadLetterCounts() ([]metrics.DeadLetterInfo, error) {
	return f.Snapshot().DeadLetters, nil
}

func (f *fakeOps) known(id string) bool { return id == "shop" || id == "bank" }

func (f *fakeOps) DeadLetters(client string, after uint64, limit int) ([]admin.DeadLetter, error) {
	f.record("deadletters list %s after=%d limit=%d", client, after, limit)
	if !f.known(client) {
		return nil, fmt.Errorf("%w: %q", admin.ErrNoDeadLetter, client)
	}
	return []admin.DeadLetter{{Seq: 4, Arrived: fakeTime, DeadAt: fakeTime.Add(time.Hour), Attempts: 3, Refusals: 3,
		LastStatus: "0x00000064", Reason: "refused", Command: "deliver_sm", Receipt: true, MessageID: "0000abcd",
		Source: "447700900001", Destination: "Shop"}}, nil
}

func (f *fakeOps) PurgeDeadLetters(client string, seq uint64) (int, error) {
	f.record("deadletters purge %s %d", client, seq)
	if seq == 99 {
		return 0, fmt.Errorf("%w: %d", admin.ErrNoDeadLetter, seq)
	}
	if seq != 0 {
		return 1, nil
	}
	return 3, nil
}

func (f *fakeOps) RetryDeadLetters(client string) (int, error) {
	f.record("deadletters retry %s", client)
	return 3, nil
}

func (f *fakeOps) upstream(verb, name string) (bool, error) {
	if name != "a" && name != "b" {
		return false, fmt.Errorf("%w upstream %q", admin.ErrUnknown, name)
	}
	f.record("upstream %s %s", verb, name)
	return true, nil
}

func (f *fakeOps) StopUpstream(name string) (bool, error)  { return f.upstream("stop", name) }
func (f *fakeOps) StartUpstream(name string) (bool, error) { return f.upstream("start", name) }

func (f *fakeOps) KickClient(systemID, reason string) (int, error) {
	if !f.known(systemID) {
		return 0, fmt.Errorf("%w client %q", admin.ErrUnknown, systemID)
	}
	f.record("kick %s %q", systemID, reason)
	return 2, nil
}

func (f *fakeOps) SuspendClient(systemID string) (bool, int, error) {
	f.record("suspend %s", systemID)
	return true, 1, nil
}

func (f *fakeOps) ResumeClient(systemID string) (bool, error) {
	f.record("resume %s", systemID)
	return true, nil
}

func (f *fakeOps) SetLogLevel(level string) error {
	switch level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("%w: log level %q", admin.ErrBadInput, level)
	}
	f.record("log-level %s", level)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.level = level
	return nil
}

func (f *fakeOps) Outbox(systemID string, after uint64, limit int) (admin.Outbox, error) {
	f.record("outbox list %s after=%d limit=%d", systemID, after, limit)
	return admin.Outbox{SystemID: systemID, Depth: 12, OldestAgeSeconds: 95, Items: []admin.OutboxItem{
		{Seq: 7, Arrived: fakeTime, Command: "deliver_sm", Receipt: true, MessageID: "0000abcd", State: "DELIVRD",
			Source: "447700900001", Destination: "Shop"},
		{Seq: 8, Arrived: fakeTime, Attempts: 2, Refusals: 2, LastStatus: "0x00000064", RetryAt: fakeTime.Add(time.Minute),
			Command: "deliver_sm", Source: "447700900002", Destination: "Shop"},
	}}, nil
}

func (f *fakeOps) PurgeOutbox(systemID string, seq uint64) (int, error) {
	f.record("outbox purge %s %d", systemID, seq)
	if seq != 0 {
		return 1, nil
	}
	return 12, nil
}

func (f *fakeOps) Message(systemID, messageID string) (admin.Message, error) {
	f.record("message %s %s", systemID, messageID)
	if messageID != "0000abcd" {
		return admin.Message{}, fmt.Errorf("%w or finished message %q", admin.ErrUnknown, messageID)
	}
	return admin.Message{SystemID: systemID, MessageID: messageID, State: "awaiting_receipt", Upstream: "b",
		UpstreamID: "smsc-77", Session: 2, SessionBound: true, Submitted: fakeTime, Expires: fakeTime.Add(48 * time.Hour),
		Receipts: []admin.MessageReceipt{{Where: "outbox", Seq: 7, State: "ENROUTE", Arrived: fakeTime}}}, nil
}

func (f *fakeOps) Control() admin.Control {
	f.mu.Lock()
	defer f.mu.Unlock()
	return admin.Control{LogLevel: f.level, StoppedUpstreams: []string{"a"}, SuspendedClients: []string{"bank"},
		Drained:      []string{"main/a"},
		Clients:      []admin.ClientState{{SystemID: "bank", Suspended: true}, {SystemID: "shop", Sessions: 2}},
		RecentErrors: []admin.LogEntry{{Time: fakeTime, Level: "warn", Logger: "upstream", Message: "bind refused", Count: 3}}}
}

const ctlToken = "tok-3f9a"

// fakeAdmin serves the admin API over f, behind ctlToken.
func fakeAdmin(t *testing.T) (*httptest.Server, *fakeOps) {
	t.Helper()
	f := &fakeOps{level: "info"}
	srv := httptest.NewServer(admin.NewHandler(admin.Config{Controller: f, Operator: f, Token: ctlToken}))
	t.Cleanup(srv.Close)
	return srv, f
}

// runCtl runs "smppmux ctl args..." with env and returns its exit status,
// stdout and stderr, as main would.
func runCtl(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := ctl(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut)
	code = exitCode(err, &errOut)
	if strings.Contains(out.String()+errOut.String(), ctlToken) {
		t.Errorf("%q printed the token", args)
	}
	return code, out.String(), errOut.String()
}

// TestCtlCommands: each command makes its request of the admin API and
// prints its answer in aligned columns; exit 0.
func TestCtlCommands(t *testing.T) {
	t.Parallel()
	srv, f := fakeAdmin(t)
	env := map[string]string{"SMPPMUX_TOKEN": ctlToken}
	for _, tc := range []struct {
		args []string
		call string   // what the API was asked, "" for a read without a record
		out  []string // lines (or parts of lines) of the output, in order
	}{
		{[]string{"status"}, "", []string{
			"ready:      yes",
			"store:      pebble healthy",
			"log level:  info",
			"UPSTREAM  STATE    BOUND  WINDOW USED  PACE TPS  THROTTLED",
			"a         stopped  0/1    0/10         -         0",
			"b         running  2/2    3/20         50        7",
			"GROUP  MODE           MEMBER  WEIGHT  EFFECTIVE  HEALTHY  BREAKER",
			"main   active-active  a       1       0.0        no       closed",
			"main   active-active  b       2       2.0        yes      closed",
			"CLIENT  STATE      SESSIONS  OUTBOX  OLDEST  DEAD LETTERS",
			"bank    suspended  0         12      1m35s   3",
			"shop    active     2         0       0s      0",
			"drained: main/a",
			"2026-11-29T22:30:00Z  warn   upstream  3      bind refused",
		}},
		{[]string{"upstream", "stop", "a"}, "upstream stop a", []string{"upstream a stopped: its binds stay down"}},
		{[]string{"upstream", "start", "b"}, "upstream start b", []string{"upstream b started"}},
		{[]string{"client", "kick", "shop", "too", "many", "binds"}, `kick shop "too many binds"`, []string{"client shop kicked: 2 sessions closed"}},
		{[]string{"client", "kick", "shop"}, `kick shop ""`, []string{"client shop kicked: 2 sessions closed"}},
		{[]string{"client", "suspend", "bank"}, "suspend bank", []string{"client bank suspended: 1 session closed; its binds are refused"}},
		{[]string{"client", "resume", "bank"}, "resume bank", []string{"client bank resumed"}},
		{[]string{"outbox", "list", "bank"}, "outbox list bank after=0 limit=100", []string{
			"outbox of bank: 12 items waiting, the oldest for 1m35s",
			"ITEM  ARRIVED              COMMAND               MESSAGE ID  STATE    SOURCE        DESTINATION  ATTEMPTS  REFUSALS  LAST STATUS  RETRY AT",
			"7     2026-11-29 22:30:00  deliver_sm (receipt)  0000abcd    DELIVRD  447700900001  Shop         0         0         -            -",
			"8     2026-11-29 22:30:00  deliver_sm            -           -        447700900002  Shop         2         2         0x00000064   2026-11-29 22:31:00",
		}},
		{[]string{"-limit", "2", "outbox", "list", "bank"}, "outbox list bank after=0 limit=2", []string{"(10 more: -limit)"}},
		{[]string{"outbox", "purge", "bank"}, "outbox purge bank 0", []string{"outbox of bank: 12 purged"}},
		{[]string{"outbox", "purge", "bank", "7"}, "outbox purge bank 7", []string{"outbox of bank: 1 purged"}},
		{[]string{"deadletters", "list", "bank"}, "deadletters list bank after=0 limit=100", []string{
			"dead letters of bank: 1 listed",
			"SEQ  ARRIVED              DEAD AT              REASON   COMMAND               MESSAGE ID  SOURCE        DESTINATION  ATTEMPTS  REFUSALS  LAST STATUS",
			"4    2026-11-29 22:30:00  2026-11-29 23:30:00  refused  deliver_sm (receipt)  0000abcd    447700900001  Shop         3         3         0x00000064",
		}},
		{[]string{"deadletters", "retry", "bank"}, "deadletters retry bank", []string{"dead letters of bank: 3 put back in its outbox"}},
		{[]string{"deadletters", "purge", "bank"}, "deadletters purge bank 0", []string{"dead letters of bank: 3 purged"}},
		{[]string{"deadletters", "purge", "bank", "4"}, "deadletters purge bank 4", []string{"dead letters of bank: 1 purged"}},
		{[]string{"message", "shop", "0000abcd"}, "message shop 0000abcd", []string{
			"system_id:    shop",
			"message_id:   0000abcd",
			"state:        awaiting_receipt",
			"upstream:     b",
			"upstream id:  smsc-77",
			"session:      2 (bound: receipts go there first)",
			"submitted:    2026-11-29 22:30:00",
			"expires:      2026-12-01 22:30:00",
			"RECEIPT IN  ITEM  STATE    ARRIVED",
			"outbox      7     ENROUTE  2026-11-29 22:30:00",
		}},
		{[]string{"log-level", "debug"}, "log-level debug", []string{"log level: debug"}},
		{[]string{"log-level"}, "", []string{"log level: debug"}},
		// Flags after the command, and "--" before words that look like flags.
		{[]string{"client", "kick", "shop", "-admin", srv.URL, "--", "-x"}, `kick shop "-x"`, []string{"client shop kicked"}},
	} {
		before := len(f.recorded())
		code, stdout, stderr := runCtl(t, env, append([]string{"-admin", srv.URL}, tc.args...)...)
		if code != 0 || stderr != "" {
			t.Errorf("%q: exit %d, stderr %q", tc.args, code, stderr)
			continue
		}
		calls := f.recorded()[before:]
		if tc.call != "" && !slices.Equal(calls, []string{tc.call}) || tc.call == "" && len(calls) != 0 {
			t.Errorf("%q asked the API %q, want %q", tc.args, calls, tc.call)
		}
		rest := stdout
		for _, want := range tc.out {
			i := strings.Index(rest, want)
			if i < 0 {
				t.Errorf("%q: output lacks %q (or has it out of order):\n%s", tc.args, want, stdout)
				break
			}
			rest = rest[i+len(want):]
		}
	}
}

// TestCtlJSON: with -json, ctl prints the API's answer as it is; a change
// answered 204 prints nothing.
func TestCtlJSON(t *testing.T) {
	t.Parallel()
	srv, _ := fakeAdmin(t)
	get := func(method, path string) string {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+ctlToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	env := map[string]string{"SMPPMUX_TOKEN": ctlToken}
	for _, tc := range []struct {
		args         []string
		method, path string // the same request made directly; "" for none
	}{
		{[]string{"status"}, "GET", "/api/v1/status"},
		{[]string{"outbox", "list", "bank"}, "GET", "/api/v1/clients/bank/outbox?limit=100"},
		{[]string{"deadletters", "list", "bank"}, "GET", "/api/v1/deadletters/bank?limit=100"},
		{[]string{"message", "shop", "0000abcd"}, "GET", "/api/v1/clients/shop/messages/0000abcd"},
		{[]string{"log-level"}, "GET", "/api/v1/log-level"},
		{[]string{"client", "kick", "shop"}, "POST", "/api/v1/clients/shop/kick"},
		{[]string{"client", "suspend", "shop"}, "POST", "/api/v1/clients/shop/suspend"},
		{[]string{"outbox", "purge", "bank", "7"}, "DELETE", "/api/v1/clients/bank/outbox/7"},
		{[]string{"deadletters", "retry", "bank"}, "POST", "/api/v1/deadletters/bank/retry"},
		{[]string{"upstream", "stop", "a"}, "", ""},
		{[]string{"upstream", "start", "a"}, "", ""},
		{[]string{"client", "resume", "bank"}, "", ""},
	} {
		code, stdout, stderr := runCtl(t, env, append([]string{"-admin", srv.URL, "-json"}, tc.args...)...)
		if code != 0 || stderr != "" {
			t.Errorf("%q: exit %d, stderr %q", tc.args, code, stderr)
			continue
		}
		want := ""
		if tc.path != "" {
			want = get(tc.method, tc.path)
		}
		if stdout != want {
			t.Errorf("%q -json printed\n%s\nwant the API's\n%s", tc.args, stdout, want)
		}
	}
}

// TestCtlRefused: an answer of the API other than 2xx exits 1 with the
// API's reason on stderr, never the token; a wrong command line exits 2
// with the usage, asking the API nothing.
func TestCtlRefused(t *testing.T) {
	t.Parallel()
	srv, f := fakeAdmin(t)
	env := map[string]string{"SMPPMUX_TOKEN": ctlToken}
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"SMPPMUX_TOKEN": "wrong"}, []string{"status"}, "GET /api/v1/status: 401 Unauthorized: unauthorized (the token is missing or wrong"},
		{map[string]string{}, []string{"upstream", "stop", "a"}, "POST /api/v1/upstreams/a/stop: 401 Unauthorized"},
		{env, []string{"upstream", "stop", "zz"}, `404 Not Found: unknown upstream "zz"`},
		{env, []string{"client", "kick", "nobody"}, `404 Not Found: unknown client "nobody"`},
		{env, []string{"client", "kick", "shop", "bad\x01reason"}, "400 Bad Request: reason: at most 200 printable characters"},
		{env, []string{"log-level", "verbose"}, `400 Bad Request: bad input: log level "verbose"`},
		{env, []string{"message", "shop", "nope"}, `404 Not Found: unknown or finished message "nope"`},
		{env, []string{"deadletters", "list", "nobody"}, `404 Not Found: no such client or dead letter: "nobody"`},
		{env, []string{"deadletters", "purge", "bank", "99"}, "404 Not Found"},
	} {
		before := len(f.recorded())
		code, stdout, stderr := runCtl(t, tc.env, append([]string{"-admin", srv.URL}, tc.args...)...)
		if code != 1 || !strings.Contains(stderr, tc.want) || stdout != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 1 and %q", tc.args, code, stdout, stderr, tc.want)
		}
		if calls := f.recorded()[before:]; strings.Contains(tc.want, "401") && len(calls) != 0 {
			t.Errorf("%q without the token did %q", tc.args, calls)
		}
	}

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	if code, _, stderr := runCtl(t, env, "-admin", closed.URL, "status"); code != 1 || !strings.Contains(stderr, "connection refused") {
		t.Errorf("API not listening: exit %d, stderr %q", code, stderr)
	}

	before := len(f.recorded())
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"stats"}, `unknown command "stats"`},
		{[]string{"status", "now"}, "status takes no argument"},
		{[]string{"upstream"}, "upstream: want one of stop, start"},
		{[]string{"upstream", "halt", "a"}, `upstream: unknown "halt"`},
		{[]string{"upstream", "stop"}, "upstream stop: want NAME"},
		{[]string{"upstream", "stop", "a", "b"}, "upstream stop: want NAME"},
		{[]string{"client", "kick"}, "client kick: want SYSTEM_ID [REASON]"},
		{[]string{"client", "suspend", "a", "b"}, "client suspend: want SYSTEM_ID"},
		{[]string{"outbox", "list"}, "outbox list: want SYSTEM_ID"},
		{[]string{"outbox", "purge", "shop", "x"}, `ITEM: want a number from 1, got "x"`},
		{[]string{"outbox", "purge", "shop", "0"}, `ITEM: want a number from 1, got "0"`},
		{[]string{"outbox", "purge", "shop", "1", "2"}, "outbox purge: want SYSTEM_ID [ITEM]"},
		{[]string{"deadletters", "drop", "shop"}, `deadletters: unknown "drop", want one of list, retry, purge`},
		{[]string{"deadletters", "retry", "shop", "1"}, "deadletters retry: want SYSTEM_ID"},
		{[]string{"message", "shop"}, "message: want SYSTEM_ID MESSAGE_ID"},
		{[]string{"log-level", "debug", "now"}, "log-level: want [LEVEL]"},
		{[]string{"-limit", "0", "outbox", "list", "shop"}, "-limit: from 1 to 10000"},
		{[]string{"-nosuch", "status"}, "flag provided but not defined: -nosuch"},
	} {
		code, stdout, stderr := runCtl(t, env, append([]string{"-admin", srv.URL}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "usage: smppmux ctl") || stdout != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and %q with the usage", tc.args, code, stdout, stderr, tc.want)
		}
	}
	if code, _, stderr := runCtl(t, env, "-admin", "127.0.0.1:9090", "status"); code != 2 || !strings.Contains(stderr, "want a URL") {
		t.Errorf("-admin without a scheme: exit %d, stderr %q", code, stderr)
	}
	if calls := f.recorded()[before:]; len(calls) != 0 {
		t.Errorf("wrong command lines asked the API %q", calls)
	}
	code, stdout, _ := runCtl(t, env, "-h")
	if code != 0 || !strings.Contains(stdout, "usage: smppmux ctl") || !strings.Contains(stdout, "deadletters purge SYSTEM_ID [SEQ]") {
		t.Errorf("-h: exit %d\n%s", code, stdout)
	}
}

// TestCtlAddressAndToken: without -admin, the address and the token come
// from -config's listen.admin and admin.token; -token-file, then
// $SMPPMUX_TOKEN, come first; a file whose admin listener is off is an
// error.
func TestCtlAddressAndToken(t *testing.T) {
	t.Parallel()
	srv, _ := fakeAdmin(t)
	dir := t.TempDir()
	write := func(name, text string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	conf := func(name, admin, token string) string {
		return write(name, fmt.Sprintf(`
listen: {smpp: "127.0.0.1:0", admin: %q}
admin: {token: %q}
state_dir: %q
clients: [{system_id: shop, password: secret}]
upstreams: [{name: a, addr: "127.0.0.1:1", system_id: mux}]
groups: [{name: main, members: [{upstream: a}]}]
routes: [{group: main}]
`, admin, token, dir))
	}
	host := strings.TrimPrefix(srv.URL, "http://")
	port := host[strings.LastIndex(host, ":"):]
	good := conf("good.yaml", host, ctlToken)
	anyAddr := conf("any.yaml", "0.0.0.0"+port, "not-the-token")
	off := conf("off.yaml", "", "")
	right := write("right", ctlToken+"\n")
	wrong := write("wrong", "nope\n")

	for _, tc := range []struct {
		env  map[string]string
		args []string
		code int
	}{
		{nil, []string{"-config", good, "log-level"}, 0},
		{nil, []string{"log-level", "-config", good}, 0},
		{nil, []string{"-config", anyAddr, "log-level"}, 1}, // reached on loopback, with the file's wrong token
		{nil, []string{"-config", anyAddr, "-token-file", right, "log-level"}, 0},
		{map[string]string{"SMPPMUX_TOKEN": ctlToken}, []string{"-config", anyAddr, "log-level"}, 0},
		{map[string]string{"SMPPMUX_TOKEN": ctlToken}, []string{"-config", good, "-token-file", wrong, "log-level"}, 1},
		{map[string]string{"SMPPMUX_TOKEN": "nope"}, []string{"-config", good, "log-level"}, 1},
		{nil, []string{"-config", off, "-token-file", right, "log-level"}, 1},
		{nil, []string{"-config", good, "-admin", srv.URL + "/", "-token-file", right, "log-level"}, 0},
		{nil, []string{"-config", good, "-token-file", filepath.Join(dir, "missing"), "log-level"}, 1},
	} {
		code, stdout, stderr := runCtl(t, tc.env, tc.args...)
		if code != tc.code {
			t.Errorf("%q with %v: exit %d, want %d\n%s%s", tc.args, tc.env, code, tc.code, stdout, stderr)
		}
		if code == 0 && stdout != "log level: info\n" {
			t.Errorf("%q: %q", tc.args, stdout)
		}
	}
	if _, _, stderr := runCtl(t, nil, "-config", off, "status"); !strings.Contains(stderr, "listen.admin is empty") {
		t.Errorf("admin listener off: %q", stderr)
	}
	missing := filepath.Join(dir, "missing.yaml")
	if u, err := adminBase("", nil, missing); err != nil || u != defaultAdminURL {
		t.Errorf("no file read: %q %v, want %s", u, err, defaultAdminURL)
	}
}

// TestCtlDaemon runs ctl against the admin API of a smppmux run as main
// runs it: the commands reach it and act on its upstream and clients.
func TestCtlDaemon(t *testing.T) {
	t.Parallel()
	smsc := smsctest.Start(t, smsctest.Config{})
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	yaml := fmt.Sprintf(`
listen: {smpp: "127.0.0.1:0", admin: "127.0.0.1:0"}
admin: {token: %q}
log: {format: json}
state_dir: %q
clients: [{system_id: shop, password: secret}]
upstreams: [{name: a, addr: %q, system_id: mux, reconnect_min: 10ms, reconnect_max: 50ms}]
groups: [{name: main, members: [{upstream: a}]}]
routes: [{group: main}]
`, ctlToken, filepath.Join(dir, "state"), smsc.Addr())
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(ctlToken), 0o600); err != nil {
		t.Fatal(err)
	}
	logs, listening := startServe(t, path, yaml)
	adminAddr, _ := listening["admin"].(string)
	smppAddr, _ := listening["smpp"].(string)
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if err := smsc.WaitBinds(wctx, 1); err != nil {
		t.Fatal(err)
	}
	ctlRun := func(args ...string) string {
		t.Helper()
		code, stdout, stderr := runCtl(t, nil, append([]string{"-admin", "http://" + adminAddr, "-token-file", tokenFile}, args...)...)
		if code != 0 {
			t.Fatalf("%q: exit %d: %s", args, code, stderr)
		}
		return stdout
	}
	// waitStatus waits until the status shows want: the SMSC sees the
	// bind a moment before smppmux reads its answer.
	waitStatus := func(want string) {
		t.Helper()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for out := ""; !strings.Contains(out, want); out = ctlRun("status") {
			select {
			case <-tick.C:
			case <-wctx.Done():
				t.Fatalf("status never showed %q:\n%s", want, out)
			}
		}
	}
	waitStatus("a         running  1/1")
	ctlRun("upstream", "stop", "a")
	if out := ctlRun("status"); !strings.Contains(out, "a         stopped  0/1") {
		t.Fatalf("stopped upstream:\n%s", out)
	}
	ctlRun("upstream", "start", "a")
	waitStatus("a         running  1/1")

	shop := esmetest.Bind(t, wctx, esmetest.Config{Addr: smppAddr, SystemID: "shop", Password: "secret", Bind: pdu.BindTransmitter})
	if out := ctlRun("client", "kick", "shop", "maintenance"); out != "client shop kicked: 1 session closed\n" {
		t.Fatalf("kick: %q", out)
	}
	select {
	case <-shop.Done():
	case <-wctx.Done():
		t.Fatal("the kicked session stayed open")
	}
	waitLog(t, logs, "of the kick", func(l map[string]any) bool {
		return l["msg"] == "session kicked by an operator" && l["why"] == "maintenance"
	})
	if out := ctlRun("log-level", "warn"); out != "log level: warn\n" {
		t.Fatalf("log-level warn: %q", out)
	}
	if out := ctlRun("outbox", "list", "shop"); out != "outbox of shop: 0 items waiting\n" {
		t.Fatalf("outbox list: %q", out)
	}
	if strings.Contains(logs.String(), ctlToken) {
		t.Error("the daemon logged the token")
	}
}

// TestCtlFromMain: main runs ctl: its usage for -h (exit 0), a wrong
// command line exits 2.
func TestCtlFromMain(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runCLI(t, "ctl", "-h")
	if code != 0 || !strings.Contains(stdout, "usage: smppmux ctl") || stderr != "" {
		t.Errorf("ctl -h: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, "ctl")
	if code != 2 || !strings.Contains(stderr, "no command") || stdout != "" {
		t.Errorf("ctl: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, stdout, _ := runCLI(t, "help"); code != 0 || !strings.Contains(stdout, "smppmux ctl COMMAND") {
		t.Errorf("help does not name ctl:\n%s", stdout)
	}
}
