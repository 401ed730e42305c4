package metrics

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

func TestPromlint(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	snap := testSnapshot()
	snap.Store.LSM = &LSMInfo{L0Tables: 1}
	allEvents(New(reg, fixedSource{snap}))

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	// Every family must be present, or the linter would skip it.
	got := make(map[string]bool)
	for _, mf := range mfs {
		got[mf.GetName()] = true
	}
	for _, name := range allNames {
		if !got[name] {
			t.Errorf("%s missing from the scrape", name)
		}
	}
	if len(mfs) != len(allNames) {
		t.Errorf("%d families, want %d", len(mfs), len(allNames))
	}

	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestReadmeListsEveryMetric(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range allNames {
		if !strings.Contains(string(b), "| `"+name+"` |") {
			t.Errorf("README.md has no row for %s", name)
		}
	}
}

// TestDashboardUsesKnownMetrics: every metric the Grafana dashboard
// queries exists.
func TestDashboardUsesKnownMetrics(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../grafana/smppmux.json")
	if err != nil {
		t.Fatal(err)
	}
	used := regexp.MustCompile(`smppmux_[a-z_]+`).FindAllString(string(b), -1)
	if len(used) == 0 {
		t.Fatal("the dashboard queries no metric")
	}
	for _, name := range used {
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suffix); ok && slices.Contains(allNames, b) {
				base = b
			}
		}
		if !slices.Contains(allNames, base) {
			t.Errorf("the dashboard queries %s, which smppmux does not export", name)
		}
	}
}
