package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestSnapshotCollector(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	New(reg, fixedSource{testSnapshot()})

	checkSeries(t, reg, []wantSeries{
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
	})

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
	checkSeries(t, reg, []wantSeries{
		{"smppmux_upstream_binds", []string{"upstream=carrier-a", "state=bound"}, 1},
		{"smppmux_upstream_binds", []string{"upstream=carrier-a", "state=unknown"}, 1},
		{"smppmux_group_member_weight", []string{"group=main", "upstream=carrier-a"}, 2},
		{"smppmux_outbox_depth", []string{"client=shop"}, 5},
		{"smppmux_outbox_oldest_age_seconds", []string{"client=shop"}, 60},
		{"smppmux_ready", nil, 0},
	})
}

// TestLSMSeries: a Pebble store's LSM shape is reported when the snapshot
// has it, and no series at all when it has none (Redis).
func TestLSMSeries(t *testing.T) {
	t.Parallel()
	snap := testSnapshot()
	snap.Store.LSM = &LSMInfo{L0Tables: 53, L0Sublevels: 2, L0Bytes: 59 << 20, TableBytes: 71 << 20, DebtBytes: 12345,
		Compactions: 9, CompactedBytes: 1 << 30, FlushedBytes: 1 << 29}
	reg := prometheus.NewRegistry()
	New(reg, fixedSource{snap})
	checkSeries(t, reg, []wantSeries{
		{"smppmux_store_l0_tables", nil, 53},
		{"smppmux_store_l0_sublevels", nil, 2},
		{"smppmux_store_table_bytes", []string{"level=0"}, 59 << 20},
		{"smppmux_store_table_bytes", []string{"level=lower"}, 12 << 20},
		{"smppmux_store_compaction_debt_bytes", nil, 12345},
		{"smppmux_store_compactions_total", nil, 9},
		{"smppmux_store_compacted_bytes_total", nil, 1 << 30},
		{"smppmux_store_flushed_bytes_total", nil, 1 << 29},
	})
	reg = prometheus.NewRegistry()
	New(reg, fixedSource{testSnapshot()})
	if n := count(t, reg, "smppmux_store_l0_tables"); n != 0 {
		t.Fatalf("%d smppmux_store_l0_tables series without an LSM, want none", n)
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
