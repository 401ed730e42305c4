package metrics

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

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

// TestInitBoundsSubmitSeries: past MaxStartedSubmitSeries client, group
// and member combinations, Init starts no series of smppmux_submits_total
// (each appears with its first submit) and still starts the others.
func TestInitBoundsSubmitSeries(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		clients int
		want    int
	}{
		{MaxStartedSubmitSeries / 2, MaxStartedSubmitSeries},
		{MaxStartedSubmitSeries/2 + 1, 0},
	} {
		reg := prometheus.NewRegistry()
		m := New(reg, fixedSource{Snapshot{}})
		clients := make([]string, tc.clients)
		for i := range clients {
			clients[i] = fmt.Sprintf("c%05d", i)
		}
		m.Init(Known{
			Clients:   clients,
			Upstreams: []string{"carrier-a", "carrier-b"},
			Groups:    []KnownGroup{{Name: "main", Members: []string{"carrier-a", "carrier-b"}, Clients: clients}},
		})
		if got := count(t, reg, "smppmux_submits_total"); got != tc.want {
			t.Errorf("%d clients on two members: %d submits_total series, want %d", tc.clients, got, tc.want)
		}
		if got := count(t, reg, "smppmux_submit_duration_seconds"); got != 1 {
			t.Errorf("%d clients: %d submit_duration series, want 1", tc.clients, got)
		}
		m.Submit(clients[0], "main", "carrier-a", 0, time.Millisecond)
		if got := series(t, reg, "smppmux_submits_total", "client="+clients[0], "group=main", "upstream=carrier-a", "status=0x00000000"); got != 1 {
			t.Errorf("%d clients: after a submit the series is %v, want 1", tc.clients, got)
		}
	}
}
