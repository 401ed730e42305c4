// Package redistest starts a real redis-server on a loopback port for
// tests, in a temporary directory removed with the test.
//
// A test that needs Redis calls Start; when redis-server is not installed
// the test is skipped with a message saying so, unless the environment
// variable SMPPMUX_REQUIRE_REDIS is set (as in CI), in which case it fails.
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Server is a running redis-server.
type Server struct {
	Addr string
	cmd  *exec.Cmd
	done chan struct{}

	t    testing.TB
	bin  string
	port int
	dir  string
	args []string
	conf []string
}

// Start runs redis-server on 127.0.0.1 with a free port and stops it when
// the test ends. Extra arguments are passed to redis-server as they are.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("SMPPMUX_REQUIRE_REDIS") != "" {
			t.Fatalf("redis-server is required (SMPPMUX_REQUIRE_REDIS is set) but not installed: %v", err)
		}
		t.Skip("redis-server not installed: the Redis store tests are skipped (apt-get install redis-server)")
	}
	var lastErr error
	for range 5 { // a port found free may be taken before redis-server binds it
		s, err := start(t, bin, args)
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("starting redis-server: %v", lastErr)
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartSentinel runs a Redis Sentinel on 127.0.0.1 watching master under
// the name name, and stops it when the test ends. Each of settings is a
// "sentinel" line of its configuration for name, such as
// "down-after-milliseconds 500".
func StartSentinel(t testing.TB, name string, master *Server, settings ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal(err) // Start has skipped already when it is missing
	}
	host, port, _ := net.SplitHostPort(master.Addr)
	var lastErr error
	for range 5 {
		// A Sentinel rewrites its configuration file: it must have one.
		conf := filepath.Join(t.TempDir(), "sentinel.conf")
		if err := os.WriteFile(conf, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		args := []string{"--sentinel", "monitor", name, host, port, "1"}
		for _, st := range settings {
			key, value, _ := strings.Cut(st, " ")
			args = append(args, "--sentinel", key, name, value)
		}
		s, err := start(t, bin, args, conf)
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("starting redis-server --sentinel: %v", lastErr)
	return nil
}

func start(t testing.TB, bin string, args []string, conf ...string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return startOn(t, bin, port, args, conf)
}

// StartReplica runs redis-server as a replica of master.
func StartReplica(t testing.TB, master *Server) *Server {
	t.Helper()
	host, port, _ := net.SplitHostPort(master.Addr)
	return Start(t, "--replicaof", host, port)
}

// Revive starts a new, empty server on the port of one that was killed.
func (s *Server) Revive() {
	s.t.Helper()
	n, err := startOn(s.t, s.bin, s.port, s.args, s.conf)
	if err != nil {
		s.t.Fatalf("restarting redis-server: %v", err)
	}
	*s = *n
}

// Restart starts the server again on the port and the data directory of
// one that was killed: with "--appendonly yes" among Start's arguments it
// loads what it had written, as a Redis restarted by its supervisor does.
func (s *Server) Restart() {
	s.t.Helper()
	n, err := startIn(s.t, s.bin, s.port, s.dir, s.args, s.conf)
	if err != nil {
		s.t.Fatalf("restarting redis-server on its data: %v", err)
	}
	*s = *n
}

func startOn(t testing.TB, bin string, port int, args, conf []string) (*Server, error) {
	return startIn(t, bin, port, t.TempDir(), args, conf)
}

func startIn(t testing.TB, bin string, port int, dir string, args, conf []string) (*Server, error) {
	argv := append(slices.Clone(conf), "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--daemonize", "no", "--loglevel", "notice")
	if len(conf) == 0 {
		argv = append(argv, "--save", "", "--appendonly", "no")
	}
	argv = append(argv, args...)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, argv...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, err
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd: cmd, done: make(chan struct{}),
		t: t, bin: bin, port: port, dir: dir, args: args, conf: conf}
	ready := make(chan struct{})
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			if !signalled {
				log.WriteString(sc.Text() + "\n")
				if strings.Contains(sc.Text(), "Ready to accept connections") || strings.Contains(sc.Text(), "+monitor master") {
					signalled = true
					close(ready)
				}
			}
		}
		_ = cmd.Wait()
		close(s.done)
	}()
	select {
	case <-ready:
	case <-s.done:
		cancel()
		return nil, fmt.Errorf("redis-server exited:\n%s", log.String())
	case <-time.After(20 * time.Second):
		cancel()
		<-s.done
		return nil, fmt.Errorf("redis-server not ready after 20s:\n%s", log.String())
	}
	done := s.done
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return s, nil
}

// Pause stops the server's process (SIGSTOP): its port still accepts
// connections, nothing is answered, as when Redis hangs or its network
// drops everything. Resume undoes it.
func (s *Server) Pause() { _ = s.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume lets a paused server go on (SIGCONT).
func (s *Server) Resume() { _ = s.cmd.Process.Signal(syscall.SIGCONT) }

// Kill stops the server at once, as a crash would.
func (s *Server) Kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// StartCluster runs a Redis Cluster of n masters (at least 3) on loopback
// ports and returns their addresses once every slot is served.
func StartCluster(t testing.TB, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		s := Start(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
		addrs = append(addrs, s.Addr)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli, needed to form a cluster: %v", err)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for _, a := range addrs {
		host, port, _ := net.SplitHostPort(a)
		for {
			out, _ := exec.Command(cli, "-h", host, "-p", port, "cluster", "info").Output()
			if strings.Contains(string(out), "cluster_state:ok") {
				break
			}
			select {
			case <-tick.C:
			case <-deadline:
				t.Fatalf("cluster not ready on %s:\n%s", a, out)
			}
		}
	}
	return addrs
}
