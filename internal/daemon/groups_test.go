package daemon

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/time/rate"

	"github.com/smppmux/smppmux/balancer"
	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// startYAML runs smppmux on a configuration whose upstream addresses are
// filled in from smscs: {{0}} is smscs[0], and so on.
func startYAML(t *testing.T, yaml string, smscs ...*smsctest.Server) *env {
	t.Helper()
	return startYAMLWith(t, yaml, zaptest.NewLogger(t), Options{}, smscs...)
}

// startYAMLWith is startYAML with the Daemon's logger and options.
func startYAMLWith(t *testing.T, yaml string, log *zap.Logger, opts Options, smscs ...*smsctest.Server) *env {
	t.Helper()
	for i, s := range smscs {
		yaml = strings.ReplaceAll(yaml, fmt.Sprintf("{{%d}}", i), s.Addr())
	}
	if !strings.Contains(yaml, "admin:") {
		// Parallel tests must not share the default admin port.
		yaml = strings.Replace(yaml, `listen: {smpp: "127.0.0.1:0"}`, `listen: {smpp: "127.0.0.1:0", admin: "127.0.0.1:0"}`, 1)
	}
	if !strings.Contains(yaml, "state_dir:") {
		yaml = fmt.Sprintf("state_dir: %q\n", t.TempDir()) + yaml
	}
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	d, err := New(cfg, log, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	ctx := deadline(t)
	for _, s := range smscs {
		if err := s.WaitBinds(ctx, 1); err != nil {
			t.Fatalf("smppmux did not bind: %v", err)
		}
	}
	for _, uc := range cfg.Upstreams {
		// Binding may be under way: the fake SMSC saw the bind, smppmux
		// is reading its response.
		waitHealth(t, ctx, d.Upstream(uc.Name), true, "upstream "+uc.Name+" never became healthy")
	}
	return &env{smscs: smscs, d: d, yaml: yaml}
}

const twoMembers = `
listen: {smpp: "127.0.0.1:0"}
clients:
  - {system_id: shop, password: secret, window: 200}
upstreams:
  - {name: a, addr: "{{0}}", system_id: mux, binds: 2, window: 100, reconnect_min: 20ms, reconnect_max: 50ms, response_timeout: 2s}
  - {name: b, addr: "{{1}}", system_id: mux, binds: 2, window: 100, reconnect_min: 20ms, reconnect_max: 50ms, response_timeout: 2s}
groups:
  - name: main
    mode: %s
    members: [{upstream: a, weight: %d}, {upstream: b, weight: %d}]
    breaker: {failures: 3, cooldown: 200ms, probes: 2, slow_start: 400ms}
routes:
  - {group: main}
`

// submitAll sends n messages over the client's window and returns each
// one's response, in order of i. text(i) names each message.
func submitAll(t *testing.T, c *esmetest.Client, n int, body func(i int) []byte) []esmetest.Resp {
	t.Helper()
	out := make([]esmetest.Resp, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		err := c.SubmitAsync(body(i), func(r esmetest.Resp, err error) {
			defer wg.Done()
			if err != nil {
				t.Errorf("submit %d: %v", i, err)
				return
			}
			out[i] = r
		})
		if err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
	}
	wg.Wait()
	return out
}

func plainBody(i int) []byte {
	return esmetest.SubmitBody("Shop", fmt.Sprintf("4477%08d", i), fmt.Appendf(nil, "m%d", i), 0, nil)
}

// TestWeightsSplit: 20,000 messages over members weighted 3:1 split
// within 2 percentage points of 75/25.
func TestWeightsSplit(t *testing.T) {
	t.Parallel()
	a, b := smsctest.Start(t, smsctest.Config{DiscardRecords: true}), smsctest.Start(t, smsctest.Config{DiscardRecords: true})
	e := startYAML(t, fmt.Sprintf(twoMembers, "active-active", 3, 1), a, b)
	c := e.dial(t, "shop", "secret", pdu.BindTransmitter, 50)
	const n = 20000
	for i, r := range submitAll(t, c, n, plainBody) {
		if r.Status != pdu.StatusOK {
			t.Fatalf("submit %d: status 0x%08x", i, uint32(r.Status))
		}
	}
	share := float64(a.Accepted()) / n
	if share < 0.73 || share > 0.77 {
		t.Fatalf("a took %d, b %d: share %.4f, want 0.75 ± 0.02", a.Accepted(), b.Accepted(), share)
	}
	t.Logf("a %d, b %d", a.Accepted(), b.Accepted())
}

// TestKillPrimaryMidLoad: the primary of an active-standby group dies under
// load. Every submit gets an answer, every accepted message is at exactly
// one SMSC, none is at both, and the backup takes traffic within a second.
func TestKillPrimaryMidLoad(t *testing.T) {
	t.Parallel()
	a, b := smsctest.Start(t, smsctest.Config{}), smsctest.Start(t, smsctest.Config{})
	e := startYAML(t, fmt.Sprintf(twoMembers, "active-standby", 1, 1), a, b)
	c := e.dial(t, "shop", "secret", pdu.BindTransmitter, 50)
	const n = 6000
	var killedAt atomic.Int64
	go func() {
		ctx := deadline(t)
		if a.WaitAccepted(ctx, 1500) == nil {
			killedAt.Store(time.Now().UnixNano())
			a.Close()
		}
	}()
	resps := submitAll(t, c, n, plainBody)
	if killedAt.Load() == 0 {
		t.Fatal("the primary was never killed")
	}
	if b.Accepted() == 0 {
		t.Fatal("the backup took nothing")
	}

	at := make(map[string][]string) // message text -> SMSCs that hold it
	first := time.Time{}
	for name, s := range map[string]*smsctest.Server{"a": a, "b": b} {
		for _, r := range s.Records() {
			var sm pdu.SM
			if err := pdu.ParseSM(r.Body, &sm); err != nil {
				t.Fatal(err)
			}
			at[string(sm.ShortMessage)] = append(at[string(sm.ShortMessage)], name)
			if name == "b" && (first.IsZero() || r.At.Before(first)) {
				first = r.At
			}
		}
	}
	accepted, refused := 0, 0
	for i, r := range resps {
		holders := at[fmt.Sprintf("m%d", i)]
		if len(holders) > 1 {
			t.Fatalf("message %d reached %v: sent twice", i, holders)
		}
		if r.Status == pdu.StatusOK {
			accepted++
			if len(holders) != 1 {
				t.Fatalf("message %d was accepted but no SMSC holds it", i)
			}
		} else {
			refused++
		}
	}
	if gap := first.Sub(time.Unix(0, killedAt.Load())); gap > time.Second {
		t.Fatalf("first message on the backup %s after the primary died", gap)
	}
	t.Logf("accepted %d, answered with an error %d (in flight on the primary when it died); a %d, b %d",
		accepted, refused, a.Accepted(), b.Accepted())
	if refused > 200 {
		t.Fatalf("%d submits failed: more than the window in flight", refused)
	}
}

// TestThrottledMemberShedsLoad: a member answering ESME_RTHROTTLED to
// everything sends its traffic to the other member; the client sees only
// ESME_ROK, the throttled member's pace falls to its floor, and its breaker
// stays closed: a throttle is not a fault.
func TestThrottledMemberShedsLoad(t *testing.T) {
	t.Parallel()
	a := smsctest.Start(t, smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
		return smsctest.Reply{Status: pdu.StatusThrottled}
	}})
	b := smsctest.Start(t, smsctest.Config{})
	e := startYAML(t, fmt.Sprintf(twoMembers, "active-active", 1, 1), a, b)
	c := e.dial(t, "shop", "secret", pdu.BindTransmitter, 20)
	const n = 2000
	for i, r := range submitAll(t, c, n, plainBody) {
		if r.Status != pdu.StatusOK {
			t.Fatalf("submit %d: status 0x%08x, want ESME_ROK through the other member", i, uint32(r.Status))
		}
	}
	if b.Accepted() != n {
		t.Fatalf("b accepted %d of %d", b.Accepted(), n)
	}
	if a.Received() > n/10 {
		t.Fatalf("the throttled member still got %d of %d attempts", a.Received(), n)
	}
	if st := e.d.Group("main").Status()[0]; st.Breaker != balancer.BreakerClosed || !st.Healthy {
		t.Fatalf("throttled member: %+v, want healthy with its breaker closed", st)
	}
	if r := e.d.Upstream("a").Rate(); r <= 0 || r > 50 {
		t.Fatalf("throttled member paced at %v/s, want its floor", r)
	}
	t.Logf("throttled member saw %d attempts of %d messages", a.Received(), n)
}

