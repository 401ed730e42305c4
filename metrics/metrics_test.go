package metrics

import (
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
)

// fixedSource is a Source returning the same snapshot every time.
type fixedSource struct{ s Snapshot }

func (f fixedSource) Snapshot() Snapshot { return f.s }

func testSnapshot() Snapshot {
	return Snapshot{
		Sessions: []SessionInfo{
			{ID: 1, SystemID: "shop", BindType: "transceiver", Remote: "10.0.0.1:40000", Inflight: 3},
			{ID: 2, SystemID: "shop", BindType: "transceiver", Remote: "10.0.0.1:40001", Inflight: 2},
			{ID: 3, SystemID: "shop", BindType: "receiver", Remote: "10.0.0.2:40000"},
			{ID: 4, SystemID: "bank", BindType: "transmitter", Remote: "10.0.0.3:40000", Inflight: 7},
		},
		Binds: []BindInfo{
			{Upstream: "carrier-a", Index: 0, BindType: "transceiver", State: "bound", LocalAddr: "10.1.0.1:50000", WindowUsed: 10, Window: 50},
			{Upstream: "carrier-a", Index: 1, BindType: "transceiver", State: "bound", LocalAddr: "10.1.0.1:50001", WindowUsed: 5, Window: 50},
			{Upstream: "carrier-b", Index: 0, BindType: "transceiver", State: "dialing", Window: 20},
		},
		Upstreams: []UpstreamInfo{
			{Name: "carrier-a", PaceTPS: 950.5, Throttled: 42},
			{Name: "carrier-b"},
		},
		Groups: []GroupInfo{
			{Name: "main", Mode: "active-active", Members: []MemberInfo{
				{Upstream: "carrier-a", Weight: 3, EffectiveWeight: 3, Healthy: true, Breaker: "closed"},
				{Upstream: "carrier-b", Weight: 1, EffectiveWeight: 0, Healthy: false, Breaker: "open"},
			}},
			{Name: "backup", Mode: "active-standby", Members: []MemberInfo{
				{Upstream: "carrier-b", Weight: 1, EffectiveWeight: 0.1, Healthy: true, Breaker: "half_open"},
			}},
		},
		Outboxes: []OutboxInfo{
			{SystemID: "shop", Depth: 12, OldestAge: 90 * time.Second},
			{SystemID: "bank", Depth: 0},
		},
		DeadLetters: []DeadLetterInfo{{SystemID: "shop", Count: 2}},
		Ready:       true,
		Store:       StoreInfo{Kind: "redis", Healthy: false, Error: "redis store (10.0.0.9:6379): connection refused", PendingWrites: 7},
	}
}

// gather returns reg's families by name.
func gather(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	byName := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	return byName
}

