package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// lineWatch collects output and closes seen once a line starting with
// prefix has been written.
type lineWatch struct {
	prefix string
	seen   chan struct{}

	mu   sync.Mutex
	buf  bytes.Buffer
	done bool
}

func newLineWatch(prefix string) *lineWatch {
	return &lineWatch{prefix: prefix, seen: make(chan struct{})}
}

func (w *lineWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.done && strings.Contains("\n"+w.buf.String(), "\n"+w.prefix) {
		w.done = true
		close(w.seen)
	}
	return len(p), nil
}

func (w *lineWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// startIdle runs idle in a goroutine and waits until it printed a line
// starting with prefix.
func startIdle(t *testing.T, ctx context.Context, prefix string, args ...string) (*lineWatch, <-chan error) {
	t.Helper()
	out := newLineWatch(prefix)
	errc := make(chan error, 1)
	go func() { errc <- idle(ctx, args, out, out) }()
	select {
	case <-out.seen:
	case err := <-errc:
		t.Fatalf("idle returned before printing %q: %v\n%s", prefix, err, out)
	}
	return out, errc
}

func TestIdle(t *testing.T) {
	t.Parallel()
	srv := smsctest.Start(t, smsctest.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()

	out, errc := startIdle(t, ctx, "bound 50 ",
		"-addr", srv.Addr(), "-n", "50", "-concurrency", "8", "-hold", "0", "-progress", "20")
	if err := srv.WaitBinds(wctx, 50); err != nil {
		t.Fatalf("server saw %d binds: %v\n%s", srv.Binds(), err, out)
	}
	// A deliver_sm is left with the server, not taken.
	if err := srv.Push(pdu.Request(pdu.DeliverSM, 1, nil)); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitPushesAnswered(wctx, 1); err != nil {
		t.Fatal(err)
	}
	if got := srv.PushStatuses(); got[pdu.StatusXTAppn] != 1 {
		t.Errorf("deliver_sm answered %v, want ESME_RX_T_APPN", got)
	}

	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("idle: %v\n%s", err, out)
	}
	for _, want := range []string{
		"binding 50 connections to " + srv.Addr() + " as system_id shop (bind_transceiver), 8 at a time",
		"  20/50 answered: 20 ok, 0 failed\n",
		"holding 50 binds until interrupted\n",
		"closed 50 connections: 50 unbound, 0 without unbind_resp, 0 closed by the server while held\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestIdleRefused(t *testing.T) {
	t.Parallel()
	srv := smsctest.Start(t, smsctest.Config{SystemID: "shop", Password: "right"})
	var out bytes.Buffer
	err := idle(context.Background(), []string{"-addr", srv.Addr(), "-n", "5", "-password", "wrong", "-bind", "tx"}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "5 of 5 binds failed") {
		t.Fatalf("error %v, want 5 failed binds\n%s", err, out.String())
	}
	for _, want := range []string{
		"bound 0 in ", "(of 5: 5 failed, 0 not attempted)",
		"        5  bind refused: 0x0000000e ESME_RINVPASWD",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestIdleServerCloses(t *testing.T) {
	t.Parallel()
	srv := smsctest.Start(t, smsctest.Config{})
	out, errc := startIdle(t, context.Background(), "holding 10 binds",
		"-addr", srv.Addr(), "-n", "10", "-hold", "1h", "-bind", "rx")
	srv.DisconnectAll()
	err := <-errc
	if err == nil || !strings.Contains(err.Error(), "10 of 10 bound connections were closed by the server while held") {
		t.Fatalf("error %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "every connection was closed by the server\n") {
		t.Errorf("output:\n%s", out)
	}
}

func TestIdleFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-n", "0"}, "-n must be positive"},
		{[]string{"-concurrency", "0"}, "-concurrency must be positive"},
		{[]string{"-bind", "both"}, `-bind "both" is neither trx, tx nor rx`},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		var out bytes.Buffer
		err := idle(context.Background(), tc.args, &out, &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestRaiseNoFile(t *testing.T) {
	t.Parallel()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if got, err := raiseNoFile(1); err != nil || got != rl.Max {
		t.Fatalf("raiseNoFile(1) = %d, %v; want the hard limit %d", got, err, rl.Max)
	}
	if rl.Max == ^uint64(0) {
		t.Skip("no hard limit on open files")
	}
	_, err := raiseNoFile(rl.Max + 1)
	if err == nil || !strings.Contains(err.Error(), "the hard limit (RLIMIT_NOFILE) is") {
		t.Fatalf("error %v", err)
	}
}
