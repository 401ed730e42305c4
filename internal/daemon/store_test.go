package daemon

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/redistest"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// TestRedisOutageFailsClosed: Redis dies while submits are at the carrier.
// While it is down, /readyz says so and new submits are refused with
// ESME_RTHROTTLED before they reach a carrier; the submits the carrier
// accepted get their ESME_ROK only once their mappings are written, after
// Redis is back, and every one of their receipts reaches the client.
func TestRedisOutageFailsClosed(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	smsc := smsctest.Start(t, smsctest.Config{HoldReceipts: true, Submit: func(req *smsctest.SubmitRequest) smsctest.Reply {
		if string(req.SM.ShortMessage) == "held" {
			return smsctest.Reply{Delay: 300 * time.Millisecond} // answered once Redis is dead
		}
		return smsctest.Reply{}
	}})
	e := startYAML(t, fmt.Sprintf(`
listen: {smpp: "127.0.0.1:0", admin: "127.0.0.1:0"}
store: {kind: redis, instance: 1, redis: {addrs: [%q], lease_ttl: 1s}}
clients: [{system_id: shop, password: secret, window: 50}]
upstreams: [{name: a, addr: "{{0}}", system_id: mux, window: 50}]
groups: [{name: main, members: [{upstream: a}]}]
routes: [{group: main}]
`, r.Addr), smsc)
	ctx := deadline(t)
	c := e.dial(t, "shop", "secret", pdu.BindTransceiver, 50)
	readyz := func() (int, string) { return e.readyz(t) }
	if code, body := readyz(); code != 200 {
		t.Fatalf("/readyz %d %q before the outage", code, body)
	}

	// Twenty submits reach the carrier, which holds its answers.
	const n = 20
	resps := make(chan esmetest.Resp, n)
	for i := range n {
		body := esmetest.SubmitBody("Shop", fmt.Sprintf("4477009%05d", i), []byte("held"), 1, nil)
		if err := c.SubmitAsync(body, func(rs esmetest.Resp, err error) {
			if err != nil {
				t.Errorf("submit: %v", err)
			}
			resps <- rs
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Each is accepted, and counted, as it arrives; its answer waits.
	if err := smsc.WaitAccepted(ctx, n); err != nil {
		t.Fatalf("the carrier received %d of %d: %v", smsc.Received(), n, err)
	}
	r.Kill()
	waitStore(t, ctx, e.d, func() bool { return e.d.store.Health() != nil }, "the store never noticed Redis died")
	if code, body := readyz(); code != 503 || !strings.Contains(body, "store: redis store") {
		t.Fatalf("/readyz %d %q while Redis is down, want 503 naming the store", code, body)
	}
	// A new submit is refused before it reaches the carrier.
	received := smsc.Received()
	rs, err := c.Submit(ctx, esmetest.SubmitBody("Shop", "447700900999", []byte("new"), 1, nil))
	if err != nil || rs.Status != pdu.StatusThrottled {
		t.Fatalf("submit while Redis is down: %v %v, want ESME_RTHROTTLED", rs.Status, err)
	}
	if smsc.Received() != received {
		t.Fatal("a submit refused for the store reached the carrier")
	}
	// The carrier's answers come: the mappings cannot be written, and the
	// clients wait for theirs.
	e.waitRelay(t, ctx, fmt.Sprintf("%d mapping writes waiting to be tried again", n), func() bool { return e.d.Relay.PendingWrites() >= n })
	if len(resps) != 0 {
		rs := <-resps
		t.Fatalf("a submit was answered 0x%08x while its mapping could not be written", uint32(rs.Status))
	}
	t.Logf("%d mapping writes wait; Redis revived", n)
	r.Revive()

	issued := map[string]bool{}
	for range n {
		select {
		case rs := <-resps:
			if rs.Status != pdu.StatusOK {
				t.Fatalf("accepted submit answered 0x%08x, want ESME_ROK once its mapping is written", uint32(rs.Status))
			}
			issued[rs.MessageID] = true
		case <-ctx.Done():
			t.Fatalf("%d submits accepted by the carrier never answered", n-len(issued))
		}
	}
	t.Logf("all %d answered ESME_ROK", n)
	for len(issued) > 0 {
		select {
		case d := <-c.Deliveries():
			if !issued[d.ReceiptID] {
				t.Fatalf("receipt for %q, not one of the messages", d.ReceiptID)
			}
			delete(issued, d.ReceiptID)
		case <-ctx.Done():
			t.Fatalf("%d receipts missing after Redis came back", len(issued))
		}
	}
	t.Log("all receipts delivered")
	waitStore(t, ctx, e.d, func() bool { code, _ := readyz(); return code == 200 }, "/readyz never 200 again")
	if rs, err := c.Submit(ctx, esmetest.SubmitBody("Shop", "447700900998", []byte("after"), 0, nil)); err != nil || rs.Status != pdu.StatusOK {
		t.Fatalf("submit after Redis came back: %v %v", rs.Status, err)
	}
}

// TestHealthWhileRedisHangs: while Redis answers nothing, /readyz and
// /metrics answer at once from what smppmux knows, /readyz says the store
// is in trouble, and new submits are refused before they reach a carrier.
func TestHealthWhileRedisHangs(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	smsc := smsctest.Start(t, smsctest.Config{})
	e := startYAML(t, fmt.Sprintf(`
listen: {smpp: "127.0.0.1:0", admin: "127.0.0.1:0"}
store: {kind: redis, instance: 1, redis: {addrs: [%q], lease_ttl: 1s}}
clients: [{system_id: shop, password: secret}]
upstreams: [{name: a, addr: "{{0}}", system_id: mux}]
groups: [{name: main, members: [{upstream: a}]}]
routes: [{group: main}]
`, r.Addr), smsc)
	ctx := deadline(t)
	c := e.dial(t, "shop", "secret", pdu.BindTransceiver, 10)
	if rs, err := c.Submit(ctx, esmetest.SubmitBody("Shop", "447700900001", []byte("before"), 1, nil)); err != nil || rs.Status != pdu.StatusOK {
		t.Fatalf("submit: %v %v", rs.Status, err)
	}
	r.Pause()
	defer r.Resume()
	// Far less than the seconds a request to a hung Redis waits for.
	client := &http.Client{Timeout: 2 * time.Second}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := client.Get("http://" + e.d.AdminAddr().String() + path)
		if err != nil {
			t.Fatalf("GET %s while Redis hangs: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var body string
	waitStore(t, ctx, e.d, func() bool {
		var code int
		code, body = get("/readyz")
		return code == 503
	}, "/readyz never said the store is in trouble")
	if !strings.Contains(body, "store: redis store") {
		t.Fatalf("/readyz %q, want the store named", body)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, `smppmux_store_healthy{kind="redis"} 0`) {
		t.Fatalf("/metrics %d while Redis hangs, want 200 with the store unhealthy", code)
	}
	received := smsc.Received()
	if rs, err := c.Submit(ctx, esmetest.SubmitBody("Shop", "447700900002", []byte("during"), 1, nil)); err != nil || rs.Status != pdu.StatusThrottled {
		t.Fatalf("submit while Redis hangs: %v %v, want ESME_RTHROTTLED", rs.Status, err)
	}
	if smsc.Received() != received {
		t.Fatal("a submit refused for the store reached the carrier")
	}
	r.Resume()
	waitStore(t, ctx, e.d, func() bool { code, _ := get("/readyz"); return code == 200 }, "/readyz never 200 again after Redis resumed")
}
