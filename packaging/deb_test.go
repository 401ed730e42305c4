//go:build deb && linux

package packaging_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	pkg     = "smppmux"
	bin     = "/usr/bin/smppmux"
	confDir = "/etc/smppmux"
	conf    = "/etc/smppmux/config.yaml"
	state   = "/var/lib/smppmux"
	unit    = "/usr/lib/systemd/system/smppmux.service"
	wants   = "/etc/systemd/system/multi-user.target.wants/smppmux.service"
	// The upgrade's version, above any real one.
	upgradeVersion = "v999.0.0"
)

// shipped: what the package installs, but its configuration.
var shipped = []string{
	bin, unit,
	"/usr/share/man/man8/smppmux.8.gz",
	"/usr/share/doc/smppmux/README.md",
	"/usr/share/doc/smppmux/examples/config.yaml",
	"/usr/share/smppmux/smppmux.rules.yml",
	"/usr/share/smppmux/smppmux.json",
	"/usr/share/lintian/overrides/smppmux",
}

// TestPackage builds the package twice (make deb: the tree's version and
// upgradeVersion), installs the first with dpkg -i, checks what it put in
// place, that the service's user reads the configuration and nothing was
// started, upgrades to the second over an edited configuration, which
// stays, removes it (configuration and state stay) and purges it. Under
// systemd it also runs the service, which the upgrade restarts and the
// removal stops.
func TestPackage(t *testing.T) {
	skip := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("SMPPMUX_REQUIRE_DEB") != "" {
			t.Fatalf("SMPPMUX_REQUIRE_DEB is set, but "+format, args...)
		}
		t.Skipf(format, args...)
	}
	if os.Geteuid() != 0 {
		skip("the package test needs root: it installs smppmux with dpkg -i, which writes /usr and /etc and creates a user")
	}
	for _, cmd := range []string{"dpkg", "dpkg-deb", "dpkg-query", "dpkg-statoverride", "setpriv", "make", "git", "userdel"} {
		if _, err := exec.LookPath(cmd); err != nil {
			skip("%s is not installed (the package test needs a Debian system): %v", cmd, err)
		}
	}
	refuseInstalled(t)
	_, err := user.Lookup(pkg)
	hadUser := err == nil

	dir := t.TempDir()
	deb := makeDeb(t, filepath.Join(dir, "1"))
	debUp := makeDeb(t, filepath.Join(dir, "2"), "VERSION="+upgradeVersion)
	checkContents(t, deb)

	t.Cleanup(func() {
		if st := status(t); st != "" {
			if out, err := dpkg("--purge", pkg); err != nil {
				t.Errorf("cleanup: dpkg --purge: %v\n%s", err, out)
			}
		}
		// Neither was there before (refuseInstalled).
		for _, path := range []string{confDir, state} {
			if err := os.RemoveAll(path); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		if !hadUser {
			if out, err := exec.Command("userdel", pkg).CombinedOutput(); err != nil {
				t.Errorf("cleanup: userdel %s: %v\n%s", pkg, err, out)
			}
			if _, err := user.LookupGroup(pkg); err == nil {
				if out, err := exec.Command("groupdel", pkg).CombinedOutput(); err != nil {
					t.Errorf("cleanup: groupdel %s: %v\n%s", pkg, err, out)
				}
			}
		}
	})

	// Install.
	mustDpkg(t, "-i", deb)
	if st := status(t); st != "ii" {
		t.Fatalf("after dpkg -i: status %q, want ii", st)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "smppmux ") {
		t.Fatalf("smppmux version: %v\n%s", err, out)
	}
	t.Logf("installed %s: %s", version(t), strings.TrimSpace(string(out)))
	if want := debVersionOf(t, bin); version(t) != want {
		t.Errorf("package version %s, but the binary says %s (%s)", version(t), strings.TrimSpace(string(out)), want)
	}
	svc := lookupService(t)
	checkInstalled(t, svc)
	checkUnit(t)
	checkConfigAs(t, svc)
	checkNotStarted(t)

	// Under systemd: the service runs on ports of the test's own.
	systemd := isDir("/run/systemd/system")
	var pid string
	if systemd {
		edit(t, func(s string) string {
			s = strings.Replace(s, `smpp: "127.0.0.1:2775"`, `smpp: "127.0.0.1:22201"`, 1)
			return strings.Replace(s, `admin: "127.0.0.1:9090"`, `admin: "127.0.0.1:22202"`, 1)
		})
		pid = startService(t)
	} else {
		t.Log("systemd is not running: the restart on upgrade and the stop on removal are not checked")
	}

	// Upgrade over an edited configuration.
	edit(t, func(s string) string { return s + "# edited\n" })
	mustDpkg(t, "-i", debUp)
	if st, v := status(t), version(t); st != "ii" || v != strings.TrimPrefix(upgradeVersion, "v") {
		t.Fatalf("after the upgrade: status %q version %q, want ii %s", st, v, strings.TrimPrefix(upgradeVersion, "v"))
	}
	if out, err := exec.Command(bin, "version").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "smppmux "+upgradeVersion+" ") {
		t.Errorf("smppmux version after the upgrade: %v %s", err, out)
	}
	if !strings.HasSuffix(string(mustRead(t, conf)), "# edited\n") {
		t.Error("the upgrade replaced the edited configuration")
	}
	if m, _ := filepath.Glob(confDir + "/*.dpkg-*"); len(m) > 0 {
		t.Errorf("the upgrade left %v", m)
	}
	checkInstalled(t, svc)
	checkConfigAs(t, svc)
	if systemd {
		if now := mainPID(t); now == "0" || now == pid {
			t.Errorf("the upgrade did not restart the running service: MainPID %s, before %s", now, pid)
		}
	} else {
		checkNotStarted(t)
	}

	// Remove: the configuration and the state stay, nothing else.
	data := filepath.Join(state, "kept")
	if err := os.WriteFile(data, []byte("state\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustDpkg(t, "-r", pkg)
	if st := status(t); st != "rc" {
		t.Errorf("after dpkg -r: status %q, want rc (removed, configuration kept)", st)
	}
	for _, path := range append(shipped, "/usr/share/smppmux", "/usr/share/doc/smppmux") {
		if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("dpkg -r left %s (%v)", path, err)
		}
	}
	if !strings.HasSuffix(string(mustRead(t, conf)), "# edited\n") {
		t.Error("dpkg -r changed the configuration")
	}
	if _, err := os.Stat(data); err != nil {
		t.Errorf("dpkg -r removed the state directory: %v", err)
	}
	if p := running(t); len(p) > 0 {
		t.Errorf("smppmux still runs after dpkg -r: pids %v", p)
	}

	// Purge: nothing stays but the user.
	mustDpkg(t, "--purge", pkg)
	if st := status(t); st != "" {
		t.Errorf("after dpkg --purge: status %q, want none", st)
	}
	for _, path := range []string{confDir, state, wants} {
		if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("dpkg --purge left %s (%v)", path, err)
		}
	}
	for _, path := range []string{confDir, conf} {
		if out, err := exec.Command("dpkg-statoverride", "--list", path).CombinedOutput(); err == nil {
			t.Errorf("dpkg --purge left the override %s", out)
		}
	}
	if _, err := user.Lookup(pkg); err != nil {
		t.Errorf("dpkg --purge removed the user %s, whose files may remain: %v", pkg, err)
	}
}

