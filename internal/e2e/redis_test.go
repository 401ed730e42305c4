package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/redistest"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// writeSharedConfig writes the configuration of instance n of smppmux
// sharing the Redis at redisAddr, with one upstream bound as bind to smsc.
// An rx upstream cannot carry submits: the group then has a transmitter
// of its own, which never gets receipts.
func writeSharedConfig(t *testing.T, dir, smsc, redisAddr string, n int, bind string) {
	t.Helper()
	member := "carrier"
	if bind == "rx" {
		member = "spare"
	}
	cfg := fmt.Sprintf(`
listen: {smpp: "127.0.0.1:0", admin: ""}
state_dir: %q
log: {level: info, format: json}
store: {kind: redis, instance: %d, redis: {addrs: [%q], lease_ttl: 1s}}
clients:
  - {system_id: shop, password: secret, window: 100}
upstreams:
  - {name: carrier, addr: %[4]q, system_id: mux, bind: %[5]s, binds: 1, window: 100, reconnect_min: 20ms, reconnect_max: 200ms}
  - {name: spare, addr: %[4]q, system_id: mux, bind: tx, binds: 1, window: 100, reconnect_min: 20ms, reconnect_max: 200ms}
groups:
  - {name: main, members: [{upstream: %[6]s}]}
routes:
  - {group: main}
`, filepath.Join(dir, "state"), n, redisAddr, smsc, bind, member)
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startPair starts a Redis, a fake SMSC that holds receipts until a
// receiver takes them and sends each delay after its response, and two
// smppmux instances sharing the Redis, bound to the SMSC as bindA and
// bindB, and waits for their binds.
func startPair(t *testing.T, bindA, bindB string, delay time.Duration) (context.Context, *smsctest.Server, *proc, *proc) {
	t.Helper()
	r := redistest.Start(t)
	smsc := smsctest.Start(t, smsctest.Config{HoldReceipts: true, DiscardRecords: true, ReceiptDelay: delay})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	dirA, dirB := t.TempDir(), t.TempDir()
	writeSharedConfig(t, dirA, smsc.Addr(), r.Addr, 1, bindA)
	writeSharedConfig(t, dirB, smsc.Addr(), r.Addr, 2, bindB)
	a, b := startProc(t, dirA), startProc(t, dirB)
	if err := smsc.WaitBinds(ctx, 4); err != nil {
		t.Fatal(err)
	}
	return ctx, smsc, a, b
}

// submitAll submits n messages on c, numbered from first, and returns the
// ids of those accepted.
func submitAll(t *testing.T, c *esmetest.Client, first, n int) []string {
	t.Helper()
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	for i := first; i < first+n; i++ {
		submit(t, c, i, &wg, func(id string) {
			mu.Lock()
			ids = append(ids, id)
			mu.Unlock()
		})
	}
	wg.Wait()
	return ids
}

// receiptsFor reads c's deliveries until each of ids has its receipt and
// fails on a receipt for an id it was not waiting for or for one twice.
func receiptsFor(t *testing.T, ctx context.Context, c *esmetest.Client, ids []string, where string) {
	t.Helper()
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	for got := 0; got < len(ids); {
		select {
		case d := <-c.Deliveries():
			if !want[d.ReceiptID] {
				t.Fatalf("%s: receipt for %q: unknown, or delivered twice", where, d.ReceiptID)
			}
			delete(want, d.ReceiptID)
			got++
		case <-ctx.Done():
			t.Fatalf("%s: %d of %d receipts delivered", where, got, len(ids))
		}
	}
}

// TestSharedRedisStore runs two smppmux processes on one Redis. Instance A
// only transmits to the SMSC and instance B only receives from it, so every
// receipt of a message submitted through A arrives at B. With the client
// bound only to A, then only to B, then receiving on B while it submits
// through A, every receipt is delivered exactly once with the id A gave.
func TestSharedRedisStore(t *testing.T) {
	ctx, smsc, a, b := startPair(t, "tx", "rx", 200*time.Millisecond)

	// Phase 1: the client is bound to A only.
	c := dial(t, ctx, a.addr, pdu.BindTransceiver)
	const n = 2000
	ids := submitAll(t, c, 0, n)
	if len(ids) != n {
		t.Fatalf("%d of %d accepted", len(ids), n)
	}
	receiptsFor(t, ctx, c, ids, "bound to A")

	// Phase 2: it submits through A, leaves A as soon as the last
	// response is in, with most receipts still on their way, and binds
	// to B only. Receipts delivered on A before it left count.
	ids = submitAll(t, c, n, n)
	if len(ids) != n {
		t.Fatalf("%d of %d accepted", len(ids), n)
	}
	uctx, ucancel := context.WithTimeout(ctx, 10*time.Second)
	if err := c.Unbind(uctx); err != nil {
		t.Fatal(err)
	}
	ucancel()
	onA := make(map[string]bool)
	for d := range c.Deliveries() {
		onA[d.ReceiptID] = true
	}
	var rest []string
	for _, id := range ids {
		if !onA[id] {
			rest = append(rest, id)
		}
	}
	t.Logf("phase 2: %d receipts on A before it left, %d left for B", len(onA), len(rest))
	if len(onA)+len(rest) != n {
		t.Fatalf("receipts on A for ids never issued: %d + %d != %d", len(onA), len(rest), n)
	}
	c = dial(t, ctx, b.addr, pdu.BindTransceiver)
	receiptsFor(t, ctx, c, rest, "bound to B")
	uctx, ucancel = context.WithTimeout(ctx, 10*time.Second)
	if err := c.Unbind(uctx); err != nil {
		t.Fatal(err)
	}
	ucancel()

	// Phase 3: it submits through A and receives on B only.
	rx := dial(t, ctx, b.addr, pdu.BindReceiver)
	tx := dial(t, ctx, a.addr, pdu.BindTransmitter)
	ids = submitAll(t, tx, 2*n, n)
	if len(ids) != n {
		t.Fatalf("%d of %d accepted", len(ids), n)
	}
	receiptsFor(t, ctx, rx, ids, "receiving on B")
	if err := smsc.WaitReceiptsAcked(ctx, 3*n); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-rx.Deliveries():
		t.Fatalf("an extra receipt for %q", d.ReceiptID)
	default:
	}
}

