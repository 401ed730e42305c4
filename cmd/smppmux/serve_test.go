package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the daemon's goroutines; wrote
// hears of every write.
type syncBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	wrote chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{wrote: make(chan struct{}, 1)} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case s.wrote <- struct{}{}:
	default:
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// logLines returns the JSON log lines written so far.
func logLines(t *testing.T, s *syncBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

// waitLog waits until a log line satisfies ok and returns it.
func waitLog(t *testing.T, s *syncBuffer, what string, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		for _, l := range logLines(t, s) {
			if ok(l) {
				return l
			}
		}
		select {
		case <-s.wrote:
		case <-deadline:
			t.Fatalf("no log line %s:\n%s", what, s.String())
		}
	}
}

// startServe writes yaml to path and runs the daemon on it as main does,
// until the test ends; it returns the daemon's log and its "smppmux
// listening" line.
func startServe(t *testing.T, path, yaml string) (*syncBuffer, map[string]any) {
	t.Helper()
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := newSyncBuffer()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, path, logs) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return logs, waitLog(t, logs, "smppmux listening", func(l map[string]any) bool { return l["msg"] == "smppmux listening" })
}

// TestDaemonLogs runs the daemon as main does: a reload through the admin
// API is logged once, with the caller's address, and durations are
// written with their unit.
func TestDaemonLogs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	yaml := fmt.Sprintf(`
listen: {smpp: "127.0.0.1:0", admin: "127.0.0.1:0"}
state_dir: %q
clients: [{system_id: shop, password: secret}]
upstreams: [{name: a, addr: "127.0.0.1:1", system_id: mux, reconnect_min: 1500ms, reconnect_max: 2s}]
groups: [{name: main, members: [{upstream: a}]}]
routes: [{group: main}]
`, filepath.Join(dir, "state"))
	logs, listening := startServe(t, path, yaml)
	admin, _ := listening["admin"].(string)

	// The upstream's SMSC refuses connections: its redial is logged with
	// the wait as a duration with a unit.
	re := waitLog(t, logs, "reconnecting", func(l map[string]any) bool { return l["msg"] == "reconnecting" })
	if in, ok := re["in"].(string); !ok || !regexp.MustCompile(`^[0-9.]+(ms|s)$`).MatchString(in) {
		t.Errorf("reconnecting in %v (%T), want a duration with its unit", re["in"], re["in"])
	}

	resp, err := http.Post("http://"+admin+"/api/v1/reload", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reload: %d", resp.StatusCode)
	}
	waitLog(t, logs, "of the reload", func(l map[string]any) bool { return l["msg"] == "reload" })
	n := 0
	for _, l := range logLines(t, logs) {
		if msg, _ := l["msg"].(string); strings.HasPrefix(msg, "reload") {
			n++
			if remote, _ := l["remote"].(string); !strings.HasPrefix(remote, "127.0.0.1:") {
				t.Errorf("reload line without the caller's address: %v", l)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d reload lines for one reload through the admin API, want 1:\n%s", n, logs.String())
	}
}