// refuseInstalled fails the test when smppmux is on the machine already,
// from a package or from make install: the test would remove, or purge,
// it.
func refuseInstalled(t *testing.T) {
	t.Helper()
	if st := status(t); st != "" {
		t.Fatalf("the package smppmux is installed on this machine (dpkg status %s): refusing to run, the test would remove it", st)
	}
	for _, path := range append(shipped, confDir, state) {
		if _, err := os.Lstat(path); err == nil {
			t.Fatalf("%s exists on this machine (make install?): refusing to run, the test would remove or purge it", path)
		}
	}
}

// makeDeb runs make deb with its binary and package under dir and
// returns the package's path.
func makeDeb(t *testing.T, dir string, vars ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	args := append([]string{"-C", "..", "--no-print-directory", "deb", "BIN=" + filepath.Join(dir, "bin"), "DIST=" + filepath.Join(dir, "dist")}, vars...)
	cmd := exec.CommandContext(ctx, "make", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	path := lines[len(lines)-1]
	if !strings.HasSuffix(path, ".deb") || !strings.HasPrefix(path, dir) {
		t.Fatalf("make deb printed %q last, not the package's path\n%s", path, out)
	}
	return path
}

// checkContents: the package's files are root's, with the modes wanted,
// and config.yaml is its one conffile.
func checkContents(t *testing.T, deb string) {
	t.Helper()
	out, err := exec.Command("dpkg-deb", "--contents", deb).Output()
	if err != nil {
		t.Fatalf("dpkg-deb --contents: %v", err)
	}
	want := map[string]string{
		"." + bin:                           "-rwxr-xr-x",
		"." + unit:                          "-rw-r--r--",
		"." + conf:                          "-rw-r-----",
		"./etc/smppmux/":                    "drwxr-x---",
		"./usr/share/man/man8/smppmux.8.gz": "-rw-r--r--",
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			t.Errorf("dpkg-deb --contents: %q", line)
			continue
		}
		if f[1] != "root/root" {
			t.Errorf("%s is %s's, want root's", f[5], f[1])
		}
		if m, ok := want[f[5]]; ok {
			if f[0] != m {
				t.Errorf("%s: mode %s, want %s", f[5], f[0], m)
			}
			delete(want, f[5])
		}
	}
	for path := range want {
		t.Errorf("the package lacks %s", path)
	}
	out, err = exec.Command("dpkg-deb", "--info", deb, "conffiles").Output()
	if err != nil || strings.TrimSpace(string(out)) != conf {
		t.Errorf("conffiles: %v %q, want %s", err, out, conf)
	}
}

