package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/smsctest"
)

// TestBenchRelay: bench through the plain relay gets every response and
// receipt of the simulated SMSC behind it, and the relay ends with ctx.
func TestBenchRelay(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{DiscardRecords: true})
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"bench-relay", "-listen", "127.0.0.1:0", "-to", s.Addr()}, pw, pw)
		_ = pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	fields := strings.Fields(line)
	if len(fields) < 6 || fields[3] != "listening" {
		t.Fatalf("first line %q names no address", line)
	}
	addr := strings.TrimSuffix(fields[5], ",")
	var out bytes.Buffer
	if err := run(ctx, []string{"bench", "-addr", addr, "-n", "500", "-window", "50", "-summary", "-strict"}, &out, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	got := summaryFields(t, out.String())
	for k, v := range map[string]string{"accepted": "500", "receipts": "500", "matched": "500", "failed": "0"} {
		if got[k] != v {
			t.Errorf("%s=%s, want %s", k, got[k], v)
		}
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("bench-relay: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("bench-relay did not end with its context")
	}
}
