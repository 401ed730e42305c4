package daemon

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// families gathers reg and returns its families by name.
func families(t *testing.T, reg prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// seriesValue returns the value of family's series with exactly labels
// ("k=v", in any order) and whether it exists.
func seriesValue(mfs map[string]*dto.MetricFamily, family string, labels ...string) (float64, bool) {
	want := map[string]string{}
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		want[k] = v
	}
next:
	for _, m := range mfs[family].GetMetric() {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		for _, l := range m.GetLabel() {
			if want[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// TestMetricsExistFromTheStart: before any traffic, every configured
// upstream, group member and client has its counters at 0, so that
// increase() sees the first bind loss, failover or breaker change; an
// upstream a reload adds gets them too.
func TestMetricsExistFromTheStart(t *testing.T) {
	t.Parallel()
	a, b, c := smsctest.Start(t, smsctest.Config{}), smsctest.Start(t, smsctest.Config{}), smsctest.Start(t, smsctest.Config{})
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	e := startYAMLWith(t, fmt.Sprintf(reloadBase, dir, "", a.Addr(), b.Addr(), 50, "", 1, ""), nil, Options{Registry: reg}, a, b)
	mfs := families(t, reg)
	for _, s := range [][]string{
		{"smppmux_upstream_bind_losses_total", "upstream=a", "reason=dead_peer"},
		{"smppmux_upstream_bind_losses_total", "upstream=b", "reason=peer_closed"},
		{"smppmux_failovers_total", "group=main", "upstream=a", "reason=status"},
		{"smppmux_failovers_total", "group=main", "upstream=b", "reason=not_sent"},
		{"smppmux_breaker_transitions_total", "group=main", "upstream=b", "to=open"},
		{"smppmux_receipts_total", "upstream=a", "result=unmatched"},
		{"smppmux_receipts_parked_total", "upstream=b"},
		{"smppmux_submits_total", "client=shop", "group=main", "upstream=a", "status=0x00000000"},
		{"smppmux_submits_refused_total", "client=shop", "reason=no_member"},
		{"smppmux_client_bind_failures_total", "client=shop", "status=0x0000000e", "reason=wrong_password"},
		{"smppmux_client_sessions_closed_total", "reason=dead_peer"},
		{"smppmux_client_binds", "client=shop", "bind_type=bind_transceiver"},
		{"smppmux_outbox_depth", "client=shop"},
	} {
		if v, ok := seriesValue(mfs, s[0], s[1:]...); !ok || v != 0 {
			t.Errorf("%s%v: %v (exists: %v), want 0", s[0], s[1:], v, ok)
		}
	}
	if v, ok := seriesValue(mfs, "smppmux_build_info", buildLabels(mfs)...); !ok || v != 1 {
		t.Errorf("smppmux_build_info: %v %v", v, ok)
	}
	// The Pebble store's LSM shape.
	for _, s := range [][]string{
		{"smppmux_store_l0_tables"}, {"smppmux_store_l0_sublevels"}, {"smppmux_store_table_bytes", "level=0"},
		{"smppmux_store_table_bytes", "level=lower"}, {"smppmux_store_compaction_debt_bytes"},
		{"smppmux_store_compactions_total"}, {"smppmux_store_compacted_bytes_total"}, {"smppmux_store_flushed_bytes_total"},
	} {
		if v, ok := seriesValue(mfs, s[0], s[1:]...); !ok || v < 0 {
			t.Errorf("%s%v: %v (exists: %v)", s[0], s[1:], v, ok)
		}
	}

	next, err := config.Parse([]byte(fmt.Sprintf(reloadBase, dir, "", a.Addr(), b.Addr(), 50,
		fmt.Sprintf("  - {name: c, addr: %q, system_id: mux}", c.Addr()), 1, ", {upstream: c}")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.d.Apply(next); err != nil {
		t.Fatal(err)
	}
	mfs = families(t, reg)
	for _, s := range [][]string{
		{"smppmux_upstream_bind_losses_total", "upstream=c", "reason=dead_peer"},
		{"smppmux_failovers_total", "group=main", "upstream=c", "reason=throttled"},
		{"smppmux_breaker_transitions_total", "group=main", "upstream=c", "to=half_open"},
	} {
		if v, ok := seriesValue(mfs, s[0], s[1:]...); !ok || v != 0 {
			t.Errorf("after the reload, %s%v: %v (exists: %v), want 0", s[0], s[1:], v, ok)
		}
	}
}

// buildLabels returns smppmux_build_info's labels as "k=v".
func buildLabels(mfs map[string]*dto.MetricFamily) []string {
	var out []string
	for _, m := range mfs["smppmux_build_info"].GetMetric() {
		for _, l := range m.GetLabel() {
			out = append(out, l.GetName()+"="+l.GetValue())
		}
	}
	return out
}

// TestParkedReceiptsCountedOnce: receipts that beat their submit_sm_resp
// wait for their mapping; each is one receipt in smppmux_receipts_total,
// and those that waited are counted in smppmux_receipts_parked_total.
func TestParkedReceiptsCountedOnce(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{ReceiptBeforeResp: true})
	reg := prometheus.NewRegistry()
	e := startYAMLWith(t, `
listen: {smpp: "127.0.0.1:0"}
clients:
  - {system_id: shop, password: secret}
upstreams:
  - {name: a, addr: "{{0}}", system_id: mux, bind: trx}
groups:
  - {name: main, members: [{upstream: a}]}
routes:
  - {group: main}
`, nil, Options{Registry: reg}, s)
	c := e.dial(t, "shop", "secret", pdu.BindTransceiver, 20)
	ctx := deadline(t)
	const n = 200
	for i := range n {
		r, err := c.Submit(ctx, esmetest.SubmitBody("Shop", fmt.Sprintf("44770%07d", i), []byte("x"), 1, nil))
		if err != nil || r.Status != pdu.StatusOK {
			t.Fatalf("submit %d: %v %v", i, r.Status, err)
		}
	}
	for got := 0; got < n; got++ {
		select {
		case <-c.Deliveries():
		case <-ctx.Done():
			t.Fatalf("%d receipts missing", n-got)
		}
	}
	// A receipt is counted once its outbox item is durable, which may be
	// after the client has it.
	waitUntil(t, ctx, "every receipt counted", func() bool { return e.d.Relay.Stats.ReceiptsMatched.Load() == n })
	mfs := families(t, reg)
	total := 0.0
	for _, m := range mfs["smppmux_receipts_total"].GetMetric() {
		total += m.GetCounter().GetValue()
	}
	matched, _ := seriesValue(mfs, "smppmux_receipts_total", "upstream=a", "result=matched")
	parked, _ := seriesValue(mfs, "smppmux_receipts_parked_total", "upstream=a")
	if total != n || matched != n {
		t.Errorf("smppmux_receipts_total sums to %v (matched %v) for %d receipts, want %d", total, matched, n, n)
	}
	if parked == 0 {
		t.Errorf("no receipt counted as parked, though every one came before its response")
	}
}

// TestKnownBindLossReasons: an upstream's bind losses start at 0 for the
// reasons that end a bound bind, not for those of a refused bind or a
// stop.
func TestKnownBindLossReasons(t *testing.T) {
	t.Parallel()
	k := known(&config.Config{})
	for _, want := range []string{"peer_closed", "dead_peer", "read_error", "unbind"} {
		if !slices.Contains(k.BindLossReasons, want) {
			t.Errorf("bind loss reasons %q lack %s", k.BindLossReasons, want)
		}
	}
	for _, not := range []string{"bind_timeout", "bind_failed", "shutdown", "removed", "none"} {
		if slices.Contains(k.BindLossReasons, not) {
			t.Errorf("bind loss reasons %q hold %s", k.BindLossReasons, not)
		}
	}
	if !slices.Contains(k.CloseReasons, "bind_timeout") || slices.Contains(k.CloseReasons, "none") {
		t.Errorf("close reasons %q", k.CloseReasons)
	}
}
