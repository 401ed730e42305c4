package daemon

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// TestUpstreamStopStart: a stopped upstream's binds unbind and stay down,
// through a reload that rebuilds it, while submits go to the other
// member; started, it binds again and takes traffic.
func TestUpstreamStopStart(t *testing.T) {
	t.Parallel()
	c := startControl(t)
	a, b := c.smscs[0], c.smscs[1]
	ctx := deadline(t)
	shop := c.dial(t, "shop", "secret", pdu.BindTransmitter, 10)

	for range 2 { // the second stop changes nothing and says so with 204 too
		if code, body := c.call(t, "POST", "/api/v1/upstreams/a/stop", ""); code != http.StatusNoContent {
			t.Fatalf("stop a: %d %s", code, body)
		}
	}
	c.waitSMSCs(t, ctx, "a's binds gone from the SMSC", func() bool { return a.Binds() == 0 })
	if c.d.Upstream("a").Running() {
		t.Fatal("a runs after stop")
	}
	if n := metricSum(t, c.d, "smppmux_upstream_bind_losses_total"); n != 0 {
		t.Fatalf("%v bind losses counted for a stop", n)
	}
	if got := c.control(t).StoppedUpstreams; !slices.Equal(got, []string{"a"}) {
		t.Fatalf("stopped upstreams %q, want [a]", got)
	}
	check := func(when string) {
		t.Helper()
		before := b.Accepted()
		for i, r := range submitAll(t, shop, 20, plainBody) {
			if r.Status != pdu.StatusOK {
				t.Fatalf("%s: submit %d: 0x%08x", when, i, uint32(r.Status))
			}
		}
		if a.Received() != 0 || b.Accepted()-before != 20 {
			t.Fatalf("%s: a got %d, b %d of 20", when, a.Received(), b.Accepted()-before)
		}
	}
	check("stopped")

	old := c.d.Upstream("a")
	c.reload(t, "window: 10", "window: 20")
	if c.d.Upstream("a") == old {
		t.Fatal("the reload kept a: it does not test a rebuilt upstream")
	}
	if c.d.Upstream("a").Running() || a.Binds() != 0 {
		t.Fatalf("after a reload, a runs (%v) with %d binds: want it stopped", c.d.Upstream("a").Running(), a.Binds())
	}
	check("stopped, reloaded")

	if code, body := c.call(t, "POST", "/api/v1/upstreams/a/start", ""); code != http.StatusNoContent {
		t.Fatalf("start a: %d %s", code, body)
	}
	if err := a.WaitBinds(ctx, 2); err != nil {
		t.Fatalf("a did not bind again: %v", err)
	}
	waitHealth(t, ctx, c.d.Upstream("a"), true, "never: a healthy")
	for a.Accepted() == 0 {
		if ctx.Err() != nil {
			t.Fatal("a took no traffic after start")
		}
		if r, err := shop.Submit(ctx, plainBody(0)); err != nil || r.Status != pdu.StatusOK {
			t.Fatalf("submit: %v %v", r.Status, err)
		}
	}
	if got := c.control(t).StoppedUpstreams; len(got) != 0 {
		t.Fatalf("stopped upstreams %q after start, want none", got)
	}

	for _, path := range []string{"/api/v1/upstreams/zz/stop", "/api/v1/upstreams/zz/start"} {
		if code, body := c.call(t, "POST", path, ""); code != http.StatusNotFound || !strings.Contains(body, `"zz"`) {
			t.Errorf("POST %s: %d %s, want 404 naming it", path, code, body)
		}
	}
	if code, _ := c.call(t, "GET", "/api/v1/upstreams/a/stop", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("GET of stop: %d, want 405", code)
	}
}

// TestUpstreamStopUnderLoad: the submits under way on an upstream being
// stopped get their answers, and those after go to the other member:
// every message is accepted once.
func TestUpstreamStopUnderLoad(t *testing.T) {
	t.Parallel()
	slow := func(*smsctest.SubmitRequest) smsctest.Reply { return smsctest.Reply{Delay: 200 * time.Millisecond} }
	c := startControl(t, smsctest.Config{Submit: slow})
	a, b := c.smscs[0], c.smscs[1]
	ctx := deadline(t)
	shop := c.dial(t, "shop", "secret", pdu.BindTransmitter, 50)
	const n = 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[pdu.Status]int{}
	for i := range n {
		wg.Add(1)
		err := shop.SubmitAsync(plainBody(i), func(r esmetest.Resp, err error) {
			defer wg.Done()
			if err != nil {
				t.Errorf("submit %d: %v", i, err)
				return
			}
			mu.Lock()
			statuses[r.Status]++
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		if i == 20 {
			waitUntil(t, ctx, "submits under way at a", func() bool { return a.Received() > 0 })
			if code, body := c.call(t, "POST", "/api/v1/upstreams/a/stop", ""); code != http.StatusNoContent {
				t.Fatalf("stop a: %d %s", code, body)
			}
		}
	}
	wg.Wait()
	if statuses[pdu.StatusOK] != n || a.Received() == 0 || a.Accepted()+b.Accepted() != n || a.Accepted() != a.Received() {
		t.Fatalf("statuses %v; a received %d, accepted %d; b accepted %d: want all %d accepted once, a's answered",
			statuses, a.Received(), a.Accepted(), b.Accepted(), n)
	}
}