// service is the package's system user.
type service struct{ uid, gid int }

func lookupService(t *testing.T) service {
	t.Helper()
	u, err := user.Lookup(pkg)
	if err != nil {
		t.Fatalf("the package created no user %s: %v", pkg, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if g, err := user.LookupGroupId(u.Gid); err != nil || g.Name != pkg {
		t.Errorf("user %s's group is %v (%v), want %s", pkg, g, err, pkg)
	}
	if u.HomeDir != state {
		t.Errorf("user %s's home %s, want %s", pkg, u.HomeDir, state)
	}
	if uid == 0 || uid >= 1000 {
		t.Errorf("user %s has uid %d, not a system user's", pkg, uid)
	}
	out, _ := exec.Command("getent", "passwd", pkg).Output()
	if !strings.HasSuffix(strings.TrimSpace(string(out)), ":/usr/sbin/nologin") {
		t.Errorf("user %s can log in: %s", pkg, out)
	}
	return service{uid, gid}
}

// checkInstalled: the files are in place with their owners and modes;
// the configuration is the service's group's to read only.
func checkInstalled(t *testing.T, svc service) {
	t.Helper()
	for _, path := range shipped {
		if _, err := os.Stat(path); err != nil {
			t.Errorf("not installed: %v", err)
		}
	}
	for _, c := range []struct {
		path     string
		mode     fs.FileMode
		uid, gid int
	}{
		{bin, 0o755, 0, 0},
		{unit, 0o644, 0, 0},
		{confDir, fs.ModeDir | 0o750, 0, svc.gid},
		{conf, 0o640, 0, svc.gid},
		{state, fs.ModeDir | 0o750, svc.uid, svc.gid},
	} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != c.mode || int(st.Uid) != c.uid || int(st.Gid) != c.gid {
			t.Errorf("%s: %v %d:%d, want %v %d:%d", c.path, fi.Mode(), st.Uid, st.Gid, c.mode, c.uid, c.gid)
		}
	}
}

// checkUnit: the unit runs /usr/bin/smppmux as the package's user, and
// systemd-analyze finds nothing wrong with it.
func checkUnit(t *testing.T) {
	t.Helper()
	u := string(mustRead(t, unit))
	for _, want := range []string{
		"\nExecStart=/usr/bin/smppmux -config /etc/smppmux/config.yaml\n",
		"\nExecStartPre=/usr/bin/smppmux check-config /etc/smppmux/config.yaml\n",
		"\nUser=smppmux\n", "\nGroup=smppmux\n", "\nStateDirectory=smppmux\n",
		"\nDocumentation=man:smppmux(8) file:///usr/share/doc/smppmux/README.md\n",
	} {
		if !strings.Contains(u, want) {
			t.Errorf("the unit lacks %q", strings.TrimSpace(want))
		}
	}
	if strings.Contains(u, "/usr/local") {
		t.Errorf("the unit names /usr/local:\n%s", u)
	}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("systemd-analyze is not installed: the unit is not verified")
		return
	}
	if out, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput(); err != nil {
		t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
	}
}