// series finds the series of family name with exactly labels ("k=v"
// pairs) and returns its value: a counter's or gauge's value, a
// histogram's sample count.
func series(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mf := gather(t, reg)[name]
	if mf == nil {
		t.Fatalf("%s: no such family", name)
	}
	want := strings.Join(labels, ",")
	for _, m := range mf.GetMetric() {
		var got []string
		for _, l := range m.GetLabel() {
			got = append(got, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(got)
		sorted := append([]string(nil), labels...)
		sort.Strings(sorted)
		if strings.Join(got, ",") != strings.Join(sorted, ",") {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("%s{%s}: no such series", name, want)
	return 0
}

// count returns how many series family name has, 0 when absent.
func count(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	return len(gather(t, reg)[name].GetMetric())
}

// allEvents records one of every event.
func allEvents(m *Metrics) {
	m.Submit("shop", "main", "carrier-a", 0, 3*time.Millisecond)
	m.SubmitRefused("shop", RefusedThrottled)
	m.Failover("main", "carrier-b", "not_written")
	m.Receipt("carrier-a", ReceiptMatched)
	m.Parked("carrier-a")
	m.FinalReceipt("carrier-a", true, 4*time.Second)
	m.Delivered("shop")
	m.OutboxExpired("shop")
	m.OutboxRetry("shop")
	m.DeadLetter("shop", "refused")
	m.MO(MORouted)
	m.SessionClosed("peer_closed")
	m.BindFailed("shop", true, 0x0E, "wrong_password")
	m.UpstreamBindLost("carrier-b", "read_error")
	m.BreakerChange("main", "carrier-b", "open")
	m.Reload(true, time.Unix(1700000000, 0))
	m.StoreCommit("pebble", 300*time.Microsecond, 12, nil)
	m.StoreCommit("pebble", 0, 3, errors.New("disk full"))
}

var allNames = []string{
	"smppmux_store_sync_duration_seconds",
	"smppmux_store_batch_writes",
	"smppmux_store_write_failures_total",
	"smppmux_submits_total",
	"smppmux_submit_duration_seconds",
	"smppmux_submits_refused_total",
	"smppmux_failovers_total",
	"smppmux_receipts_total",
	"smppmux_receipts_parked_total",
	"smppmux_receipt_final_total",
	"smppmux_submit_to_final_receipt_seconds",
	"smppmux_client_deliveries_total",
	"smppmux_outbox_expired_total",
	"smppmux_outbox_retries_total",
	"smppmux_dead_letters_total",
	"smppmux_mo_total",
	"smppmux_client_sessions_closed_total",
	"smppmux_client_bind_failures_total",
	"smppmux_upstream_bind_losses_total",
	"smppmux_breaker_transitions_total",
	"smppmux_config_last_reload_successful",
	"smppmux_config_last_reload_success_timestamp_seconds",
	"smppmux_config_reloads_total",
	"smppmux_client_binds",
	"smppmux_client_window_used",
	"smppmux_upstream_binds",
	"smppmux_upstream_window_used",
	"smppmux_upstream_window_size",
	"smppmux_upstream_pace_tps",
	"smppmux_upstream_throttled_total",
	"smppmux_group_member_weight",
	"smppmux_group_member_effective_weight",
	"smppmux_group_member_healthy",
	"smppmux_breaker_state",
	"smppmux_outbox_depth",
	"smppmux_outbox_oldest_age_seconds",
	"smppmux_dead_letters",
	"smppmux_ready",
	"smppmux_store_healthy",
	"smppmux_store_pending_writes",
	"smppmux_build_info",
}

func TestPromlint(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	allEvents(New(reg, fixedSource{testSnapshot()}))

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	// Every family must be present, or the linter would skip it.
	got := make(map[string]bool)
	for _, mf := range mfs {
		got[mf.GetName()] = true
	}
	for _, name := range allNames {
		if !got[name] {
			t.Errorf("%s missing from the scrape", name)
		}
	}
	if len(mfs) != len(allNames) {
		t.Errorf("%d families, want %d", len(mfs), len(allNames))
	}

	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestReadmeListsEveryMetric(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range allNames {
		if !strings.Contains(string(b), "| `"+name+"` |") {
			t.Errorf("README.md has no row for %s", name)
		}
	}
}

// TestDashboardUsesKnownMetrics: every metric the Grafana dashboard
// queries exists.
func TestDashboardUsesKnownMetrics(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../grafana/smppmux.json")
	if err != nil {
		t.Fatal(err)
	}
	used := regexp.MustCompile(`smppmux_[a-z_]+`).FindAllString(string(b), -1)
	if len(used) == 0 {
		t.Fatal("the dashboard queries no metric")
	}
	for _, name := range used {
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suffix); ok && slices.Contains(allNames, b) {
				base = b
			}
		}
		if !slices.Contains(allNames, base) {
			t.Errorf("the dashboard queries %s, which smppmux does not export", name)
		}
	}
}

func TestEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		record func(*Metrics)
		family string
		labels []string
		want   float64
	}{
		{"submit", func(m *Metrics) { m.Submit("shop", "main", "carrier-a", 0x58, time.Millisecond) },
			"smppmux_submits_total", []string{"client=shop", "group=main", "upstream=carrier-a", "status=0x00000058"}, 1},
		{"submit duration", func(m *Metrics) { m.Submit("shop", "main", "carrier-a", 0, time.Millisecond) },
			"smppmux_submit_duration_seconds", []string{"group=main"}, 1},
		{"submit vendor status", func(m *Metrics) { m.Submit("shop", "main", "carrier-a", 0x400, time.Millisecond) },
			"smppmux_submits_total", []string{"client=shop", "group=main", "upstream=carrier-a", "status=0x00000400"}, 1},
		{"submit counted again per label set", func(m *Metrics) {
			m.Submit("shop", "main", "carrier-a", 0x58, time.Millisecond)
			m.Submit("shop", "main", "carrier-b", 0x58, time.Millisecond)
			m.Submit("shop", "main", "carrier-a", 0, time.Millisecond)
			m.Submit("shop", "main", "carrier-a", 0x58, time.Millisecond)
		}, "smppmux_submits_total", []string{"client=shop", "group=main", "upstream=carrier-a", "status=0x00000058"}, 2},
		{"receipt counted again per result", func(m *Metrics) {
			m.Receipt("carrier-a", ReceiptUnmatched)
			m.Receipt("carrier-a", ReceiptMatched)
			m.Receipt("carrier-b", ReceiptUnmatched)
			m.Receipt("carrier-a", ReceiptUnmatched)
		}, "smppmux_receipts_total", []string{"upstream=carrier-a", "result=unmatched"}, 2},
		{"parked is a stage", func(m *Metrics) {
			m.Parked("carrier-a")
			m.Receipt("carrier-a", ReceiptParked)
			m.Parked("carrier-b")
		}, "smppmux_receipts_parked_total", []string{"upstream=carrier-a"}, 2},
		{"delivered counted again per client", func(m *Metrics) { m.Delivered("shop"); m.Delivered("bank"); m.Delivered("shop") },
			"smppmux_client_deliveries_total", []string{"client=shop"}, 2},
		{"refused", func(m *Metrics) { m.SubmitRefused("shop", RefusedNoRoute); m.SubmitRefused("shop", RefusedNoRoute) },
			"smppmux_submits_refused_total", []string{"client=shop", "reason=no_route"}, 2},
		{"failover", func(m *Metrics) { m.Failover("main", "carrier-a", "retry_status") },
			"smppmux_failovers_total", []string{"group=main", "upstream=carrier-a", "reason=retry_status"}, 1},
		{"receipt", func(m *Metrics) { m.Receipt("carrier-a", ReceiptAmbiguous) },
			"smppmux_receipts_total", []string{"upstream=carrier-a", "result=ambiguous"}, 1},
		{"final delivered", func(m *Metrics) { m.FinalReceipt("carrier-a", true, time.Minute) },
			"smppmux_receipt_final_total", []string{"upstream=carrier-a", "outcome=delivered"}, 1},
		{"final undelivered", func(m *Metrics) { m.FinalReceipt("carrier-a", false, time.Minute) },
			"smppmux_receipt_final_total", []string{"upstream=carrier-a", "outcome=undelivered"}, 1},
		{"final delay", func(m *Metrics) {
			m.FinalReceipt("carrier-a", false, time.Minute)
			m.FinalReceipt("carrier-a", true, time.Hour)
		}, "smppmux_submit_to_final_receipt_seconds", []string{"upstream=carrier-a"}, 2},
		{"delivered", func(m *Metrics) { m.Delivered("shop") },
			"smppmux_client_deliveries_total", []string{"client=shop"}, 1},
		{"outbox expired", func(m *Metrics) { m.OutboxExpired("shop") },
			"smppmux_outbox_expired_total", []string{"client=shop"}, 1},
		{"mo unrouted", func(m *Metrics) { m.MO(MOUnrouted) },
			"smppmux_mo_total", []string{"result=unrouted"}, 1},
		{"mo routed starts at 0", func(*Metrics) {},
			"smppmux_mo_total", []string{"result=routed"}, 0},
		{"session closed", func(m *Metrics) { m.SessionClosed("unbind") },
			"smppmux_client_sessions_closed_total", []string{"reason=unbind"}, 1},
		{"bind failed known", func(m *Metrics) { m.BindFailed("shop", true, 0x0E, "wrong_password") },
			"smppmux_client_bind_failures_total", []string{"client=shop", "status=0x0000000e", "reason=wrong_password"}, 1},
		{"bind failed unknown", func(m *Metrics) {
			m.BindFailed("x'; DROP", false, 0x0F, "unknown_system_id")
			m.BindFailed("another", false, 0x0F, "unknown_system_id")
		}, "smppmux_client_bind_failures_total", []string{"client=unknown", "status=0x0000000f", "reason=unknown_system_id"}, 2},
		{"bind failed by reason", func(m *Metrics) {
			m.BindFailed("shop", true, 0x0D, "throttled")
			m.BindFailed("shop", true, 0x0D, "max_binds")
		}, "smppmux_client_bind_failures_total", []string{"client=shop", "status=0x0000000d", "reason=throttled"}, 1},
		{"upstream bind lost", func(m *Metrics) { m.UpstreamBindLost("carrier-a", "dead_peer") },
			"smppmux_upstream_bind_losses_total", []string{"upstream=carrier-a", "reason=dead_peer"}, 1},
		{"breaker", func(m *Metrics) { m.BreakerChange("main", "carrier-a", "half_open") },
			"smppmux_breaker_transitions_total", []string{"group=main", "upstream=carrier-a", "to=half_open"}, 1},
		{"reload ok", func(m *Metrics) { m.Reload(true, time.Unix(1700000000, 500e6)) },
			"smppmux_config_last_reload_success_timestamp_seconds", nil, 1700000000.5},
		{"reload counted", func(m *Metrics) { m.Reload(true, time.Now()); m.Reload(false, time.Now()) },
			"smppmux_config_reloads_total", []string{"result=success"}, 1},
		{"reload refused", func(m *Metrics) { m.Reload(true, time.Now()); m.Reload(false, time.Now()) },
			"smppmux_config_last_reload_successful", nil, 0},
		{"reload refused keeps time", func(m *Metrics) { m.Reload(true, time.Unix(100, 0)); m.Reload(false, time.Unix(200, 0)) },
			"smppmux_config_last_reload_success_timestamp_seconds", nil, 100},
		{"reload failure starts at 0", func(m *Metrics) { m.Reload(true, time.Now()) },
			"smppmux_config_reloads_total", []string{"result=failure"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := prometheus.NewRegistry()
			m := New(reg, nil)
			tt.record(m)
			if got := series(t, reg, tt.family, tt.labels...); got != tt.want {
				t.Errorf("%s%v = %v, want %v", tt.family, tt.labels, got, tt.want)
			}
		})
	}
}

func TestBindFailedUnknownAddsNoSeries(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := New(reg, nil)
	for _, id := range []string{"a", "b", "c", "d"} {
		m.BindFailed(id, false, 0x0F, "unknown_system_id")
	}
	if n := count(t, reg, "smppmux_client_bind_failures_total"); n != 1 {
		t.Errorf("%d series for four unknown system_ids, want 1", n)
	}
}

func TestStatusLabel(t *testing.T) {
	t.Parallel()
	for s, want := range map[uint32]string{
		0:          "0x00000000",
		0x58:       "0x00000058",
		0xC0:       "0x000000c0",
		0xFF:       "0x000000ff",
		0x100:      "0x00000100",
		0x400:      "0x00000400",
		0xFFFFFFFF: "0xffffffff",
	} {
		if got := statusLabel(s); got != want {
			t.Errorf("statusLabel(%#x) = %q, want %q", s, got, want)
		}
		m := New(prometheus.NewRegistry(), nil)
		if got := m.status(s); got != want {
			t.Errorf("status(%#x) = %q, want %q", s, got, want)
		}
	}
}

func TestSnapshotCollector(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	New(reg, fixedSource{testSnapshot()})

	tests := []struct {
		family string
		labels []string
		want   float64
	}{
		{"smppmux_client_binds", []string{"client=shop", "bind_type=transceiver"}, 2},
		{"smppmux_client_binds", []string{"client=shop", "bind_type=receiver"}, 1},
		{"smppmux_client_binds", []string{"client=bank", "bind_type=transmitter"}, 1},
		{"smppmux_client_window_used", []string{"client=shop"}, 5},
		{"smppmux_client_window_used", []string{"client=bank"}, 7},
		{"smppmux_upstream_binds", []string{"upstream=carrier-a", "state=bound"}, 2},
		{"smppmux_upstream_binds", []string{"upstream=carrier-a", "state=dialing"}, 0},
		{"smppmux_upstream_binds", []string{"upstream=carrier-a", "state=closed"}, 0},
		{"smppmux_upstream_binds", []string{"upstream=carrier-b", "state=dialing"}, 1},
		{"smppmux_upstream_binds", []string{"upstream=carrier-b", "state=unbinding"}, 0},
		{"smppmux_upstream_window_used", []string{"upstream=carrier-a"}, 15},
		{"smppmux_upstream_window_size", []string{"upstream=carrier-a"}, 100},
		{"smppmux_upstream_window_size", []string{"upstream=carrier-b"}, 20},
		{"smppmux_upstream_pace_tps", []string{"upstream=carrier-a"}, 950.5},
		{"smppmux_upstream_pace_tps", []string{"upstream=carrier-b"}, 0},
		{"smppmux_upstream_throttled_total", []string{"upstream=carrier-a"}, 42},
		{"smppmux_group_member_weight", []string{"group=main", "upstream=carrier-a"}, 3},
		{"smppmux_group_member_weight", []string{"group=main", "upstream=carrier-b"}, 1},
		{"smppmux_group_member_effective_weight", []string{"group=main", "upstream=carrier-b"}, 0},
		{"smppmux_group_member_effective_weight", []string{"group=backup", "upstream=carrier-b"}, 0.1},
		{"smppmux_group_member_healthy", []string{"group=main", "upstream=carrier-a"}, 1},
		{"smppmux_group_member_healthy", []string{"group=main", "upstream=carrier-b"}, 0},
		{"smppmux_breaker_state", []string{"group=main", "upstream=carrier-a", "state=closed"}, 1},
		{"smppmux_breaker_state", []string{"group=main", "upstream=carrier-a", "state=open"}, 0},
		{"smppmux_breaker_state", []string{"group=main", "upstream=carrier-b", "state=open"}, 1},
		{"smppmux_breaker_state", []string{"group=main", "upstream=carrier-b", "state=closed"}, 0},
		{"smppmux_breaker_state", []string{"group=backup", "upstream=carrier-b", "state=half_open"}, 1},
		{"smppmux_outbox_depth", []string{"client=shop"}, 12},
		{"smppmux_outbox_depth", []string{"client=bank"}, 0},
		{"smppmux_outbox_oldest_age_seconds", []string{"client=shop"}, 90},
		{"smppmux_ready", nil, 1},
		{"smppmux_store_healthy", []string{"kind=redis"}, 0},
		{"smppmux_store_pending_writes", nil, 7},
	}
	for _, tt := range tests {
		if got := series(t, reg, tt.family, tt.labels...); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.family, tt.labels, got, tt.want)
		}
	}

	counts := map[string]int{
		"smppmux_client_binds":                  3,
		"smppmux_client_window_used":            2,
		"smppmux_upstream_binds":                2 * 5,
		"smppmux_upstream_window_used":          2,
		"smppmux_upstream_window_size":          2,
		"smppmux_upstream_pace_tps":             2,
		"smppmux_upstream_throttled_total":      2,
		"smppmux_group_member_weight":           3,
		"smppmux_group_member_effective_weight": 3,
		"smppmux_group_member_healthy":          3,
		"smppmux_breaker_state":                 3 * 3,
		"smppmux_outbox_depth":                  2,
		"smppmux_outbox_oldest_age_seconds":     2,
		"smppmux_ready":                         1,
		"smppmux_store_healthy":                 1,
		"smppmux_store_pending_writes":          1,
	}
	for family, want := range counts {
		if got := count(t, reg, family); got != want {
			t.Errorf("%s: %d series, want %d", family, got, want)
		}
	}
}