// TestSharedRedisStoreSurvivesKill: two instances both bound to the SMSC
// as transceivers; the client submits through B and receives on A. A is
// killed part-way: the client's receiver binds to B, and every accepted
// message still gets its receipt, those owed to A's bind and those A had
// stored but not delivered included.
func TestSharedRedisStoreSurvivesKill(t *testing.T) {
	ctx, smsc, a, b := startPair(t, "trx", "trx", 100*time.Millisecond)
	rxA := dial(t, ctx, a.addr, pdu.BindReceiver)
	tx := dial(t, ctx, b.addr, pdu.BindTransmitter)

	const n = 4000
	var mu sync.Mutex
	accepted := make(map[string]bool, n)
	got := make(map[string]int, n)
	var wg sync.WaitGroup
	for i := range n {
		submit(t, tx, i, &wg, func(id string) {
			mu.Lock()
			accepted[id] = true
			mu.Unlock()
		})
		if i == n/2 {
			// Kill A once it has delivered some receipts, with more
			// on the way.
			for len(got) < n/8 {
				select {
				case d := <-rxA.Deliveries():
					got[d.ReceiptID]++
				case <-ctx.Done():
					t.Fatalf("A delivered %d receipts", len(got))
				}
			}
			a.kill(t)
		}
	}
	wg.Wait()
	for d := range rxA.Deliveries() { // what A sent before it died
		got[d.ReceiptID]++
	}
	before := len(got)
	rxB := dial(t, ctx, b.addr, pdu.BindReceiver)
	for len(got) < len(accepted) {
		select {
		case d := <-rxB.Deliveries():
			if !accepted[d.ReceiptID] {
				t.Fatalf("receipt for %q, an id never issued", d.ReceiptID)
			}
			got[d.ReceiptID]++
		case <-ctx.Done():
			t.Fatalf("%d of %d accepted messages got their receipt (%d through A before the kill); SMSC: %d acknowledged, %d pending",
				len(got), len(accepted), before, smsc.ReceiptsAcked(), smsc.ReceiptsPending())
		}
	}
	dups := 0
	for _, k := range got {
		dups += k - 1
	}
	// A receipt A sent whose response it never saw is sent again by B: a
	// duplicate the kill allows, never a loss.
	t.Logf("%d accepted: %d receipts through A before the kill, %d through B after; %d delivered twice",
		len(accepted), before, len(got)-before, dups)
}
