package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckConfig(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"check-config", "../../config.yaml"}, &out, &out); err != nil {
		t.Fatalf("example config refused: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "ok (1 clients, 2 upstreams, 1 groups, 2 routes)") ||
		!strings.Contains(out.String(), ": store pebble, sync always\n") {
		t.Fatalf("output %q", out.String())
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	yaml := `
listen: {smpp: "127.0.0.1:2775"}
clients:
  - {system_id: shop, password: secret, windw: 5}
upstreams:
  - {name: a, addr: "127.0.0.1:1", system_id: x}
groups:
  - {name: g, members: [{upstream: nope}]}
routes:
  - {group: g}
`
	if err := os.WriteFile(bad, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err := run(context.Background(), []string{"check-config", bad}, &out, &out)
	if err == nil {
		t.Fatal("bad config accepted")
	}
	if !strings.Contains(out.String(), "clients[0].windw") {
		t.Fatalf("unknown key not named: %q", out.String())
	}
}