// TestThrottlingCarriersCarryTheirRate: two carriers that each accept 300
// submits a second and throttle above it carry every message of a client
// sending as fast as its window allows: the client sees no error, no
// breaker moves, each message is taken once, and each upstream reports the
// pace it learnt.
func TestThrottlingCarriersCarryTheirRate(t *testing.T) {
	t.Parallel()
	carrier := func() *smsctest.Server {
		lim := rate.NewLimiter(300, 15)
		return smsctest.Start(t, smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
			if !lim.Allow() {
				return smsctest.Reply{Status: pdu.StatusThrottled}
			}
			return smsctest.Reply{}
		}})
	}
	a, b := carrier(), carrier()
	e := startYAML(t, fmt.Sprintf(twoMembers, "active-active", 1, 1), a, b)
	c := e.dial(t, "shop", "secret", pdu.BindTransmitter, 50)
	const n = 1500
	for i, r := range submitAll(t, c, n, plainBody) {
		if r.Status != pdu.StatusOK {
			t.Fatalf("submit %d: status 0x%08x, want ESME_ROK", i, uint32(r.Status))
		}
	}
	if got := a.Accepted() + b.Accepted(); got != n {
		t.Fatalf("carriers accepted %d messages of %d", got, n)
	}
	snap := e.d.Snapshot()
	for _, g := range snap.Groups {
		for _, m := range g.Members {
			if m.Breaker != "closed" {
				t.Errorf("%s: breaker %s", m.Upstream, m.Breaker)
			}
		}
	}
	if got := metricSum(t, e.d, "smppmux_breaker_transitions_total"); got != 0 {
		t.Errorf("%v breaker transitions, want none", got)
	}
	throttled := 0
	for _, u := range snap.Upstreams {
		if u.PaceTPS <= 0 || u.PaceTPS > 1000 {
			t.Errorf("%s paced at %v/s against a carrier at 300/s", u.Name, u.PaceTPS)
		}
		throttled += int(u.Throttled)
	}
	t.Logf("paces %+v; %d submits throttled and sent again", snap.Upstreams, throttled)
}

