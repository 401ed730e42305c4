package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	var out bytes.Buffer
	var asked string
	err := checkConfigFS([]string{file}, &out, func(d string) (int64, error) {
		asked = d
		return 96 << 20, nil
	})
	if err != nil {
		t.Fatalf("a small state_dir failed the check: %v", err)
	}
	want := "warning: state_dir " + dir + " is on a file system of 96 MiB, smaller than the 256 MiB the store needs at least"
	if asked != dir || !strings.Contains(out.String(), want) || !strings.Contains(out.String(), ": ok (") {
		t.Fatalf("output %q (asked about %q), want ok and %q", out.String(), asked, want)
	}
	out.Reset()
	if err := checkConfigFS([]string{file}, &out, func(string) (int64, error) { return 1 << 40, nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "warning") {
		t.Fatalf("warning for a 1 TiB file system: %q", out.String())
	}
}
