package main

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

var committedAt = time.Date(2026, 11, 29, 23, 45, 0, 0, time.FixedZone("CET", 3600))

func TestDebVersion(t *testing.T) {
	t.Parallel()
	at := func() (time.Time, error) { return committedAt, nil }
	for _, tc := range []struct{ in, want string }{
		{"v1.2.3", "1.2.3"},
		{"1.2.3", "1.2.3"},
		{"v1.2.3-dirty", "1.2.3+dirty"},
		{"v1.2.3-rc1", "1.2.3~rc1"},
		{"v1.2.3-rc.1", "1.2.3~rc.1"},
		{"v1.2.3-4-gabc1234", "1.2.3+4.gabc1234"},
		{"v1.2.3-4-gabc1234-dirty", "1.2.3+4.gabc1234+dirty"},
		{"v1.2.3-rc1-4-gabc1234", "1.2.3~rc1+4.gabc1234"},
		{"5541283", "0~20261129224500.g5541283"}, // the commit's time in UTC
		{"abc1234-dirty", "0~20261129224500.gabc1234+dirty"},
		// Go module versions, of a go install.
		{"v0.0.0-20261129234500-5541283abcde", "0.0.0~20261129234500.5541283abcde"},
		{"v1.2.4-0.20261129234500-5541283abcde+dirty", "1.2.4~0.20261129234500.5541283abcde+dirty"},
	} {
		got, err := debVersion(tc.in, at)
		if err != nil || got != tc.want {
			t.Errorf("debVersion(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "unknown", "release", "v1.2.3 extra", "vX", "v1.2.3-rc_1", "v1.2.3-"} {
		if got, err := debVersion(bad, at); err == nil {
			t.Errorf("debVersion(%q) = %q, want an error", bad, got)
		}
	}
	if _, err := debVersion("unknown", at); !errors.Is(err, errUnknown) {
		t.Errorf("debVersion(unknown): %v, want errUnknown", err)
	}
	gitFails := errors.New("not a repository")
	if _, err := debVersion("5541283", func() (time.Time, error) { return time.Time{}, gitFails }); !errors.Is(err, gitFails) {
		t.Errorf("debVersion of a bare hash without its time: %v, want %v", err, gitFails)
	}
}

// TestDebVersionOrder: dpkg orders the versions as git does, each below
// the next, and a build with changes after its commit or tag.
func TestDebVersionOrder(t *testing.T) {
	t.Parallel()
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		t.Skip("dpkg not installed: the versions' order is not checked")
	}
	less := func(a, b string) {
		t.Helper()
		if out, err := exec.Command(dpkg, "--compare-versions", a, "lt", b).CombinedOutput(); err != nil {
			t.Errorf("dpkg: %s is not before %s (%v %s)", a, b, err, out)
		}
	}
	// Untagged commits: def5678 a day after abc1234.
	committed := map[string]time.Time{"abc1234": committedAt, "def5678": committedAt.AddDate(0, 0, 1)}
	deb := func(in string) string {
		t.Helper()
		hash := strings.TrimSuffix(in, "-dirty")
		v, err := debVersion(in, func() (time.Time, error) { return committed[hash], nil })
		if err != nil {
			t.Fatalf("debVersion(%q): %v", in, err)
		}
		return v
	}
	order := []string{
		"abc1234",
		"def5678",
		"v0.1.0-rc1",
		"v0.1.0-rc1-3-gabc1234",
		"v0.1.0-rc2",
		"v0.1.0",
		"v0.1.0-1-gdef5678",
		"v0.1.0-12-g0123abc",
		"v0.1.1",
		"v1.0.0",
	}
	for i, in := range order {
		less(deb(in), deb(in+"-dirty"))
		if i > 0 {
			less(deb(order[i-1]), deb(in))
		}
	}
}

func TestParseVersionLine(t *testing.T) {
	t.Parallel()
	v, c, err := parseVersionLine("smppmux v1.2.3-4-gabc1234 (commit abc1234def+dirty, go1.26.8)\n")
	if err != nil || v != "v1.2.3-4-gabc1234" || c != "abc1234def+dirty" {
		t.Errorf("parseVersionLine = %q, %q, %v", v, c, err)
	}
	if _, _, err := parseVersionLine("smppmux: unknown subcommand\n"); err == nil {
		t.Error("parseVersionLine accepted a line that is no version")
	}
}
