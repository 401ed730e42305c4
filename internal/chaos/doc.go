// Package chaos is smppmux's fault suite, run by `make chaos`. Its tests
// are behind the build tag chaos and need root: they build network
// namespaces (smppmux in one, each simulated SMSC and redis-server in
// their own, joined by veth pairs), blackhole or thin out links with
// iptables, stop an SMSC with SIGSTOP, kill and blackhole Redis, and fill,
// or turn read-only, an ext4 filesystem on a loop device that holds
// state_dir, while a client sends a steady load with a receipt requested
// on every message. Each scenario prints one row: how soon smppmux
// reacted, the errors the client saw, receipts lost and duplicated, and
// whether and how soon it recovered; TestMain prints the whole table at
// the end. A scenario whose prerequisites are missing (root, ip netns,
// iptables, redis-server, losetup and mkfs.ext4) skips, saying which.
//
// smppmux, the SMSCs (smppmux sim) and redis-server run as processes,
// started through nsenter in their namespaces. The load client and the
// readiness poller run in the test process: their sockets are opened on
// a thread switched into smppmux's namespace (setns), so they reach
// smppmux on that namespace's loopback and nothing is added to the
// host's network.
//
// Every namespace, interface and file the suite makes is named smxc-...;
// a run first removes whatever an interrupted run left behind.
package chaos