func TestSnapshotCollectorFoldsDuplicates(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	New(reg, fixedSource{Snapshot{
		Binds: []BindInfo{
			{Upstream: "carrier-a", State: "bound"},
			{Upstream: "carrier-a", State: ""},
		},
		Groups: []GroupInfo{
			{Name: "main", Members: []MemberInfo{{Upstream: "carrier-a", Weight: 2, Breaker: "closed"}}},
			{Name: "main", Members: []MemberInfo{{Upstream: "carrier-a", Weight: 5, Breaker: "tripped"}}},
		},
		Outboxes: []OutboxInfo{
			{SystemID: "shop", Depth: 2, OldestAge: time.Second},
			{SystemID: "shop", Depth: 3, OldestAge: time.Minute},
		},
	}})
	tests := []struct {
		family string
		labels []string
		want   float64
	}{
		{"smppmux_upstream_binds", []string{"upstream=carrier-a", "state=bound"}, 1},
		{"smppmux_upstream_binds", []string{"upstream=carrier-a", "state=unknown"}, 1},
		{"smppmux_group_member_weight", []string{"group=main", "upstream=carrier-a"}, 2},
		{"smppmux_outbox_depth", []string{"client=shop"}, 5},
		{"smppmux_outbox_oldest_age_seconds", []string{"client=shop"}, 60},
		{"smppmux_ready", nil, 0},
	}
	for _, tt := range tests {
		if got := series(t, reg, tt.family, tt.labels...); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.family, tt.labels, got, tt.want)
		}
	}
}

