// Package scripts_test runs the shell scripts behind make targets.
package scripts_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// freePorts returns the first of n consecutive ports free on 127.0.0.1
// now. The demo takes fixed ports: another process may take one before it
// listens, which fails the run with the address named.
func freePorts(t *testing.T, n int) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := l.Addr().(*net.TCPAddr).Port
		ls := []net.Listener{l}
		ok := base+n <= 65535
		for i := 1; ok && i < n; i++ {
			li, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if err != nil {
				ok = false
				break
			}
			ls = append(ls, li)
		}
		for _, l := range ls {
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatalf("no %d consecutive free ports", n)
	return 0
}

// TestDemo runs make demo's script: it ends with a summary of both phases
// (sent, accepted, receipts matched, how soon the killed SMSC was taken
// out) and removes its temporary directory.
func TestDemo(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"bash", "awk", "sed", "date"} {
		if _, err := exec.LookPath(cmd); err != nil {
			t.Skipf("%s not installed: %v", cmd, err)
		}
	}
	bin := filepath.Join(t.TempDir(), "smppmux")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/smppmux").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command("bash", "demo.sh")
	cmd.Env = append(os.Environ(), "DEMO_BIN="+bin, fmt.Sprintf("DEMO_PORT=%d", freePorts(t, 4)), "DEMO_KEEP=")
	out, err := cmd.CombinedOutput()
	text := string(out)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, text)
	}
	i := strings.LastIndex(text, "== summary")
	if i < 0 {
		t.Fatalf("no summary at the end:\n%s", text)
	}
	summary := text[i:]
	if n := strings.Count(summary, "\n"); n > 12 {
		t.Errorf("summary of %d lines, want one screen:\n%s", n, summary)
	}
	for _, re := range []string{
		`phase\s+sent\s+accepted\s+matched\s+failover`,
		`1\. 10,000, weights 3:1\s+10000\s+\d+\s+\d+\s+-`,
		`2\. 20,000 at 5,000 msg/s, carrier-a killed\s+20000\s+\d+\s+\d+\s+carrier-a out \d+ ms after the kill \(2 binds lost\)`,
	} {
		if !regexp.MustCompile(re).MatchString(summary) {
			t.Errorf("summary lacks %s:\n%s", re, summary)
		}
	}
	m := regexp.MustCompile(`(\S+)/config\.yaml: ok`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no check-config line naming the directory:\n%s", text)
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("the demo left %s (%v)", m[1], err)
		_ = os.RemoveAll(m[1])
	}
}