// metricSum adds up the samples of the counter or gauge family name in
// d's registry; 0 when it has none.
func metricSum(t *testing.T, d *Daemon, name string) float64 {
	t.Helper()
	mfs, err := d.opts.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// TestFailingMemberOpensAndRampsBack: a member answering ESME_RSYSERR
// is taken out by its breaker, probed after the cooldown once it is well
// again, and ramped back to its full weight.
func TestFailingMemberOpensAndRampsBack(t *testing.T) {
	t.Parallel()
	var failing atomic.Bool
	failing.Store(true)
	a := smsctest.Start(t, smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
		if failing.Load() {
			return smsctest.Reply{Status: pdu.StatusSysErr}
		}
		return smsctest.Reply{}
	}})
	b := smsctest.Start(t, smsctest.Config{})
	e := startYAML(t, fmt.Sprintf(twoMembers, "active-active", 1, 1), a, b)
	c := e.dial(t, "shop", "secret", pdu.BindTransmitter, 1)
	g := e.d.Group("main")
	ctx := deadline(t)
	state := func() balancer.MemberStatus { return g.Status()[0] }
	send := func() {
		r, err := c.Submit(ctx, plainBody(0))
		if err != nil || r.Status != pdu.StatusOK {
			t.Fatalf("submit: %+v %v", r.Status, err)
		}
	}
	for state().Breaker != balancer.BreakerOpen {
		if ctx.Err() != nil {
			t.Fatal("breaker never opened")
		}
		send()
	}
	failing.Store(false)
	before := a.Accepted()
	// Traffic drives the breaker: after the cooldown a probe goes to a,
	// which is well again.
	for state().Breaker != balancer.BreakerClosed {
		if ctx.Err() != nil {
			t.Fatalf("breaker never closed again: %v", state().Breaker)
		}
		send()
	}
	if a.Accepted() <= before {
		t.Fatal("closed without a successful probe")
	}
	if w := state().EffectiveWeight; w >= 1 || w <= 0 {
		t.Fatalf("effective weight right after recovery %v, want a ramp between 0 and 1", w)
	}
	for state().EffectiveWeight < 1 {
		if ctx.Err() != nil {
			t.Fatalf("never ramped back: %v", state().EffectiveWeight)
		}
		send()
	}
}

