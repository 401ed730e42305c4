package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// binary is the smppmux command built once for the package's tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "smppmux-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "smppmux")
	build := exec.Command("go", "build", "-race", "-o", binary, "github.com/smppmux/smppmux/cmd/smppmux")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building smppmux:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one smppmux process.
type proc struct {
	cmd   *exec.Cmd
	addr  string
	done  chan struct{}
	lines chan string // every log line's message, in order
}

// waitLog waits for a log line whose message is msg.
func (p *proc) waitLog(t *testing.T, ctx context.Context, msg string) {
	t.Helper()
	for {
		select {
		case l := <-p.lines:
			if l == msg {
				return
			}
		case <-ctx.Done():
			t.Fatalf("smppmux never logged %q", msg)
		}
	}
}

// startProc runs smppmux on the configuration in dir and waits until it
// logs its SMPP address.
func startProc(t *testing.T, dir string) *proc {
	t.Helper()
	cmd := exec.Command(binary, "-config", filepath.Join(dir, "config.yaml"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{}), lines: make(chan string, 100000)}
	addr := make(chan string, 1)
	logf, err := os.OpenFile(filepath.Join(dir, "smppmux.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer logf.Close()
		sc := bufio.NewScanner(io.TeeReader(stderr, logf))
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			var line struct {
				Msg  string `json:"msg"`
				SMPP string `json:"smpp"`
			}
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				continue
			}
			if line.Msg == "smppmux listening" {
				addr <- line.SMPP
			}
			select {
			case p.lines <- line.Msg:
			default:
			}
		}
	}()
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	select {
	case p.addr = <-addr:
	case <-p.done:
		t.Fatalf("smppmux exited at start; log in %s", dir)
	case <-time.After(30 * time.Second):
		t.Fatal("smppmux did not start listening")
	}
	return p
}

func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

