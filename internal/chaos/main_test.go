//go:build chaos && linux

package chaos

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
)

// suite is what every scenario shares.
type suite struct {
	bin   string  // smppmux, built once
	dir   string  // the run's directory: configurations and logs
	pre   prereqs // what this machine lacks
	topo  string  // why the namespaces could not be built, if they could not
	netem string  // why there is no netem, if there is none
}

var env suite

// requireAll turns a missing prerequisite into a failure instead of a
// skip: CI sets it, being root with everything installed.
var requireAll = os.Getenv("SMPPMUX_REQUIRE_CHAOS") != ""

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	env.pre = checkPrereqs()
	dir, err := os.MkdirTemp("", "smxc-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env.dir = dir
	env.bin = filepath.Join(dir, "smppmux")
	// Without -race: the load is a thousand messages a second, which a
	// race-instrumented smppmux would spend most of two CPUs on. The
	// suite itself (the load client included) runs under -race.
	build := exec.Command("go", "build", "-o", env.bin, "github.com/smppmux/smppmux/cmd/smppmux")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building smppmux:", err)
		return 1
	}
	if env.pre.base == "" {
		lock, err := lockRun()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer lock.Close()
		cleanStale()
		if err := buildTopology(); err != nil {
			env.topo = "network namespaces: " + err.Error()
		} else {
			env.netem = probeNetem()
		}
		defer cleanStale()
	}
	code := m.Run()
	os.Remove(env.bin)
	printTable(os.Stdout)
	fmt.Printf("logs and configurations: %s\n", env.dir)
	return code
}

// row is one scenario's line of the table.
type row struct {
	n         int
	name      string
	detect    string
	errors    string
	accepted  int
	lost      int
	dups      int
	recovered string
	verdict   string
	notes     []string
}

var (
	rowsMu sync.Mutex
	rows   []row
)

func addRow(r row) {
	rowsMu.Lock()
	defer rowsMu.Unlock()
	rows = append(rows, r)
}

// printTable prints every scenario's row, then their notes.
func printTable(w *os.File) {
	rowsMu.Lock()
	defer rowsMu.Unlock()
	if len(rows) == 0 {
		return
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].n < rows[j].n })
	fmt.Fprintln(w, "\nsmppmux fault suite")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tscenario\tdetection\tclient errors\taccepted\tlost\tdup\trecovered\tresult")
	for _, r := range rows {
		if r.verdict == "SKIP" {
			fmt.Fprintf(tw, "%d\t%s\t-\t-\t-\t-\t-\t-\tSKIP\n", r.n, r.name)
			continue
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n",
			r.n, r.name, r.detect, r.errors, r.accepted, r.lost, r.dups, r.recovered, r.verdict)
	}
	tw.Flush()
	ran, skipped := 0, 0
	for _, r := range rows {
		if r.verdict == "SKIP" {
			skipped++
		} else {
			ran++
		}
	}
	fmt.Fprintf(w, "%d scenarios ran, %d skipped\n", ran, skipped)
	for _, r := range rows {
		for _, n := range r.notes {
			fmt.Fprintf(w, "  %d. %s\n", r.n, n)
		}
	}
}

// need skips the test, with a SKIP row naming what is missing, unless
// every prerequisite it names is there: "iptables", "redis", "disk",
// "netem". A missing netem, a matter of the kernel, skips even when
// SMPPMUX_REQUIRE_CHAOS is set.
func need(t *testing.T, n int, name string, what ...string) {
	t.Helper()
	var why []string
	optional := false
	if env.pre.base != "" {
		why = append(why, env.pre.base)
	} else if env.topo != "" {
		why = append(why, env.topo)
	}
	for _, w := range what {
		switch w {
		case "iptables":
			if env.pre.iptabls != "" {
				why = append(why, env.pre.iptabls)
			}
		case "redis":
			if env.pre.redis != "" {
				why = append(why, env.pre.redis)
			}
		case "disk":
			if env.pre.disk != "" {
				why = append(why, env.pre.disk)
			}
		case "netem":
			if env.netem != "" && len(why) == 0 {
				why = append(why, env.netem)
				optional = true
			}
		}
	}
	if len(why) == 0 {
		return
	}
	msg := "skipped: " + strings.Join(why, "; ")
	addRow(row{n: n, name: name, verdict: "SKIP", notes: []string{msg}})
	if requireAll && !optional {
		t.Fatal(msg + " (SMPPMUX_REQUIRE_CHAOS is set)")
	}
	t.Skip(msg)
}
