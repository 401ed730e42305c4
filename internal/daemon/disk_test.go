package daemon

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/pebblestore"
	"github.com/smppmux/smppmux/internal/disktest"
	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// readyz returns /readyz's status and body.
func (e *env) readyz(t *testing.T) (int, string) {
	t.Helper()
	return adminDo(t, e.d, "", "GET", "/readyz", "")
}

// TestStartOnFullDisk: smppmux starts on a state_dir whose disk is full,
// so the Pebble store cannot open. It listens all the same, /readyz is
// 503 naming the store, submits are refused with ESME_RTHROTTLED before
// any reaches the carrier; once the disk has room the store opens by
// itself, the outbox item a previous run left is delivered, and
// submits are accepted and get their receipts.
func TestStartOnFullDisk(t *testing.T) {
	t.Parallel()
	stateDir := t.TempDir()
	// What a previous run left for the client: one MO message.
	prev, err := pebblestore.Open(pebblestore.Config{Dir: filepath.Join(stateDir, "dlr")})
	if err != nil {
		t.Fatal(err)
	}
	mo := pdu.Request(pdu.DeliverSM, 0, pdu.AppendSM(nil, &pdu.SM{SourceAddr: []byte("447700900123"),
		DestAddr: []byte("5555"), ShortMessage: []byte("left by the previous run")}))
	errc := make(chan error, 1)
	prev.AddOutbox("shop", &dlr.Item{Raw: mo, At: time.Now()}, func(err error) { errc <- err })
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if err := prev.Close(); err != nil {
		t.Fatal(err)
	}

	fs := disktest.New()
	fs.Fail(syscall.ENOSPC)
	smsc := smsctest.Start(t, smsctest.Config{})
	e := startYAMLWith(t, fmt.Sprintf(`
state_dir: %q
listen: {smpp: "127.0.0.1:0", admin: "127.0.0.1:0"}
clients: [{system_id: shop, password: secret}]
upstreams: [{name: a, addr: "{{0}}", system_id: mux}]
groups: [{name: main, members: [{upstream: a}]}]
routes: [{group: main}]
`, stateDir), zaptest.NewLogger(t), Options{PebbleFS: fs}, smsc)
	ctx := deadline(t)
	if code, body := e.readyz(t); code != 503 || !strings.Contains(body, "pebble store") || !strings.Contains(body, "disk full") {
		t.Fatalf("/readyz %d %q on a full disk, want 503 naming the store and the disk", code, body)
	}
	c := e.dial(t, "shop", "secret", pdu.BindTransceiver, 10)
	rs, err := c.Submit(ctx, esmetest.SubmitBody("Shop", "447700900001", []byte("full"), 1, nil))
	if err != nil || rs.Status != pdu.StatusThrottled {
		t.Fatalf("submit on a full disk: %v %v, want ESME_RTHROTTLED", rs.Status, err)
	}
	if smsc.Received() != 0 {
		t.Fatal("a submit refused for the store reached the carrier")
	}

	fs.Heal()
	waitStore(t, ctx, e.d, func() bool { code, _ := e.readyz(t); return code == 200 }, "/readyz never 200 once the disk had room")
	select {
	case d := <-c.Deliveries():
		if string(d.SM.ShortMessage) != "left by the previous run" {
			t.Fatalf("delivered %q, want the item the previous run left", d.SM.ShortMessage)
		}
	case <-ctx.Done():
		t.Fatal("the outbox item the previous run left was never delivered")
	}
	rs, err = c.Submit(ctx, esmetest.SubmitBody("Shop", "447700900002", []byte("room"), 1, nil))
	if err != nil || rs.Status != pdu.StatusOK {
		t.Fatalf("submit once the disk had room: %v %v", rs.Status, err)
	}
	select {
	case d := <-c.Deliveries():
		if d.ReceiptID != rs.MessageID {
			t.Fatalf("receipt for %q, want %q", d.ReceiptID, rs.MessageID)
		}
	case <-ctx.Done():
		t.Fatal("no receipt once the disk had room")
	}
}
