package e2e

import (
	"context"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// TestSignals: SIGHUP applies an edited configuration (a new client can
// bind); SIGTERM with submits in flight answers every one of them, then
// the process exits 0.
func TestSignals(t *testing.T) {
	dir := t.TempDir()
	smsc := smsctest.Start(t, smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
		return smsctest.Reply{Delay: 300 * time.Millisecond}
	}})
	writeConfig(t, dir, smsc.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startProc(t, dir)
	if _, err := esmetest.Dial(ctx, esmetest.Config{Addr: p.addr, SystemID: "bank", Password: "secret2"}); err == nil {
		t.Fatal("bank bound before it was configured")
	}

	writeConfig(t, dir, smsc.Addr(), "  - {system_id: bank, password: secret2}\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitLog(t, ctx, "reload applied")
	bank := esmetest.Bind(t, ctx, esmetest.Config{Addr: p.addr, SystemID: "bank", Password: "secret2", Window: 50})

	const n = 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range n {
		wg.Add(1)
		if err := bank.SubmitAsync(body(i), func(r esmetest.Resp, err error) {
			defer wg.Done()
			if err == nil && r.Status == pdu.StatusOK {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Every submit is at the SMSC, whose answers take 300 ms: stop now.
	if err := smsc.WaitAccepted(ctx, n); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if ok != n {
		t.Fatalf("%d of %d in-flight submits answered ESME_ROK across the stop", ok, n)
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		t.Fatal("smppmux did not exit after SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	select {
	case <-bank.Done():
	case <-ctx.Done():
		t.Fatal("the client's connection outlived the process")
	}
}
