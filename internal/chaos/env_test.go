//go:build chaos && linux

package chaos

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// netns is a network namespace by its name under /run/netns.
type netns string

// The suite's namespaces: smppmux, the two SMSCs and Redis.
const (
	nsMux   netns = "smxc-mux"
	nsA     netns = "smxc-a"
	nsB     netns = "smxc-b"
	nsRedis netns = "smxc-redis"
)

// link is a veth pair from smppmux's namespace to a peer's.
type link struct {
	peer              netns
	muxIf, peerIf     string
	muxAddr, peerAddr string
}

// links joins each peer to smppmux's namespace on a /24 of its own. The
// addresses exist only inside these namespaces.
var links = []link{
	{nsA, "smxc-ma", "smxc-am", "10.77.1.1", "10.77.1.2"},
	{nsB, "smxc-mb", "smxc-bm", "10.77.2.1", "10.77.2.2"},
	{nsRedis, "smxc-mr", "smxc-rm", "10.77.3.1", "10.77.3.2"},
}

func linkTo(peer netns) link {
	for _, l := range links {
		if l.peer == peer {
			return l
		}
	}
	panic("no link to " + string(peer))
}

func (n netns) path() string { return "/run/netns/" + string(n) }

// do runs fn on an OS thread switched into n: the sockets fn opens
// belong to n for their whole life. It runs on a goroutine of its own,
// so a thread that could not be switched back ends with it.
func (n netns) do(fn func()) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer self.Close()
		target, err := os.Open(n.path())
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := setns(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", n, err)
			return
		}
		fn()
		if err := setns(self); err != nil {
			// Left locked: the runtime ends the thread with this goroutine.
			errc <- nil
			return
		}
		runtime.UnlockOSThread()
		errc <- nil
	}()
	return <-errc
}

func setns(f *os.File) error { return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET) }

// dial connects from inside n.
func (n netns) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	var err error
	if e := n.do(func() {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
	}); e != nil {
		return nil, e
	}
	return c, err
}