// checkConfigAs: smppmux check-config succeeds as the service's user and
// is refused to nobody, outside its group.
func checkConfigAs(t *testing.T, svc service) {
	t.Helper()
	out, err := exec.Command("setpriv", "--reuid="+strconv.Itoa(svc.uid), "--regid="+strconv.Itoa(svc.gid), "--init-groups",
		bin, "check-config", conf).CombinedOutput()
	if err != nil || !strings.Contains(string(out), conf+": ok") {
		t.Errorf("check-config as %s: %v\n%s", pkg, err, out)
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Logf("no user nobody: the configuration's protection is not checked: %v", err)
		return
	}
	out, err = exec.Command("setpriv", "--reuid="+nobody.Uid, "--regid="+nobody.Gid, "--clear-groups",
		bin, "check-config", conf).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "permission denied") {
		t.Errorf("check-config as nobody: %v\n%s; want permission denied", err, out)
	}
}

// checkNotStarted: the package enabled nothing and started nothing.
func checkNotStarted(t *testing.T) {
	t.Helper()
	if _, err := os.Lstat(wants); err == nil {
		t.Errorf("the service is enabled: %s exists", wants)
	}
	if p := running(t); len(p) > 0 {
		t.Errorf("smppmux runs: pids %v", p)
	}
	if isDir("/run/systemd/system") {
		out, _ := exec.Command("systemctl", "is-enabled", pkg).Output()
		if s := strings.TrimSpace(string(out)); s != "disabled" {
			t.Errorf("systemctl is-enabled smppmux: %q, want disabled", s)
		}
	}
}

// startService starts the unit (not enabled) and returns its MainPID.
func startService(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "systemctl", "start", pkg).CombinedOutput(); err != nil {
		logs, _ := exec.Command("journalctl", "-u", pkg, "-n", "50", "--no-pager").CombinedOutput()
		t.Fatalf("systemctl start smppmux: %v\n%s\n%s", err, out, logs)
	}
	pid := mainPID(t)
	if pid == "0" {
		t.Fatal("systemctl start smppmux: no MainPID")
	}
	return pid
}

func mainPID(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("systemctl", "show", "--property=MainPID", "--value", pkg).Output()
	if err != nil {
		t.Fatalf("systemctl show smppmux: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// running lists the processes whose executable is the installed binary
// (or was, before dpkg removed it).
func running(t *testing.T) []string {
	t.Helper()
	exes, _ := filepath.Glob("/proc/[0-9]*/exe")
	var pids []string
	for _, exe := range exes {
		if target, err := os.Readlink(exe); err == nil && strings.TrimSuffix(target, " (deleted)") == bin {
			pids = append(pids, filepath.Base(filepath.Dir(exe)))
		}
	}
	return pids
}

// status is the package's dpkg status, want and state (ii, rc), or ""
// when dpkg does not know it or knows it as not installed.
func status(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("dpkg-query", "--show", "--showformat=${db:Status-Abbrev}", pkg).Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return ""
	}
	if err != nil {
		t.Fatalf("dpkg-query: %v", err)
	}
	if s := strings.TrimSpace(string(out)); s != "un" && s != "pn" {
		return s
	}
	return ""
}

func version(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("dpkg-query", "--show", "--showformat=${Version}", pkg).Output()
	if err != nil {
		t.Fatalf("dpkg-query: %v", err)
	}
	return string(out)
}

// debVersionOf is the Debian version of the binary's own version.
func debVersionOf(t *testing.T, binary string) string {
	t.Helper()
	out, err := exec.Command("go", "run", "./debversion", binary).Output()
	if err != nil {
		t.Fatalf("debversion %s: %v", binary, err)
	}
	return strings.TrimSpace(string(out))
}

// dpkg runs dpkg without a terminal: a question about a conffile fails
// (end of input) instead of waiting.
func dpkg(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "dpkg", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	return cmd.CombinedOutput()
}

func mustDpkg(t *testing.T, args ...string) {
	t.Helper()
	out, err := dpkg(args...)
	if err != nil {
		t.Fatalf("dpkg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("dpkg %s:\n%s", strings.Join(args, " "), out)
}

// edit rewrites the installed configuration in place, keeping its owner
// and mode.
func edit(t *testing.T, change func(string) string) {
	t.Helper()
	s := string(mustRead(t, conf))
	if err := os.WriteFile(conf, []byte(change(s)), 0o640); err != nil {
		t.Fatal(err)
	}
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
