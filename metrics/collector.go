package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smppmux/smppmux/internal/pdu"
)

// bindStates are the upstream bind states every upstream reports in
// smppmux_upstream_binds, 0 when no bind is in them.
var bindStates = [...]string{"closed", "dialing", "binding", "bound", "unbinding"}

// breakerStates are the circuit breaker states smppmux_breaker_state
// reports for every member.
var breakerStates = [...]string{"closed", "open", "half_open"}

// clientBindTypes are the bind types smppmux_client_binds reports for every
// configured client, 0 when it has no session of that type.
var clientBindTypes = [...]string{
	pdu.IDName(pdu.BindTransmitter), pdu.IDName(pdu.BindReceiver), pdu.IDName(pdu.BindTransceiver),
}

// stateCollector turns a Snapshot into gauges at scrape time. It holds no
// state between scrapes.
type stateCollector struct {
	src Source
	// clients are the configured system_ids, whose client and outbox
	// gauges are reported at 0 when the snapshot has nothing of theirs.
	clients atomic.Pointer[[]string]

	clientBinds      *prometheus.Desc
	clientWindowUsed *prometheus.Desc
	upstreamBinds    *prometheus.Desc
	windowUsed       *prometheus.Desc
	windowSize       *prometheus.Desc
	pace             *prometheus.Desc
	throttled        *prometheus.Desc
	weight           *prometheus.Desc
	effectiveWeight  *prometheus.Desc
	healthy          *prometheus.Desc
	breaker          *prometheus.Desc
	outboxDepth      *prometheus.Desc
	outboxAge        *prometheus.Desc
	queueDepth       *prometheus.Desc
	queueAge         *prometheus.Desc
	deadLetters      *prometheus.Desc
	ready            *prometheus.Desc
	storeHealthy     *prometheus.Desc
	pendingWrites    *prometheus.Desc
	lsmL0Tables      *prometheus.Desc
	lsmL0Sublevels   *prometheus.Desc
	lsmTableBytes    *prometheus.Desc
	lsmDebt          *prometheus.Desc
	lsmCompactions   *prometheus.Desc
	lsmCompacted     *prometheus.Desc
	lsmFlushed       *prometheus.Desc
}