func TestUnknownBreakerState(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	New(reg, fixedSource{Snapshot{Groups: []GroupInfo{
		{Name: "main", Members: []MemberInfo{{Upstream: "carrier-a", Breaker: "ramping"}}},
	}}})
	if got := series(t, reg, "smppmux_breaker_state", "group=main", "upstream=carrier-a", "state=ramping"); got != 1 {
		t.Errorf("unknown breaker state = %v, want 1", got)
	}
	if got := count(t, reg, "smppmux_breaker_state"); got != 4 {
		t.Errorf("%d breaker series, want 4", got)
	}
}

func TestNilSource(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	New(reg, nil)
	for _, name := range []string{"smppmux_ready", "smppmux_client_binds", "smppmux_upstream_binds"} {
		if n := count(t, reg, name); n != 0 {
			t.Errorf("%s: %d series without a source, want none", name, n)
		}
	}
}

func TestNilMetrics(t *testing.T) {
	t.Parallel()
	allEvents(nil) // must not panic
}

func TestNewTwiceOnOneRegistryPanics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	New(reg, nil)
	defer func() {
		if recover() == nil {
			t.Error("second New on the same registry did not panic")
		}
	}()
	New(reg, nil)
}

func TestConcurrentEventsAndScrapes(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := New(reg, fixedSource{testSnapshot()})
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				allEvents(m)
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if _, err := reg.Gather(); err != nil {
				t.Errorf("gather: %v", err)
				return
			}
		}
	})
	wg.Wait()
	if got := series(t, reg, "smppmux_submits_total", "client=shop", "group=main", "upstream=carrier-a", "status=0x00000000"); got != workers*each {
		t.Errorf("submits = %v, want %d", got, workers*each)
	}
}

