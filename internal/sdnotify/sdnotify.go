package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Environment variables systemd sets for the service's main process.
const (
	// EnvSocket names the socket notifications go to.
	EnvSocket = "NOTIFY_SOCKET"
	// EnvWatchdogUsec is the watchdog interval in microseconds.
	EnvWatchdogUsec = "WATCHDOG_USEC"
	// EnvWatchdogPID is the process the watchdog interval is meant for.
	EnvWatchdogPID = "WATCHDOG_PID"
)

// writeTimeout bounds one send: a manager too busy to drain its socket
// must not stall the daemon.
const writeTimeout = time.Second

// ErrSocket means $NOTIFY_SOCKET is neither an absolute path nor an
// abstract socket name.
var ErrSocket = errors.New("sdnotify: unsupported NOTIFY_SOCKET")

// Notify sends state, one or more NEWLINE-separated KEY=VALUE assignments
// such as "READY=1", to $NOTIFY_SOCKET. It does nothing and returns nil
// when the variable is unset or empty.
func Notify(state string) error {
	name := os.Getenv(EnvSocket)
	if name == "" {
		return nil
	}
	if name[0] != '/' && name[0] != '@' {
		return fmt.Errorf("%w: %q", ErrSocket, name)
	}
	// On Linux a leading '@' names an abstract socket: the net package
	// turns it into the leading NUL the kernel expects.
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	defer conn.Close()
	if err := conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	return nil
}

// Ready tells systemd the daemon is up and serving (READY=1); for
// Type=notify, the start job ends here. After a reload it also ends the
// reloading state.
func Ready() error { return Notify("READY=1") }

// Stopping tells systemd a graceful stop has begun (STOPPING=1).
func Stopping() error { return Notify("STOPPING=1") }

// Reloading tells systemd the daemon is reloading its configuration
// (RELOADING=1); send [Ready] when done. It carries MONOTONIC_USEC, the
// CLOCK_MONOTONIC time in microseconds, which systemd 253 and later require
// with Type=notify-reload and older versions ignore.
func Reloading() error {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return fmt.Errorf("sdnotify: monotonic clock: %w", err)
	}
	usec := ts.Sec*1_000_000 + ts.Nsec/1_000
	return Notify("RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(usec, 10))
}

// Status sets the one-line status `systemctl status` shows (STATUS=...).
// Line breaks in s become spaces: the protocol is line based.
func Status(s string) error {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
	return Notify("STATUS=" + s)
}

// Watchdog tells systemd the daemon is alive (WATCHDOG=1). With WatchdogSec
// set, a service that stays silent longer than the interval is killed
// (SIGABRT, which makes Go print every goroutine's stack) and, under
// Restart=on-failure, started again.
func Watchdog() error { return Notify("WATCHDOG=1") }

// WatchdogInterval returns the watchdog interval systemd expects pings
// within, from $WATCHDOG_USEC; ping every half of it. It returns false when
// no watchdog is set: no $NOTIFY_SOCKET, no or an invalid $WATCHDOG_USEC,
// or a $WATCHDOG_PID naming another process (a child that inherited the
// environment).
func WatchdogInterval() (time.Duration, bool) {
	if os.Getenv(EnvSocket) == "" {
		return 0, false
	}
	usec, err := strconv.ParseInt(os.Getenv(EnvWatchdogUsec), 10, 64)
	if err != nil || usec <= 0 || usec > int64(time.Duration(1<<63-1)/time.Microsecond) {
		return 0, false
	}
	if s := os.Getenv(EnvWatchdogPID); s != "" {
		pid, err := strconv.Atoi(s)
		if err != nil || pid != os.Getpid() {
			return 0, false
		}
	}
	return time.Duration(usec) * time.Microsecond, true
}
