package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// runCLI runs the command line args as main would and returns its exit
// status, stdout and stderr.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	// A command that would start a daemon or a simulator returns at once.
	cancel()
	err := run(ctx, args, &out, &errOut)
	code = exitCode(err, &errOut)
	return code, out.String(), errOut.String()
}

// TestHelp: every subcommand answers -h with its usage on stdout, and
// exits 0 without doing anything else.
func TestHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-h"}, {"-help"}, {"--help"}, {"help"},
		{"check-config", "-h"}, {"check-config", "--help"},
		{"version", "-h"},
		{"sim", "-h"}, {"bench", "-h"}, {"send", "-h"}, {"idle", "-h"},
	} {
		code, stdout, stderr := runCLI(t, args...)
		if code != 0 {
			t.Errorf("%q: exit %d, want 0; stderr:\n%s", args, code, stderr)
		}
		if !strings.Contains(stdout, "usage: smppmux") {
			t.Errorf("%q: no usage on stdout:\n%s", args, stdout)
		}
		if stderr != "" {
			t.Errorf("%q: stderr %q", args, stderr)
		}
	}
}

// TestWrongCommandLine: an unknown subcommand, an unknown flag or a stray
// argument prints what is wrong and the usage, and exits 2; no daemon
// starts, no file is read.
func TestWrongCommandLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"chek-config", "x.yaml"}, `unknown subcommand "chek-config"`},
		{[]string{"-config", "c.yaml", "extra"}, `unknown subcommand "extra"`},
		{[]string{"-config", "c.yaml", "sim"}, `-config applies to the daemon and check-config`},
		{[]string{"-nosuchflag"}, "flag provided but not defined: -nosuchflag"},
		{[]string{"check-config", "a.yaml", "b.yaml"}, `unexpected argument "b.yaml"`},
		{[]string{"-config", "a.yaml", "check-config", "b.yaml"}, `unexpected argument "b.yaml"`},
		{[]string{"version", "now"}, `unexpected argument "now"`},
		{[]string{"-version", "sim"}, `-version takes no subcommand`},
		{[]string{"help", "me"}, `help takes no argument`},
		{[]string{"sim", "stray"}, `unexpected argument "stray"`},
		{[]string{"bench", "stray"}, `unexpected argument "stray"`},
		{[]string{"send", "stray"}, `unexpected argument "stray"`},
		{[]string{"idle", "stray"}, `unexpected argument "stray"`},
		{[]string{"sim", "-listen"}, "flag needs an argument: -listen"},
	} {
		code, stdout, stderr := runCLI(t, tc.args...)
		if code != 2 {
			t.Errorf("%q: exit %d, want 2; stderr:\n%s", tc.args, code, stderr)
		}
		if !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "usage: smppmux") {
			t.Errorf("%q: stderr lacks %q or the usage:\n%s", tc.args, tc.want, stderr)
		}
		if stdout != "" {
			t.Errorf("%q: stdout %q", tc.args, stdout)
		}
	}
}

// TestCheckConfigTakesDaemonFlag: "smppmux -config FILE check-config"
// checks FILE and starts nothing.
func TestCheckConfigTakesDaemonFlag(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runCLI(t, "-config", "../../config.yaml", "check-config")
	if code != 0 || !strings.Contains(stdout, "../../config.yaml: ok") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	code, _, stderr = runCLI(t, "-config", missing, "check-config")
	if code != 1 || !strings.Contains(stderr, missing) {
		t.Fatalf("missing file: exit %d, stderr:\n%s", code, stderr)
	}
}

// TestCheckConfigDefaultFile: without a file, check-config reads the
// daemon's default, and says which file it read.
func TestCheckConfigDefaultFile(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(defaultConfig); err == nil {
		t.Skipf("%s exists on this machine: the default is not missing", defaultConfig)
	}
	code, _, stderr := runCLI(t, "check-config")
	if code != 1 || !strings.Contains(stderr, defaultConfig) {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"-version"}} {
		code, stdout, stderr := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("%q: exit %d, stderr:\n%s", args, code, stderr)
		}
		if !strings.HasPrefix(stdout, "smppmux ") || !strings.Contains(stdout, "(commit ") ||
			!strings.Contains(stdout, runtime.Version()) || strings.Count(stdout, "\n") != 1 {
			t.Errorf("%q: %q", args, stdout)
		}
	}
}
