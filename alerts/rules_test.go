// Package alerts_test checks the Prometheus alerting rules shipped in this
// directory: promtool validates them and runs their unit tests, and every
// metric they query must be one smppmux exports (README.md's metrics
// table). Without promtool (Debian's prometheus package: make deps) the
// promtool checks are skipped, saying so, unless SMPPMUX_REQUIRE_PROMTOOL
// is set, as in CI, in which case they fail.
package alerts_test

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const (
	rulesFile = "smppmux.rules.yml"
	testsFile = "smppmux.rules_test.yml"
)

// pending names the metrics a rule queries before smppmux exports them,
// with what brings them.
var pending = map[string]string{}

func promtool(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("SMPPMUX_REQUIRE_PROMTOOL") != "" {
			t.Fatalf("promtool is required (SMPPMUX_REQUIRE_PROMTOOL is set) but not installed: %v", err)
		}
		t.Skip("promtool not installed: the alerting rules are not checked (make deps, or apt-get install prometheus)")
	}
	return bin
}

// TestPromtool validates the rules and runs their unit tests.
func TestPromtool(t *testing.T) {
	t.Parallel()
	bin := promtool(t)
	for _, args := range [][]string{
		{"check", "rules", rulesFile},
		{"test", "rules", testsFile},
	} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			continue
		}
		t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
	}
}

// TestRulesQueryExportedMetrics: every smppmux metric a rule queries is in
// README.md's metrics table, or pending.
func TestRulesQueryExportedMetrics(t *testing.T) {
	t.Parallel()
	rules := read(t, rulesFile)
	readme := read(t, "../README.md")
	used := regexp.MustCompile(`smppmux_[a-z_]+`).FindAllString(rules, -1)
	if len(used) == 0 {
		t.Fatal("the rules query no smppmux metric")
	}
	for _, name := range used {
		base := strings.TrimSuffix(name, "_bucket")
		if why, ok := pending[base]; ok {
			t.Logf("%s is not exported yet (%s): the rule is checked by promtool only", base, why)
			continue
		}
		if !strings.Contains(readme, "| `"+base+"` |") {
			t.Errorf("a rule queries %s, which README.md's metrics table does not list", name)
		}
	}
}

// TestEveryAlertTested: each alert of the rules file fires in a unit test,
// and the README lists it.
func TestEveryAlertTested(t *testing.T) {
	t.Parallel()
	rules, tests, readme := read(t, rulesFile), read(t, testsFile), read(t, "../README.md")
	alerts := regexp.MustCompile(`(?m)^\s+- alert: (\w+)$`).FindAllStringSubmatch(rules, -1)
	if len(alerts) == 0 {
		t.Fatal("no alert in the rules file")
	}
	// A firing case: the alert's name followed by a non-empty exp_alerts.
	firing := regexp.MustCompile(`alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels`).FindAllStringSubmatch(tests, -1)
	var fired []string
	for _, f := range firing {
		fired = append(fired, f[1])
	}
	for _, a := range alerts {
		if !slices.Contains(fired, a[1]) {
			t.Errorf("alert %s never fires in %s", a[1], testsFile)
		}
		if !strings.Contains(readme, "`"+a[1]+"`") {
			t.Errorf("README.md does not list alert %s", a[1])
		}
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