func TestOutboxJSON(t *testing.T) {
	t.Parallel()
	in := OutboxInfo{SystemID: "shop", Depth: 4, OldestAge: 1500 * time.Millisecond}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"system_id":"shop","depth":4,"oldest_age_seconds":1.5}`; string(b) != want {
		t.Errorf("json %s, want %s", b, want)
	}
	var out OutboxInfo
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Errorf("round trip %+v, want %+v", out, in)
	}
}

func TestSnapshotJSONNames(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(testSnapshot())
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{
		`"sessions":`, `"binds":`, `"groups":`, `"outboxes":`, `"ready":true`,
		`"system_id":"shop"`, `"bind_type":"transceiver"`, `"remote":`, `"inflight":3`,
		`"upstream":"carrier-a"`, `"index":1`, `"state":"bound"`, `"local_addr":`, `"window_used":10`, `"window":50`,
		`"name":"main"`, `"mode":"active-active"`, `"members":`, `"weight":3`, `"effective_weight":0.1`,
		`"healthy":true`, `"breaker":"half_open"`, `"depth":12`, `"oldest_age_seconds":90`,
	} {
		if !strings.Contains(string(b), key) {
			t.Errorf("status JSON lacks %s: %s", key, b)
		}
	}
}

func BenchmarkSubmit(b *testing.B) {
	m := New(prometheus.NewRegistry(), nil)
	m.Submit("shop", "main", "carrier-a", 0, time.Millisecond)
	b.ReportAllocs()
	for b.Loop() {
		m.Submit("shop", "main", "carrier-a", 0, time.Millisecond)
	}
}

func BenchmarkScrape(b *testing.B) {
	reg := prometheus.NewRegistry()
	allEvents(New(reg, fixedSource{testSnapshot()}))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestParkedReceiptCountedOnce: a receipt that waited for its mapping and
// then matched is one receipt in smppmux_receipts_total, and one in the
// parked stage.
func TestParkedReceiptCountedOnce(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := New(reg, nil)
	m.Receipt("carrier-a", ReceiptParked)
	m.Receipt("carrier-a", ReceiptMatched)
	total := 0.0
	for _, mt := range gather(t, reg)["smppmux_receipts_total"].GetMetric() {
		total += mt.GetCounter().GetValue()
	}
	if total != 1 {
		t.Errorf("smppmux_receipts_total sums to %v for one receipt, want 1", total)
	}
	if got := series(t, reg, "smppmux_receipts_parked_total", "upstream=carrier-a"); got != 1 {
		t.Errorf("parked %v, want 1", got)
	}
}

// TestFinalReceiptBuckets: receipts within a fraction of a second land in
// buckets of their own, so a quantile over them reads below 1 s.
func TestFinalReceiptBuckets(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := New(reg, nil)
	for range 10 {
		m.FinalReceipt("carrier-a", true, 40*time.Millisecond)
	}
	h := gather(t, reg)["smppmux_submit_to_final_receipt_seconds"].GetMetric()[0].GetHistogram()
	b := h.GetBucket()
	if b[0].GetUpperBound() != 0.01 {
		t.Errorf("first bucket %v, want 0.01", b[0].GetUpperBound())
	}
	// The smallest bucket holding all ten: le=0.05.
	for _, bk := range b {
		if bk.GetCumulativeCount() == 10 {
			if bk.GetUpperBound() != 0.05 {
				t.Errorf("40 ms receipts first all counted at le=%v, want 0.05", bk.GetUpperBound())
			}
			break
		}
	}
	if last := b[len(b)-1].GetUpperBound(); last != 259200 {
		t.Errorf("last bucket %v, want 3 days", last)
	}
}

func TestBuildInfo(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	New(reg, nil)
	mf := gather(t, reg)["smppmux_build_info"]
	if mf == nil || len(mf.GetMetric()) != 1 {
		t.Fatalf("smppmux_build_info: %v", mf)
	}
	labels := map[string]string{}
	for _, l := range mf.GetMetric()[0].GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	if labels["version"] == "" || labels["commit"] == "" || !strings.HasPrefix(labels["goversion"], "go") {
		t.Errorf("labels %v", labels)
	}
	if v := mf.GetMetric()[0].GetGauge().GetValue(); v != 1 {
		t.Errorf("value %v", v)
	}
}

// TestInitStartsSeriesAtZero: after Init, the counters of every configured
// client, upstream and group member exist at 0 before any event, and the
// gauges report configured clients without sessions or outboxes.
func TestInitStartsSeriesAtZero(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := New(reg, fixedSource{Snapshot{}})
	m.Init(Known{
		Clients:         []string{"shop", "bank"},
		Upstreams:       []string{"carrier-a", "carrier-b"},
		Groups:          []KnownGroup{{Name: "main", Members: []string{"carrier-a", "carrier-b"}, Clients: []string{"shop"}}},
		CloseReasons:    []string{"peer_closed", "dead_peer"},
		BindLossReasons: []string{"peer_closed", "dead_peer"},
		FailoverReasons: []string{"status", "throttled"},
		BindRefusals: []KnownRefusal{
			{Reason: "wrong_password", Status: 0x0E},
			{Reason: "unknown_system_id", Status: 0x0F, Unknown: true},
		},
	})
	for _, tc := range []struct {
		family string
		labels []string
	}{
		{"smppmux_upstream_bind_losses_total", []string{"upstream=carrier-b", "reason=dead_peer"}},
		{"smppmux_failovers_total", []string{"group=main", "upstream=carrier-a", "reason=status"}},
		{"smppmux_breaker_transitions_total", []string{"group=main", "upstream=carrier-b", "to=open"}},
		{"smppmux_breaker_transitions_total", []string{"group=main", "upstream=carrier-a", "to=half_open"}},
		{"smppmux_receipts_total", []string{"upstream=carrier-a", "result=unmatched"}},
		{"smppmux_receipts_parked_total", []string{"upstream=carrier-b"}},
		{"smppmux_receipt_final_total", []string{"upstream=carrier-b", "outcome=delivered"}},
		{"smppmux_submit_to_final_receipt_seconds", []string{"upstream=carrier-a"}},
		{"smppmux_submits_total", []string{"client=shop", "group=main", "upstream=carrier-b", "status=0x00000000"}},
		{"smppmux_submit_duration_seconds", []string{"group=main"}},
		{"smppmux_submits_refused_total", []string{"client=bank", "reason=no_route"}},
		{"smppmux_client_deliveries_total", []string{"client=bank"}},
		{"smppmux_outbox_retries_total", []string{"client=shop"}},
		{"smppmux_outbox_expired_total", []string{"client=shop"}},
		{"smppmux_dead_letters_total", []string{"client=shop", "reason=refused"}},
		{"smppmux_client_bind_failures_total", []string{"client=bank", "status=0x0000000e", "reason=wrong_password"}},
		{"smppmux_client_bind_failures_total", []string{"client=unknown", "status=0x0000000f", "reason=unknown_system_id"}},
		{"smppmux_client_sessions_closed_total", []string{"reason=peer_closed"}},
		{"smppmux_client_binds", []string{"client=bank", "bind_type=bind_transceiver"}},
		{"smppmux_client_window_used", []string{"client=bank"}},
		{"smppmux_outbox_depth", []string{"client=shop"}},
		{"smppmux_outbox_oldest_age_seconds", []string{"client=shop"}},
	} {
		if got := series(t, reg, tc.family, tc.labels...); got != 0 {
			t.Errorf("%s%v = %v, want 0", tc.family, tc.labels, got)
		}
	}
	// A client routed to no group gets no submit series; bank's binds
	// stay bounded: three bind types.
	for _, mt := range gather(t, reg)["smppmux_submits_total"].GetMetric() {
		for _, l := range mt.GetLabel() {
			if l.GetName() == "client" && l.GetValue() == "bank" {
				t.Errorf("submits_total series for bank, which no route sends anywhere")
			}
		}
	}
	if n := count(t, reg, "smppmux_client_binds"); n != 6 {
		t.Errorf("%d smppmux_client_binds series for two clients, want 6", n)
	}
	// Init again (a reload) keeps counts.
	m.UpstreamBindLost("carrier-a", "dead_peer")
	m.Init(Known{Upstreams: []string{"carrier-a"}, BindLossReasons: []string{"dead_peer"}})
	if got := series(t, reg, "smppmux_upstream_bind_losses_total", "upstream=carrier-a", "reason=dead_peer"); got != 1 {
		t.Errorf("after a second Init: %v, want 1", got)
	}
}
