package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// writeQueueConfig writes a configuration whose only group is a
// store-and-forward one over smsc, one bind of window 10.
func writeQueueConfig(t *testing.T, dir, smsc string) {
	t.Helper()
	cfg := fmt.Sprintf(`
listen: {smpp: "127.0.0.1:0", admin: "127.0.0.1:0"}
state_dir: %q
log: {level: info, format: json}
clients:
  - {system_id: shop, password: secret, window: 100}
upstreams:
  - {name: carrier, addr: %q, system_id: mux, bind: trx, binds: 1, window: 10, reconnect_min: 20ms, reconnect_max: 200ms}
groups:
  - name: main
    members: [{upstream: carrier}]
    queue: {mode: store-and-forward, max_items: 100000, max_age: 1h}
routes:
  - {group: main}
`, filepath.Join(dir, "state"), smsc)
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// messageNumber returns i of a message of body(i) as the SMSC got it.
func messageNumber(t *testing.T, r smsctest.Record) int {
	t.Helper()
	var sm pdu.SM
	if err := pdu.ParseSM(r.Body, &sm); err != nil {
		t.Fatal(err)
	}
	i, err := strconv.Atoi(strings.TrimPrefix(string(sm.ShortMessage), "m"))
	if err != nil {
		t.Fatalf("text %q", sm.ShortMessage)
	}
	return i
}

// atSMSC returns how many times each message reached smsc, and their
// numbers in the order they reached it, failing the test on one that
// reached it twice.
func atSMSC(t *testing.T, smsc *smsctest.Server) (map[int]int, []int) {
	t.Helper()
	at := make(map[int]int)
	var order []int
	for _, r := range smsc.Records() {
		i := messageNumber(t, r)
		at[i]++
		if at[i] > 1 {
			t.Errorf("message %d reached the SMSC twice", i)
		}
		order = append(order, i)
	}
	return at, order
}

// submitNumbered submits messages 0 to n-1 on c and returns the client
// id of each, failing the test unless every one was accepted.
func submitNumbered(t *testing.T, c *esmetest.Client, n int) map[string]int {
	t.Helper()
	ids := make(map[string]int, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		submit(t, c, i, &wg, func(id string) {
			mu.Lock()
			ids[id] = i
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(ids) != n {
		t.Fatalf("%d of %d accepted", len(ids), n)
	}
	return ids
}

// receiptStat returns the stat of a receipt's text.
func receiptStat(t *testing.T, d esmetest.Delivery) string {
	t.Helper()
	text := string(d.SM.ShortMessage)
	i := strings.Index(text, " stat:")
	if i < 0 || len(text) < i+13 {
		t.Fatalf("receipt text %q", text)
	}
	return text[i+6 : i+13]
}

// TestQueueKillDuringDrain: a burst is accepted into a store-and-forward
// queue, smppmux is killed with SIGKILL a third of the way through the
// drain and started again. Every accepted message reached the SMSC once,
// or, taken when the process died, was answered with an UNKNOWN receipt;
// none reached it twice, none was lost, and they went in order.
func TestQueueKillDuringDrain(t *testing.T) {
	dir := t.TempDir()
	// 10 in flight, 20 ms each: about 500 a second, so the kill finds
	// the drain under way.
	smsc := smsctest.Start(t, smsctest.Config{HoldReceipts: true, Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
		return smsctest.Reply{Delay: 20 * time.Millisecond}
	}})
	writeQueueConfig(t, dir, smsc.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	p := startProc(t, dir)
	c := dial(t, ctx, p.addr, pdu.BindTransceiver)
	const n = 3000
	start := time.Now()
	ids := submitNumbered(t, c, n) // client id -> i
	t.Logf("%d accepted in %v; the SMSC has %d", len(ids), time.Since(start), smsc.Accepted())
	if err := smsc.WaitAccepted(ctx, n/3); err != nil {
		t.Fatal(err)
	}
	p.kill(t)
	atKill := smsc.Accepted()
	if atKill >= n {
		t.Fatalf("the drain was over (%d) before the kill", atKill)
	}
	stats := make(map[string]string) // client id -> stat of its receipt
	read := func(d esmetest.Delivery) {
		if _, ok := ids[d.ReceiptID]; !ok {
			t.Fatalf("receipt for %q, never given", d.ReceiptID)
		}
		stat := receiptStat(t, d)
		if prev, ok := stats[d.ReceiptID]; ok && prev != stat {
			t.Fatalf("receipts %s and %s for %q", prev, stat, d.ReceiptID)
		}
		stats[d.ReceiptID] = stat
	}
	for d := range c.Deliveries() {
		read(d)
	}
	p = startProc(t, dir)
	c = dial(t, ctx, p.addr, pdu.BindTransceiver)
	for len(stats) < n {
		select {
		case d := <-c.Deliveries():
			read(d)
		case <-ctx.Done():
			t.Fatalf("%d of %d accepted messages got a receipt (SMSC accepted %d, %d at the kill); log in %s",
				len(stats), n, smsc.Accepted(), atKill, dir)
		}
	}
	at, order := atSMSC(t, smsc)
	if t.Failed() {
		t.FailNow()
	}
	for k := 1; k < len(order); k++ {
		if order[k] < order[k-1] {
			t.Fatalf("message %d reached the SMSC after %d", order[k], order[k-1])
		}
	}
	unknown := 0
	for id, stat := range stats {
		i := ids[id]
		switch stat {
		case "DELIVRD":
			if at[i] != 1 {
				t.Fatalf("message %d: a DELIVRD receipt, and the SMSC has it %d times", i, at[i])
			}
		case "UNKNOWN":
			unknown++
		default:
			t.Fatalf("message %d: receipt stat %s", i, stat)
		}
	}
	t.Logf("SMSC accepted %d at the kill, %d in all; %d UNKNOWN receipts", atKill, smsc.Accepted(), unknown)
	if unknown > 10 {
		t.Fatalf("%d UNKNOWN receipts: more than the 10 in flight at the kill", unknown)
	}
}

// TestQueueExpiryAndCancel: with no SMSC to take them, a queued message
// whose validity_period passes gets an EXPIRED receipt, and one the
// client cancels leaves the queue: query_sm says ENROUTE before the
// cancel_sm, and knows it no more after.
func TestQueueExpiryAndCancel(t *testing.T) {
	dir := t.TempDir()
	// An address nobody listens on: the group never has a member.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	writeQueueConfig(t, dir, addr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := startProc(t, dir)
	c := dial(t, ctx, p.addr, pdu.BindTransceiver)

	short := pdu.AppendSM(nil, &pdu.SM{SourceTON: 5, SourceAddr: []byte("Shop"), DestTON: 1, DestNPI: 1,
		DestAddr: []byte("447700900001"), Validity: []byte("000000000001000R"), RegisteredDelivery: 1, ShortMessage: []byte("soon gone")})
	expiring, err := c.Submit(ctx, short)
	if err != nil || expiring.Status != pdu.StatusOK {
		t.Fatalf("submit: %+v, %v", expiring, err)
	}
	kept, err := c.Submit(ctx, body(1))
	if err != nil || kept.Status != pdu.StatusOK {
		t.Fatalf("submit: %+v, %v", kept, err)
	}
	query := func() pdu.Frame {
		f, err := c.Send(ctx, pdu.QuerySM, esmetest.QueryBody(kept.MessageID, "Shop"))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	if f := query(); f.Status != pdu.StatusOK || len(f.Body()) < 3 || f.Body()[len(f.Body())-2] != 1 {
		t.Fatalf("query_sm_resp 0x%08x %q, want message_state ENROUTE", uint32(f.Status), f.Body())
	}
	if f, err := c.Send(ctx, pdu.CancelSM, esmetest.CancelBody(kept.MessageID, "Shop", "447700000001")); err != nil || f.Status != pdu.StatusOK {
		t.Fatalf("cancel_sm: %v, %v", f.Status, err)
	}
	if f := query(); f.Status == pdu.StatusOK {
		t.Fatal("query_sm of a cancelled message answered ESME_ROK")
	}
	select {
	case d := <-c.Deliveries():
		text := string(d.SM.ShortMessage)
		if d.ReceiptID != expiring.MessageID || !strings.Contains(text, " stat:EXPIRED err:901 ") {
			t.Fatalf("receipt %q for %q, want EXPIRED for %q", text, d.ReceiptID, expiring.MessageID)
		}
	case <-ctx.Done():
		t.Fatal("no EXPIRED receipt")
	}
	select {
	case d := <-c.Deliveries():
		t.Fatalf("another receipt: %q", d.SM.ShortMessage)
	default:
	}
}