func writeConfig(t *testing.T, dir, smsc string, extraClients ...string) {
	t.Helper()
	cfg := fmt.Sprintf(`
listen: {smpp: "127.0.0.1:0", admin: "127.0.0.1:0"}
state_dir: %q
log: {level: info, format: json}
clients:
  - {system_id: shop, password: secret, window: 100}
`+strings.Join(extraClients, "")+`
upstreams:
  - {name: carrier, addr: %q, system_id: mux, bind: trx, binds: 1, window: 100, reconnect_min: 20ms, reconnect_max: 200ms}
groups:
  - {name: main, members: [{upstream: carrier}]}
routes:
  - {group: main}
`, filepath.Join(dir, "state"), smsc)
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

func dial(t *testing.T, ctx context.Context, addr string, bind pdu.ID) *esmetest.Client {
	t.Helper()
	return esmetest.Bind(t, ctx, esmetest.Config{Addr: addr, SystemID: "shop", Password: "secret",
		Bind: bind, Window: 50, DeliveryBuffer: 32768})
}

func body(i int) []byte {
	return esmetest.SubmitBody("Shop", fmt.Sprintf("4477%08d", i), fmt.Appendf(nil, "m%d", i), 1, nil)
}

// submit sends message i on c and hands accepted the message_id it is
// given. A refusal or a lost answer fails the test, a submit that cannot
// be sent stops it; wg is done when the answer is in.
func submit(t *testing.T, c *esmetest.Client, i int, wg *sync.WaitGroup, accepted func(id string)) {
	wg.Add(1)
	if err := c.SubmitAsync(body(i), func(r esmetest.Resp, err error) {
		defer wg.Done()
		if err != nil || r.Status != pdu.StatusOK {
			t.Errorf("submit %d: %v %v", i, r.Status, err)
			return
		}
		accepted(r.MessageID)
	}); err != nil {
		t.Fatal(err)
	}
}

// TestKillDuringRun: smppmux is killed with SIGKILL part-way through a
// 20,000-message run and started again. Every message the client was
// told was accepted gets its receipt, with the id the client was given.
func TestKillDuringRun(t *testing.T) {
	dir := t.TempDir()
	// Receipts come a while after each response, so many are still owed
	// when smppmux dies and arrive at the new process.
	smsc := smsctest.Start(t, smsctest.Config{HoldReceipts: true, DiscardRecords: true, ReceiptDelay: 300 * time.Millisecond})
	writeConfig(t, dir, smsc.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	p := startProc(t, dir)
	c := dial(t, ctx, p.addr, pdu.BindTransceiver)
	const n = 20000
	var mu sync.Mutex
	accepted := make(map[string]bool)
	var answered sync.WaitGroup
	killAt := make(chan struct{})
	var once sync.Once
	sent := 0
	for i := 0; i < n; i++ {
		answered.Add(1)
		err := c.SubmitAsync(body(i), func(r esmetest.Resp, err error) {
			defer answered.Done()
			if err != nil || r.Status != pdu.StatusOK {
				return
			}
			mu.Lock()
			accepted[r.MessageID] = true
			if len(accepted) == n/4 {
				once.Do(func() { close(killAt) })
			}
			mu.Unlock()
		})
		if err != nil {
			answered.Done()
			break // the connection went down with the process
		}
		sent++
		if i == n/2 {
			// Kill with submits in flight, once a quarter were answered.
			select {
			case <-killAt:
			case <-ctx.Done():
				t.Fatal("a quarter of the submits never answered")
			}
			p.kill(t)
		}
	}
	answered.Wait()
	mu.Lock()
	want := len(accepted)
	mu.Unlock()
	t.Logf("sent %d before the connection died, %d accepted", sent, want)
	if want < n/4 {
		t.Fatalf("only %d accepted before the kill", want)
	}

	// Receipts that reached the client before the kill count too.
	got := make(map[string]bool)
	for d := range c.Deliveries() {
		if accepted[d.ReceiptID] {
			got[d.ReceiptID] = true
		}
	}
	before := len(got)
	p = startProc(t, dir)
	c = dial(t, ctx, p.addr, pdu.BindTransceiver)
	// The rest of the run goes through the new process.
	for i := sent; i < n; i++ {
		submit(t, c, i, &answered, func(id string) {
			mu.Lock()
			accepted[id] = true
			mu.Unlock()
		})
	}
	answered.Wait()
	want = len(accepted)
	defer func() {
		t.Logf("%d accepted in all; receipts before the kill %d, after the restart %d", want, before, len(got)-before)
	}()
	for len(got) < want {
		select {
		case d := <-c.Deliveries():
			if accepted[d.ReceiptID] {
				got[d.ReceiptID] = true
			}
		case <-ctx.Done():
			t.Fatalf("%d of %d accepted messages got their receipt (SMSC: %d receipts acknowledged, %d pending); log in %s",
				len(got), want, smsc.ReceiptsAcked(), smsc.ReceiptsPending(), dir)
		}
	}
}

// TestReceiptsWaitAcrossRestart: 5,000 receipts arrive while the client
// has no receiver bound; smppmux is killed and started again; when the
// client binds a receiver it gets all of them, in the order they came.
func TestReceiptsWaitAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	smsc := smsctest.Start(t, smsctest.Config{HoldReceipts: true})
	writeConfig(t, dir, smsc.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	p := startProc(t, dir)
	tx := dial(t, ctx, p.addr, pdu.BindTransmitter)
	const n = 5000
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		submit(t, tx, i, &wg, func(id string) { ids[i] = id })
	}
	wg.Wait()
	if err := smsc.WaitReceiptsAcked(ctx, n); err != nil {
		t.Fatalf("smppmux took %d of %d receipts", smsc.ReceiptsAcked(), n)
	}
	// The order receipts came in: the order the SMSC accepted the
	// messages, which its records keep.
	byText := make(map[string]int, n)
	for i := range n {
		byText[fmt.Sprintf("m%d", i)] = i
	}
	var order []string
	for _, r := range smsc.Records() {
		var sm pdu.SM
		if err := pdu.ParseSM(r.Body, &sm); err != nil {
			t.Fatal(err)
		}
		order = append(order, ids[byText[string(sm.ShortMessage)]])
	}
	p.kill(t)

	p = startProc(t, dir)
	rx := dial(t, ctx, p.addr, pdu.BindReceiver)
	for k := 0; k < n; k++ {
		select {
		case d := <-rx.Deliveries():
			if d.ReceiptID != order[k] {
				t.Fatalf("receipt %d is for %q, want %q (the order they came in)", k, d.ReceiptID, order[k])
			}
		case <-ctx.Done():
			t.Fatalf("%d of %d receipts delivered after the restart", k, n)
		}
	}
	if !strings.Contains(readFile(t, filepath.Join(dir, "smppmux.log")), "restored") {
		t.Error("the restart did not log the restored outbox")
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