// TestConcatenatedPartsStick: the three parts of each of 300 concatenated
// messages, sent interleaved with other traffic, all reach one SMSC.
func TestConcatenatedPartsStick(t *testing.T) {
	t.Parallel()
	a, b := smsctest.Start(t, smsctest.Config{}), smsctest.Start(t, smsctest.Config{})
	e := startYAML(t, fmt.Sprintf(twoMembers, "active-active", 1, 1), a, b)
	c := e.dial(t, "shop", "secret", pdu.BindTransmitter, 50)
	const messages, parts = 300, 3
	body := func(i int) []byte {
		msg, part := i%messages, i/messages+1
		udh := []byte{5, 0x00, 3, byte(msg), parts, byte(part)}
		if msg%2 == 1 {
			// Half use the 16-bit reference.
			udh = []byte{6, 0x08, 4, byte(msg >> 8), byte(msg), parts, byte(part)}
		}
		return pdu.AppendSM(nil, &pdu.SM{
			SourceAddr: []byte("Shop"), DestAddr: fmt.Appendf(nil, "4477%08d", msg),
			ESMClass: pdu.EsmUDHI, ShortMessage: append(udh, fmt.Sprintf("part %d", part)...),
		})
	}
	for i, r := range submitAll(t, c, messages*parts, body) {
		if r.Status != pdu.StatusOK {
			t.Fatalf("part %d: status 0x%08x", i, uint32(r.Status))
		}
	}
	where := make(map[string]string)
	for name, s := range map[string]*smsctest.Server{"a": a, "b": b} {
		for _, r := range s.Records() {
			var sm pdu.SM
			if err := pdu.ParseSM(r.Body, &sm); err != nil {
				t.Fatal(err)
			}
			dest := string(sm.DestAddr)
			if prev, ok := where[dest]; ok && prev != name {
				t.Fatalf("parts of the message to %s went to %s and %s", dest, prev, name)
			}
			where[dest] = name
		}
	}
	if a.Accepted() == 0 || b.Accepted() == 0 {
		t.Fatalf("all messages on one member: %d / %d", a.Accepted(), b.Accepted())
	}
}

// TestNoRoute: a submit no route matches gets the configured status.
func TestNoRoute(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{})
	e := startYAML(t, `
listen: {smpp: "127.0.0.1:0"}
server: {no_route_status: "0x45"}
clients: [{system_id: shop, password: secret}]
upstreams: [{name: a, addr: "{{0}}", system_id: mux}]
groups: [{name: uk, members: [{upstream: a}]}]
routes: [{destination_prefix: ["44"], group: uk}]
`, s)
	c := e.dial(t, "shop", "secret", pdu.BindTransmitter, 1)
	r, err := c.Submit(deadline(t), plainBody(0))
	if err != nil || r.Status != pdu.StatusOK {
		t.Fatalf("routed submit: %+v %v", r.Status, err)
	}
	r, err = c.Submit(deadline(t), esmetest.SubmitBody("Shop", "33612345678", []byte("x"), 0, nil))
	if err != nil || r.Status != pdu.StatusSubmitFail || !bytes.Equal(r.Frame.Body(), nil) {
		t.Fatalf("unrouted submit: status 0x%08x %v, want 0x00000045 without body", uint32(r.Status), err)
	}
}

// TestQueueTimeoutWhenAllMembersDown: with every member down, a submit
// waits the group's queue_timeout, not server.submit_timeout, and gets
// ESME_RTHROTTLED.
func TestQueueTimeoutWhenAllMembersDown(t *testing.T) {
	t.Parallel()
	a := smsctest.Start(t, smsctest.Config{})
	e := startYAML(t, `
listen: {smpp: "127.0.0.1:0"}
server: {submit_timeout: 10m}
clients: [{system_id: shop, password: secret}]
upstreams: [{name: a, addr: "{{0}}", system_id: mux, reconnect_min: 10ms, reconnect_max: 20ms}]
groups: [{name: main, members: [{upstream: a}], queue_timeout: 200ms}]
routes: [{group: main}]
`, a)
	c := e.dial(t, "shop", "secret", pdu.BindTransmitter, 1)
	ctx := deadline(t)
	a.Close()
	waitHealth(t, ctx, e.d.Upstream("a"), false, "a stayed bound")
	start := time.Now()
	r, err := c.Submit(ctx, plainBody(0))
	if err != nil || r.Status != pdu.StatusThrottled {
		t.Fatalf("submit with every member down: %v %v, want ESME_RTHROTTLED", r.Status, err)
	}
	t.Logf("answered after %v", time.Since(start).Round(time.Millisecond))
}
