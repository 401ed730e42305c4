package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// listen opens a unixgram socket named name and points $NOTIFY_SOCKET at
// it.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv(EnvSocket, name)
	return c
}

// recv returns the next datagram on c.
func recv(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	return string(buf[:n])
}

func TestNotify(t *testing.T) {
	c := listen(t, filepath.Join(t.TempDir(), "notify"))
	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"ready", Ready, "READY=1"},
		{"stopping", Stopping, "STOPPING=1"},
		{"watchdog", Watchdog, "WATCHDOG=1"},
		{"status", func() error { return Status("serving 3 binds") }, "STATUS=serving 3 binds"},
		{"status on one line", func() error { return Status("a\nb\r\nc") }, "STATUS=a b c"},
	} {
		if err := tc.call(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := recv(t, c); got != tc.want {
			t.Errorf("%s: sent %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestReloading(t *testing.T) {
	c := listen(t, filepath.Join(t.TempDir(), "notify"))
	before := monotonicUsec(t)
	if err := Reloading(); err != nil {
		t.Fatal(err)
	}
	after := monotonicUsec(t)
	got := recv(t, c)
	lines := strings.Split(got, "\n")
	if len(lines) != 2 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") {
		t.Fatalf("sent %q, want RELOADING=1 and MONOTONIC_USEC", got)
	}
	usec, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64)
	if err != nil {
		t.Fatalf("MONOTONIC_USEC: %v", err)
	}
	if usec < before || usec > after {
		t.Fatalf("MONOTONIC_USEC=%d outside [%d, %d]", usec, before, after)
	}
}

func monotonicUsec(t *testing.T) int64 {
	t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return ts.Sec*1_000_000 + ts.Nsec/1_000
}

func TestAbstractSocket(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("abstract sockets are a Linux feature")
	}
	name := fmt.Sprintf("@smppmux-sdnotify-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	c := listen(t, name)
	if err := Ready(); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, c); got != "READY=1" {
		t.Fatalf("sent %q, want READY=1", got)
	}
}

func TestNoSocket(t *testing.T) {
	t.Setenv(EnvSocket, "")
	t.Setenv(EnvWatchdogUsec, "30000000")
	for name, call := range map[string]func() error{
		"Ready": Ready, "Stopping": Stopping, "Reloading": Reloading, "Watchdog": Watchdog,
		"Status": func() error { return Status("x") },
	} {
		if err := call(); err != nil {
			t.Errorf("%s without NOTIFY_SOCKET: %v", name, err)
		}
	}
	if d, ok := WatchdogInterval(); ok {
		t.Errorf("WatchdogInterval without NOTIFY_SOCKET = %v, true", d)
	}
}

func TestBadSocket(t *testing.T) {
	t.Setenv(EnvSocket, "relative/path")
	if err := Ready(); !errors.Is(err, ErrSocket) {
		t.Errorf("relative NOTIFY_SOCKET: %v, want ErrSocket", err)
	}
	t.Setenv(EnvSocket, filepath.Join(t.TempDir(), "nobody-listens"))
	if err := Ready(); err == nil {
		t.Error("NOTIFY_SOCKET without a listener: no error")
	}
}

func TestWatchdogInterval(t *testing.T) {
	t.Setenv(EnvSocket, "/run/systemd/notify")
	self := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
		ok        bool
	}{
		{"30000000", "", 30 * time.Second, true},
		{"30000000", self, 30 * time.Second, true},
		{"500", self, 500 * time.Microsecond, true},
		{"30000000", strconv.Itoa(os.Getpid() + 1), 0, false},
		{"30000000", "not-a-pid", 0, false},
		{"", "", 0, false},
		{"0", self, 0, false},
		{"-5", self, 0, false},
		{"30s", self, 0, false},
		{"99999999999999999999", self, 0, false},
	} {
		t.Setenv(EnvWatchdogUsec, tc.usec)
		t.Setenv(EnvWatchdogPID, tc.pid)
		d, ok := WatchdogInterval()
		if d != tc.want || ok != tc.ok {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: %v, %v; want %v, %v", tc.usec, tc.pid, d, ok, tc.want, tc.ok)
		}
	}
}
