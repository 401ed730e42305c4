// Package systemd_test installs smppmux as make install does, into a
// staging root, and checks that the service's user can read its
// configuration and that the unit and its documentation hold together.
// It needs root (to create a user and give files to its group) and skips
// otherwise, saying so.
package systemd_test

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

const prefix = "/opt/smx"

// TestInstall: make install into DESTDIR with PREFIX, then check-config as
// the service's user (not root) succeeds against the installed layout, a
// user outside its group cannot read the configuration, the unit names
// the binary and documentation under PREFIX and runs as that user, and
// make uninstall removes what install added but the configuration.
func TestInstall(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: make install creates a system user and gives /etc/smppmux to its group")
	}
	for _, cmd := range []string{"make", "useradd", "userdel", "setpriv"} {
		if _, err := exec.LookPath(cmd); err != nil {
			t.Skipf("%s not installed: %v", cmd, err)
		}
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	name := "smxt" + hex.EncodeToString(b)
	t.Cleanup(func() {
		if out, err := exec.Command("userdel", name).CombinedOutput(); err != nil {
			t.Logf("userdel %s: %v %s", name, err, out)
		}
	})
	// The staging root must be reachable by the service's user.
	dest := filepath.Join(t.TempDir(), "root")
	for d := dest; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.MkdirAll(d, 0o755); err == nil {
			_ = os.Chmod(d, 0o755)
		}
	}
	run := func(target string, extra ...string) string {
		t.Helper()
		args := append([]string{"-C", "..", target, "DESTDIR=" + dest, "PREFIX=" + prefix,
			"SMPPMUX_USER=" + name, "SMPPMUX_CREATE_USER=yes"}, extra...)
		out, err := exec.Command("make", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("make %s: %v\n%s", target, err, out)
		}
		return string(out)
	}
	run("install")
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("make install created no user %s: %v", name, err)
	}

	bin := dest + prefix + "/bin/smppmux"
	conf := dest + "/etc/smppmux/config.yaml"
	for path, want := range map[string]os.FileMode{
		bin:                   0o755,
		dest + "/etc/smppmux": os.ModeDir | 0o750,
		conf:                  0o640,
		conf + ".example":     0o640,
		dest + prefix + "/share/man/man8/smppmux.8":        0o644,
		dest + prefix + "/share/doc/smppmux/README.md":     0o644,
		dest + prefix + "/share/smppmux/smppmux.rules.yml": 0o644,
		dest + prefix + "/share/smppmux/smppmux.json":      0o644,
		dest + "/etc/systemd/system/smppmux.service":       0o644,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Errorf("not installed: %v", err)
			continue
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
		}
	}
	for _, path := range []string{dest + "/etc/smppmux", conf} {
		if fi, err := os.Stat(path); err == nil {
			st := fi.Sys().(*syscall.Stat_t)
			if st.Uid != 0 || strconv.Itoa(int(st.Gid)) != u.Gid {
				t.Errorf("%s: owned by %d:%d, want root:%s (%s)", path, st.Uid, st.Gid, name, u.Gid)
			}
		}
	}

	// check-config as the service's user, and as a user outside its group.
	asUser := func(uid, gid string) (string, error) {
		cmd := exec.Command("setpriv", "--reuid="+uid, "--regid="+gid, "--init-groups", bin, "check-config", conf)
		if uid != u.Uid {
			cmd = exec.Command("setpriv", "--reuid="+uid, "--regid="+gid, "--clear-groups", bin, "check-config", conf)
		}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := asUser(u.Uid, u.Gid); err != nil || !strings.Contains(out, conf+": ok") {
		t.Errorf("check-config as %s: %v\n%s", name, err, out)
	}
	if nobody, err := user.Lookup("nobody"); err == nil {
		out, err := asUser(nobody.Uid, nobody.Gid)
		if err == nil || !strings.Contains(out, "permission denied") {
			t.Errorf("check-config as nobody: %v\n%s; want permission denied", err, out)
		}
	}

	unit, err := os.ReadFile(dest + "/etc/systemd/system/smppmux.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\nExecStart=" + prefix + "/bin/smppmux -config /etc/smppmux/config.yaml\n",
		"\nExecStartPre=" + prefix + "/bin/smppmux check-config /etc/smppmux/config.yaml\n",
		"\nUser=" + name + "\n", "\nGroup=" + name + "\n",
		"\nDocumentation=man:smppmux(8) file://" + prefix + "/share/doc/smppmux/README.md\n",
	} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q:\n%s", strings.TrimSpace(want), unit)
		}
	}
	if strings.Contains(string(unit), "/usr/local") || strings.Contains(string(unit), "DynamicUser=yes") {
		t.Errorf("unit names /usr/local or a dynamic user:\n%s", unit)
	}
	verifyUnit(t, string(unit), dest)

	// Installing again keeps an edited configuration.
	if err := os.WriteFile(conf, append(mustRead(t, conf), "# edited\n"...), 0o640); err != nil {
		t.Fatal(err)
	}
	run("install")
	if !strings.HasSuffix(string(mustRead(t, conf)), "# edited\n") {
		t.Error("make install overwrote an existing config.yaml")
	}

	run("uninstall")
	for _, path := range []string{bin, conf + ".example", dest + "/etc/systemd/system/smppmux.service",
		dest + prefix + "/share/man/man8/smppmux.8", dest + prefix + "/share/doc/smppmux/README.md",
		dest + prefix + "/share/smppmux/smppmux.rules.yml"} {
		if _, err := os.Stat(path); err == nil {
			t.Errorf("make uninstall left %s", path)
		}
	}
	if _, err := os.Stat(conf); err != nil {
		t.Errorf("make uninstall removed the configuration: %v", err)
	}
}

// verifyUnit runs systemd-analyze verify on the unit with its paths moved
// under dest, where the binary and the man page are.
func verifyUnit(t *testing.T, unit, dest string) {
	t.Helper()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Logf("systemd-analyze not installed: the unit's syntax is not verified")
		return
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "smppmux.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, prefix+"/bin/", dest+prefix+"/bin/")), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("systemd-analyze", "verify", path)
	cmd.Env = append(os.Environ(), "MANPATH="+dest+prefix+"/share/man")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestManPage: the man page the unit's Documentation= names formats
// without warnings and covers every subcommand.
func TestManPage(t *testing.T) {
	t.Parallel()
	page := string(mustRead(t, "../man/smppmux.8"))
	for _, sub := range []string{"check\\-config", "version", "sim", "bench", "send", "idle", "SIGHUP", "/etc/smppmux/config.yaml", "EXIT STATUS"} {
		if !strings.Contains(page, sub) {
			t.Errorf("man page lacks %q", sub)
		}
	}
	if !strings.Contains(string(mustRead(t, "smppmux.service")), "Documentation=man:smppmux(8)") {
		t.Error("the unit does not name the man page")
	}
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Skip("groff not installed: the man page is not formatted")
	}
	out, err := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z", "../man/smppmux.8").CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("groff: %v\n%s", err, out)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