func newStateCollector(src Source) *stateCollector {
	d := prometheus.NewDesc
	return &stateCollector{
		src: src,
		clientBinds: d("smppmux_client_binds",
			"Bound client sessions, by client system_id and bind type.",
			[]string{"client", "bind_type"}, nil),
		clientWindowUsed: d("smppmux_client_window_used",
			"Submits of a client awaiting their response, over all its sessions, by client system_id.",
			[]string{"client"}, nil),
		upstreamBinds: d("smppmux_upstream_binds",
			"Upstream binds, by upstream and state.",
			[]string{"upstream", "state"}, nil),
		windowUsed: d("smppmux_upstream_window_used",
			"Submits awaiting their response over all binds of an upstream.",
			[]string{"upstream"}, nil),
		windowSize: d("smppmux_upstream_window_size",
			"Window (outstanding submits allowed) summed over all binds of an upstream.",
			[]string{"upstream"}, nil),
		pace: d("smppmux_upstream_pace_tps",
			"Submits per second an upstream sends at most now, over all its binds: its configured tps, or below it the rate learnt from the SMSC's throttling answers; 0 when nothing paces it.",
			[]string{"upstream"}, nil),
		throttled: d("smppmux_upstream_throttled_total",
			"Submits an upstream's SMSC answered ESME_RTHROTTLED or ESME_RMSGQFUL.",
			[]string{"upstream"}, nil),
		weight: d("smppmux_group_member_weight",
			"Configured weight of a group member; 0 while drained.",
			[]string{"group", "upstream"}, nil),
		effectiveWeight: d("smppmux_group_member_effective_weight",
			"Weight a group member gets now, after breaker ramp-up and adaptive scaling.",
			[]string{"group", "upstream"}, nil),
		healthy: d("smppmux_group_member_healthy",
			"Whether a group member takes traffic (1) or not (0).",
			[]string{"group", "upstream"}, nil),
		breaker: d("smppmux_breaker_state",
			"Circuit breaker state of a group member: 1 for the current state, 0 for the others.",
			[]string{"group", "upstream", "state"}, nil),
		outboxDepth: d("smppmux_outbox_depth",
			"Receipts and MO messages waiting in a client's outbox.",
			[]string{"client"}, nil),
		outboxAge: d("smppmux_outbox_oldest_age_seconds",
			"Age of the oldest item in a client's outbox; 0 when empty.",
			[]string{"client"}, nil),
		queueDepth: d("smppmux_queue_depth",
			"Messages in a store-and-forward group's queue, those being sent included.",
			[]string{"group"}, nil),
		queueAge: d("smppmux_queue_oldest_age_seconds",
			"Age of the oldest message in a store-and-forward group's queue; 0 when empty.",
			[]string{"group"}, nil),
		deadLetters: d("smppmux_dead_letters",
			"Dead letters kept for a client: receipts and MO messages it refused for good.",
			[]string{"client"}, nil),
		storeHealthy: d("smppmux_store_healthy",
			"Whether the store of id mappings and outboxes takes writes (1) or not (0), by kind (pebble or redis).",
			[]string{"kind"}, nil),
		pendingWrites: d("smppmux_store_pending_writes",
			"Submits an SMSC accepted whose id mapping write failed and is being tried again, their answers to the client waiting.",
			nil, nil),
		lsmL0Tables: d("smppmux_store_l0_tables",
			"Tables in level 0 of the Pebble store's LSM tree (compacted into the levels below at 16 tables or 4 sublevels).",
			nil, nil),
		lsmL0Sublevels: d("smppmux_store_l0_sublevels",
			"Sublevels of level 0 of the Pebble store: a lookup reads a table of each.",
			nil, nil),
		lsmTableBytes: d("smppmux_store_table_bytes",
			"Bytes of the Pebble store's tables, by level: 0, or lower for the levels below it.",
			[]string{"level"}, nil),
		lsmDebt: d("smppmux_store_compaction_debt_bytes",
			"Bytes Pebble estimates its compactions must still write to bring every level of the store within its size.",
			nil, nil),
		lsmCompactions: d("smppmux_store_compactions_total",
			"Compactions of the Pebble store since smppmux started.",
			nil, nil),
		lsmCompacted: d("smppmux_store_compacted_bytes_total",
			"Bytes the Pebble store's compactions wrote to tables since smppmux started.",
			nil, nil),
		lsmFlushed: d("smppmux_store_flushed_bytes_total",
			"Bytes the Pebble store's memtable flushes wrote to tables since smppmux started.",
			nil, nil),
		ready: d("smppmux_ready",
			"Whether smppmux accepts traffic (1) or not (0), as /readyz says.",
			nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.clientBinds, c.clientWindowUsed, c.upstreamBinds, c.windowUsed, c.windowSize, c.pace, c.throttled,
		c.weight, c.effectiveWeight, c.healthy, c.breaker,
		c.outboxDepth, c.outboxAge, c.queueDepth, c.queueAge, c.deadLetters, c.ready, c.storeHealthy, c.pendingWrites,
		c.lsmL0Tables, c.lsmL0Sublevels, c.lsmTableBytes, c.lsmDebt, c.lsmCompactions, c.lsmCompacted, c.lsmFlushed,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. A snapshot that names the same
// thing twice is folded so that the scrape never fails on duplicate series.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Snapshot()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}

	var clients []string
	if p := c.clients.Load(); p != nil {
		clients = *p
	}
	c.collectSessions(s.Sessions, clients, gauge)
	c.collectBinds(s.Binds, gauge)
	seen := make(map[string]bool, len(s.Upstreams))
	for _, u := range s.Upstreams {
		if seen[u.Name] {
			continue
		}
		seen[u.Name] = true
		gauge(c.pace, u.PaceTPS, u.Name)
		ch <- prometheus.MustNewConstMetric(c.throttled, prometheus.CounterValue, float64(u.Throttled), u.Name)
	}
	c.collectGroups(s.Groups, gauge)
	c.collectOutboxes(s.Outboxes, clients, gauge)
	c.collectDeadLetters(s.DeadLetters, gauge)
	gauge(c.ready, boolValue(s.Ready))
	if s.Store.Kind != "" {
		gauge(c.storeHealthy, boolValue(s.Store.Healthy), s.Store.Kind)
	}
	gauge(c.pendingWrites, float64(s.Store.PendingWrites))
	if l := s.Store.LSM; l != nil {
		counter := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
		}
		gauge(c.lsmL0Tables, float64(l.L0Tables))
		gauge(c.lsmL0Sublevels, float64(l.L0Sublevels))
		gauge(c.lsmTableBytes, float64(l.L0Bytes), "0")
		gauge(c.lsmTableBytes, float64(l.TableBytes-min(l.L0Bytes, l.TableBytes)), "lower")
		gauge(c.lsmDebt, float64(l.DebtBytes))
		counter(c.lsmCompactions, float64(l.Compactions))
		counter(c.lsmCompacted, float64(l.CompactedBytes))
		counter(c.lsmFlushed, float64(l.FlushedBytes))
	}
}

type gaugeFunc func(d *prometheus.Desc, v float64, labels ...string)

func (c *stateCollector) collectSessions(sessions []SessionInfo, clients []string, gauge gaugeFunc) {
	type key struct{ client, bindType string }
	binds := make(map[key]int)
	inflight := make(map[string]int)
	for _, client := range clients {
		for _, bt := range clientBindTypes {
			binds[key{client, bt}] = 0
		}
		inflight[client] = 0
	}
	for _, s := range sessions {
		binds[key{s.SystemID, s.BindType}]++
		inflight[s.SystemID] += s.Inflight
	}
	for k, n := range binds {
		gauge(c.clientBinds, float64(n), k.client, k.bindType)
	}
	for client, n := range inflight {
		gauge(c.clientWindowUsed, float64(n), client)
	}
}

func (c *stateCollector) collectBinds(binds []BindInfo, gauge gaugeFunc) {
	type upstream struct {
		states           map[string]int
		windowUsed, size int
	}
	ups := make(map[string]*upstream)
	for _, b := range binds {
		u := ups[b.Upstream]
		if u == nil {
			u = &upstream{states: make(map[string]int, len(bindStates))}
			for _, st := range bindStates {
				u.states[st] = 0
			}
			ups[b.Upstream] = u
		}
		state := b.State
		if state == "" {
			state = "unknown"
		}
		u.states[state]++
		u.windowUsed += b.WindowUsed
		u.size += b.Window
	}
	for name, u := range ups {
		for state, n := range u.states {
			gauge(c.upstreamBinds, float64(n), name, state)
		}
		gauge(c.windowUsed, float64(u.windowUsed), name)
		gauge(c.windowSize, float64(u.size), name)
	}
}

func (c *stateCollector) collectGroups(groups []GroupInfo, gauge gaugeFunc) {
	type key struct{ group, upstream string }
	seen := make(map[key]bool)
	for _, g := range groups {
		if q := g.Queue; q != nil && !seen[key{g.Name, ""}] {
			seen[key{g.Name, ""}] = true
			gauge(c.queueDepth, float64(q.Depth), g.Name)
			gauge(c.queueAge, q.OldestAgeSeconds, g.Name)
		}
		for _, m := range g.Members {
			k := key{g.Name, m.Upstream}
			if seen[k] {
				continue
			}
			seen[k] = true
			gauge(c.weight, float64(m.Weight), g.Name, m.Upstream)
			gauge(c.effectiveWeight, m.EffectiveWeight, g.Name, m.Upstream)
			gauge(c.healthy, boolValue(m.Healthy), g.Name, m.Upstream)
			known := false
			for _, st := range breakerStates {
				known = known || st == m.Breaker
				gauge(c.breaker, boolValue(st == m.Breaker), g.Name, m.Upstream, st)
			}
			if !known && m.Breaker != "" {
				gauge(c.breaker, 1, g.Name, m.Upstream, m.Breaker)
			}
		}
	}
}

func (c *stateCollector) collectOutboxes(outboxes []OutboxInfo, clients []string, gauge gaugeFunc) {
	type outbox struct {
		depth  int
		oldest float64
	}
	byClient := make(map[string]*outbox)
	for _, client := range clients {
		byClient[client] = &outbox{}
	}
	for _, o := range outboxes {
		ob := byClient[o.SystemID]
		if ob == nil {
			ob = &outbox{}
			byClient[o.SystemID] = ob
		}
		ob.depth += o.Depth
		ob.oldest = max(ob.oldest, o.OldestAge.Seconds())
	}
	for client, ob := range byClient {
		gauge(c.outboxDepth, float64(ob.depth), client)
		gauge(c.outboxAge, ob.oldest, client)
	}
}

func (c *stateCollector) collectDeadLetters(dead []DeadLetterInfo, gauge gaugeFunc) {
	byClient := make(map[string]int, len(dead))
	for _, d := range dead {
		byClient[d.SystemID] = max(byClient[d.SystemID], d.Count)
	}
	for client, n := range byClient {
		gauge(c.deadLetters, float64(n), client)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