// sh runs a command and returns its combined output; the error carries
// the output.
func sh(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// inNS runs a command in namespace n.
func inNS(n netns, name string, args ...string) (string, error) {
	return sh("ip", append([]string{"netns", "exec", string(n), name}, args...)...)
}

// missing lists the prerequisites of the suite that this machine lacks,
// by what needs them.
type prereqs struct {
	base    string // root, ip netns, nsenter: every scenario
	iptabls string // the blackhole and loss scenarios
	redis   string // the Redis scenarios
	disk    string // the state_dir scenarios
}

func checkPrereqs() prereqs {
	var p prereqs
	if os.Geteuid() != 0 {
		p.base = "not root (network namespaces, iptables and loop mounts need root)"
		return p
	}
	for _, c := range []string{"ip", "nsenter"} {
		if _, err := exec.LookPath(c); err != nil {
			p.base = c + " not found (apt-get install iproute2 util-linux)"
			return p
		}
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		p.iptabls = "iptables not found (make deps installs it)"
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		p.redis = "redis-server not found (make deps installs it)"
	}
	for _, c := range []string{"losetup", "mkfs.ext4"} {
		if _, err := exec.LookPath(c); err != nil {
			p.disk = c + " not found (apt-get install mount e2fsprogs)"
		}
	}
	if p.disk == "" {
		if _, err := os.Stat("/sys/fs/ext4"); err != nil {
			p.disk = "the kernel has no ext4 (/sys/fs/ext4)"
		}
	}
	return p
}

// buildTopology makes the namespaces and the veth pairs between them.
func buildTopology() error {
	for _, n := range []netns{nsMux, nsA, nsB, nsRedis} {
		if _, err := sh("ip", "netns", "add", string(n)); err != nil {
			return err
		}
		if _, err := sh("ip", "-n", string(n), "link", "set", "lo", "up"); err != nil {
			return err
		}
	}
	for _, l := range links {
		if _, err := sh("ip", "link", "add", l.muxIf, "netns", string(nsMux), "type", "veth",
			"peer", "name", l.peerIf, "netns", string(l.peer)); err != nil {
			return err
		}
		for _, side := range []struct {
			n        netns
			ifc, adr string
		}{{nsMux, l.muxIf, l.muxAddr}, {l.peer, l.peerIf, l.peerAddr}} {
			if _, err := sh("ip", "-n", string(side.n), "addr", "add", side.adr+"/24", "dev", side.ifc); err != nil {
				return err
			}
			if _, err := sh("ip", "-n", string(side.n), "link", "set", side.ifc, "up"); err != nil {
				return err
			}
		}
	}
	return nil
}

// cleanStale removes what a run left behind: processes in the suite's
// namespaces, the namespaces (their veths go with them), mounts under a
// run directory and the loop devices backed by the suite's images.
func cleanStale() {
	for _, n := range []netns{nsMux, nsA, nsB, nsRedis} {
		if _, err := os.Stat(n.path()); err != nil {
			continue
		}
		if out, err := sh("ip", "netns", "pids", string(n)); err == nil {
			for _, f := range strings.Fields(out) {
				var pid int
				if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		_, _ = sh("ip", "netns", "del", string(n))
	}
	if f, err := os.Open("/proc/self/mountinfo"); err == nil {
		sc := bufio.NewScanner(f)
		var mounts []string
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) > 4 && strings.Contains(fields[4], "/smxc-chaos") {
				mounts = append(mounts, fields[4])
			}
		}
		f.Close()
		for i := len(mounts) - 1; i >= 0; i-- {
			_, _ = sh("umount", "-l", mounts[i])
		}
	}
	detachLoops("")
}

// detachLoops detaches the loop devices whose backing file is an image of
// the suite (in dir, or anywhere when dir is empty).
func detachLoops(dir string) {
	out, err := sh("losetup", "-l", "-n", "-O", "NAME,BACK-FILE")
	if err != nil {
		return
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.Contains(filepath.Base(f[1]), "smxc-") {
			continue
		}
		if dir != "" && !strings.HasPrefix(f[1], dir) {
			continue
		}
		_, _ = sh("losetup", "-d", f[0])
	}
}

// lockRun takes the suite's lock: two runs would share the namespaces.
func lockRun() (*os.File, error) {
	f, err := os.OpenFile("/run/smxc-chaos.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, errors.New("another make chaos is running (/run/smxc-chaos.lock)")
	}
	return f, nil
}

// Link faults, by iptables rules in the peer's namespace on its veth. A
// link's rules are all in the filter table's INPUT and OUTPUT chains of
// that namespace, which hold nothing else.

// blackhole drops everything on the link to peer, both ways.
func blackhole(peer netns) error {
	l := linkTo(peer)
	if _, err := inNS(peer, "iptables", "-A", "INPUT", "-i", l.peerIf, "-j", "DROP"); err != nil {
		return err
	}
	_, err := inNS(peer, "iptables", "-A", "OUTPUT", "-o", l.peerIf, "-j", "DROP")
	return err
}

// lossy drops each packet on the link to peer with probability p, each
// way.
func lossy(peer netns, p float64) error {
	l := linkTo(peer)
	prob := fmt.Sprintf("%.2f", p)
	if _, err := inNS(peer, "iptables", "-A", "INPUT", "-i", l.peerIf, "-m", "statistic",
		"--mode", "random", "--probability", prob, "-j", "DROP"); err != nil {
		return err
	}
	_, err := inNS(peer, "iptables", "-A", "OUTPUT", "-o", l.peerIf, "-m", "statistic",
		"--mode", "random", "--probability", prob, "-j", "DROP")
	return err
}

// heal removes the link faults of peer.
func heal(peer netns) error {
	if _, err := inNS(peer, "iptables", "-F", "INPUT"); err != nil {
		return err
	}
	_, err := inNS(peer, "iptables", "-F", "OUTPUT")
	return err
}

// probeNetem says why netem cannot delay a link here, or "" if it can.
func probeNetem() string {
	if _, err := exec.LookPath("tc"); err != nil {
		return "no tc (iproute2) to set up netem"
	}
	if _, err := inNS(nsMux, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"); err != nil {
		return "this kernel has no netem (tc qdisc netem is refused), and the suite has no NFQUEUE delay injector"
	}
	_, _ = inNS(nsMux, "tc", "qdisc", "del", "dev", "lo", "root")
	return ""
}

// delay holds back every packet the SMSC sends to smppmux by 300 ms
// (±100 ms), with netem on the SMSC's side of the link.
func delay(peer netns) error {
	_, err := inNS(peer, "tc", "qdisc", "add", "dev", linkTo(peer).peerIf, "root", "netem", "delay", "300ms", "100ms")
	return err
}

// undelay removes the delay of peer's link.
func undelay(peer netns) error {
	_, err := inNS(peer, "tc", "qdisc", "del", "dev", linkTo(peer).peerIf, "root")
	return err
}

// waitDial waits until addr accepts a connection from inside n.
func waitDial(ctx context.Context, n netns, addr string) error {
	for {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := n.dial(dctx, "tcp", addr)
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s from %s: %w", addr, n, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
