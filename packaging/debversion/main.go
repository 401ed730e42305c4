// Command debversion prints the Debian package version of an smppmux
// binary, made from the version that binary reports:
//
//	go run ./packaging/debversion bin/smppmux
//
// It runs "BINARY version", which prints "smppmux VERSION (commit C, GO)"
// (internal/buildinfo), and rewrites VERSION, a git describe or a Go module
// version, so that dpkg orders builds as git does:
//
//	v1.2.3                  1.2.3
//	v1.2.3-rc1              1.2.3~rc1           (before 1.2.3)
//	v1.2.3-4-gabc1234       1.2.3+4.gabc1234    (after 1.2.3, before 1.2.4)
//	abc1234 (no tag yet)    0~20261129234500.gabc1234, the commit's time in UTC
//	                        (from git log), so later commits sort later and
//	                        any tag sorts after them
//	...-dirty               ...+dirty
//
// A binary whose version is "unknown" (built without make build and outside
// a module) has no package version: debversion fails, saying so.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: debversion BINARY\n\nPrints the Debian version of the smppmux binary BINARY, from BINARY version.")
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	out, err := exec.Command(flag.Arg(0), "version").Output()
	if err != nil {
		fmt.Fprintf(os.Stderr, "debversion: %s version: %v\n", flag.Arg(0), err)
		os.Exit(1)
	}
	version, commit, err := parseVersionLine(string(out))
	if err == nil {
		var v string
		v, err = debVersion(version, func() (time.Time, error) { return commitTime(commit) })
		if err == nil {
			fmt.Println(v)
			return
		}
	}
	fmt.Fprintf(os.Stderr, "debversion: %s: %v\n", flag.Arg(0), err)
	os.Exit(1)
}

// versionLine is what smppmux version prints (buildinfo.Info.String).
var versionLine = regexp.MustCompile(`^smppmux (\S+) \(commit (\S+), [^)]*\)\n?$`)

// parseVersionLine returns the version and commit of a line smppmux
// version printed.
func parseVersionLine(line string) (version, commit string, err error) {
	m := versionLine.FindStringSubmatch(line)
	if m == nil {
		return "", "", fmt.Errorf("version printed %q, not \"smppmux VERSION (commit C, GO)\"", strings.TrimSpace(line))
	}
	return m[1], m[2], nil
}

var (
	// describeTail is what git describe adds after a tag: the commits since
	// it and the abbreviated hash.
	describeTail = regexp.MustCompile(`-([0-9]+)-g([0-9a-f]{4,40})$`)
	// bareHash is git describe --always without a tag to describe from.
	bareHash = regexp.MustCompile(`^[0-9a-f]{7,40}$`)
	// tagVersion is a tag that names a version: a digit first, then what a
	// Debian upstream version may hold but hyphens, which separate the
	// pre-release.
	tagVersion = regexp.MustCompile(`^[0-9][0-9A-Za-z.+~]*$`)
	preRelease = regexp.MustCompile(`^[0-9A-Za-z.+-]+$`)
	// debianVersion is a Debian upstream version without epoch or revision.
	debianVersion = regexp.MustCompile(`^[0-9][0-9A-Za-z.+~]*$`)
)

// errUnknown: the binary does not know its version.
var errUnknown = errors.New(`the binary's version is "unknown": build it with make build, which writes git describe into it`)

// debVersion turns a version smppmux reports into a Debian version;
// committed gives the commit's time, needed only when version is a bare
// hash.
func debVersion(version string, committed func() (time.Time, error)) (string, error) {
	if version == "" || version == "unknown" {
		return "", errUnknown
	}
	v, dirty := strings.CutSuffix(version, "-dirty")
	var deb string
	switch {
	case bareHash.MatchString(v):
		t, err := committed()
		if err != nil {
			return "", fmt.Errorf("version %s is a commit without a tag, and its time is needed: %w", version, err)
		}
		deb = "0~" + t.UTC().Format("20060102150405") + ".g" + v
	default:
		var tail string
		if m := describeTail.FindStringSubmatch(v); m != nil {
			tail = "+" + m[1] + ".g" + m[2]
			v = v[:len(v)-len(m[0])]
		}
		v = strings.TrimPrefix(v, "v")
		base, pre, hasPre := strings.Cut(v, "-")
		if !tagVersion.MatchString(base) || (hasPre && !preRelease.MatchString(pre)) {
			return "", fmt.Errorf("version %s is not a version tag (v1.2.3, v1.2.3-rc1) nor a commit", version)
		}
		deb = base
		if hasPre {
			deb += "~" + strings.ReplaceAll(pre, "-", ".")
		}
		deb += tail
	}
	if dirty {
		deb += "+dirty"
	}
	if !debianVersion.MatchString(deb) {
		return "", fmt.Errorf("version %s makes %q, not a Debian version", version, deb)
	}
	return deb, nil
}

// commitTime asks git for the commit's time; commit may carry +dirty.
func commitTime(commit string) (time.Time, error) {
	commit = strings.TrimSuffix(commit, "+dirty")
	if commit == "unknown" {
		return time.Time{}, errors.New("the binary does not know its commit")
	}
	out, err := exec.Command("git", "log", "-1", "--format=%ct", commit).Output()
	if err != nil {
		return time.Time{}, fmt.Errorf("git log %s: %w", commit, err)
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("git log %s printed %q: %w", commit, out, err)
	}
	return time.Unix(sec, 0), nil
}
