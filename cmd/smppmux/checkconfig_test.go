package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smppmux/smppmux/config"
)

// stateDirConfig writes a valid configuration whose state_dir is dir.
func stateDirConfig(t *testing.T, dir string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "smppmux.yaml")
	yaml := fmt.Sprintf(`
state_dir: %q
listen: {smpp: "127.0.0.1:2775"}
clients: [{system_id: shop, password: secret}]
upstreams: [{name: a, addr: "127.0.0.1:1", system_id: x}]
groups: [{name: g, members: [{upstream: a}]}]
routes: [{group: g}]
`, dir)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestCheckConfigSmallStateDir: check-config warns, and still passes,
// when state_dir is on a file system smaller than the store needs, and
// says nothing of a large one.
func TestCheckConfigSmallStateDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	file := stateDirConfig(t, dir)
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	var asked string
	warnStateDir(&out, file, cfg, func(d string) (int64, error) {
		asked = d
		return 96 << 20, nil
	})
	want := file + ": warning: state_dir " + dir + " is on a file system of 96 MiB, smaller than the 256 MiB the store needs at least"
	if asked != dir || !strings.Contains(out.String(), want) {
		t.Fatalf("output %q (asked about %q), want %q", out.String(), asked, want)
	}
	out.Reset()
	warnStateDir(&out, file, cfg, func(string) (int64, error) { return 1 << 40, nil })
	if out.Len() != 0 {
		t.Fatalf("warning for a 1 TiB file system: %q", out.String())
	}
	// The whole command: the check passes, whatever the size.
	out.Reset()
	if err := run(context.Background(), []string{"check-config", file}, &out, &out); err != nil || !strings.Contains(out.String(), ": ok (") {
		t.Fatalf("check-config: %v, %q", err, out.String())
	}
}

// TestStoreSummary: check-config names the store's sync mode, and says
// Redis syncs by its own settings.
func TestStoreSummary(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s    config.Store
		want string
	}{
		{config.Store{Kind: config.StorePebble, Sync: config.SyncAlways, SyncInterval: 5 * time.Millisecond}, "pebble, sync always"},
		{config.Store{Kind: config.StorePebble, Sync: config.SyncInterval, SyncInterval: 5 * time.Millisecond},
			"pebble, sync interval 5ms (a power loss may lose the writes answered in the last 5ms)"},
		{config.Store{Kind: config.StoreRedis, Sync: config.SyncAlways}, "redis (synced as its appendfsync says)"},
	} {
		if got := storeSummary(&tc.s); got != tc.want {
			t.Errorf("storeSummary(%+v) = %q, want %q", tc.s, got, tc.want)
		}
	}
}
