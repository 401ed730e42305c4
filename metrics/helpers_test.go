package metrics

import (
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
			}, Queue: &QueueInfo{Depth: 50000, OldestAgeSeconds: 42, InFlight: 10}},
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

// wantSeries is the value a series should have: the series of family
// with exactly labels ("k=v" pairs).
type wantSeries struct {
	family string
	labels []string
	want   float64
}

// checkSeries checks the value of each series of wants in reg.
func checkSeries(t *testing.T, reg *prometheus.Registry, wants []wantSeries) {
	t.Helper()
	for _, w := range wants {
		if got := series(t, reg, w.family, w.labels...); got != w.want {
			t.Errorf("%s%v = %v, want %v", w.family, w.labels, got, w.want)
		}
	}
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
	m.QueueIn("backup", QueueQueued)
	m.QueueOut("backup", "sent")
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
	"smppmux_queue_in_total",
	"smppmux_queue_out_total",
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
	"smppmux_queue_depth",
	"smppmux_queue_oldest_age_seconds",
	"smppmux_dead_letters",
	"smppmux_ready",
	"smppmux_store_healthy",
	"smppmux_store_pending_writes",
	"smppmux_store_l0_tables",
	"smppmux_store_l0_sublevels",
	"smppmux_store_table_bytes",
	"smppmux_store_compaction_debt_bytes",
	"smppmux_store_compactions_total",
	"smppmux_store_compacted_bytes_total",
	"smppmux_store_flushed_bytes_total",
	"smppmux_build_info",
}
