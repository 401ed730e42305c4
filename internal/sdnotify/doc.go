// Package sdnotify tells systemd how the daemon is doing, over the
// sd_notify protocol: one datagram of NEWLINE-separated KEY=VALUE
// assignments sent to the unix socket named by $NOTIFY_SOCKET (a path, or
// an abstract socket when it starts with '@').
//
// It covers what a Type=notify service with a watchdog needs: [Ready] once
// the daemon serves, [Reloading] and [Ready] around a reload, [Stopping]
// when a graceful stop begins, [Status] for the one line `systemctl status`
// shows, and [Watchdog] pings at half the interval [WatchdogInterval]
// returns.
//
// Without $NOTIFY_SOCKET (not started by systemd, or by a unit of another
// type) every call does nothing and returns nil, so callers need not check.
//
// Goroutines: none. Each call opens a socket, sends one datagram and closes
// it; calls may come from any goroutine.
package sdnotify
