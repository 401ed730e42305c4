package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smppmux/smppmux/internal/buildinfo"
)

// Label values with a fixed meaning. Callers pass these rather than their
// own spellings so dashboards see one name per thing.
const (
	// Reasons for SubmitRefused.
	RefusedNoRoute   = "no_route"  // no route matched the submit
	RefusedThrottled = "throttled" // client over its TPS: ESME_RTHROTTLED
	RefusedWindow    = "window"    // client over its window: ESME_RMSGQFUL
	RefusedMalformed = "malformed" // the PDU body did not decode
	RefusedNoMember  = "no_member" // no member of the group could take it in time
	RefusedStore     = "store"     // the store takes no writes: ESME_RTHROTTLED
	// RefusedSource: the client may not use that sender id: ESME_RINVSRCADR.
	RefusedSource = "source"
	// RefusedDestinationLimit: the destination had its share (anti SMS
	// pumping).
	RefusedDestinationLimit = "destination_limit"

	// Results for Receipt.
	ReceiptMatched   = "matched"   // the id mapping was found
	ReceiptUnmatched = "unmatched" // no mapping, even after waiting for it
	// ReceiptParked is a stage, not a result: the receipt arrived before
	// its submit_sm_resp and waits for the mapping, then ends matched,
	// unmatched or ambiguous. Receipt counts it in
	// smppmux_receipts_parked_total, never in smppmux_receipts_total.
	ReceiptParked    = "parked"
	ReceiptNoID      = "no_id"     // no receipted_message_id TLV and no id: in the text
	ReceiptAmbiguous = "ambiguous" // no id matched exactly and several up to case and leading zeros: not delivered
	ReceiptRepeated  = "repeated"  // relayed already: the carrier sent it again; answered, not relayed twice

	// Results for MO.
	MORouted   = "routed"   // an MO route named a client
	MOUnrouted = "unrouted" // no MO route matched; the SMSC was refused

	// Results of config reloads, as in smppmux_config_reloads_total.
	ReloadSuccess = "success"
	ReloadFailure = "failure"

	// Outcomes of final receipts, as in smppmux_receipt_final_total.
	OutcomeDelivered   = "delivered"
	OutcomeUndelivered = "undelivered"

	// UnknownClient stands for a system_id that is not configured, so that
	// whatever a peer writes in its bind never becomes a label value.
	UnknownClient = "unknown"
)

// Metrics records smppmux's events as Prometheus counters and histograms.
// Its methods are safe for concurrent use and cheap enough for the submit
// path. A nil *Metrics discards every event, for tests and tools that do
// not export metrics.
type Metrics struct {
	submits        *prometheus.CounterVec
	submitDuration *prometheus.HistogramVec
	refused        *prometheus.CounterVec
	failovers      *prometheus.CounterVec
	receipts       *prometheus.CounterVec
	parked         *prometheus.CounterVec
	finals         *prometheus.CounterVec
	finalDelay     *prometheus.HistogramVec
	deliveries     *prometheus.CounterVec
	outboxExpired  *prometheus.CounterVec
	outboxRetries  *prometheus.CounterVec
	queueIn        *prometheus.CounterVec
	queueOut       *prometheus.CounterVec
	deadLetters    *prometheus.CounterVec
	mo             *prometheus.CounterVec
	sessionsClosed *prometheus.CounterVec
	bindFailures   *prometheus.CounterVec
	bindLosses     *prometheus.CounterVec
	breakerChanges *prometheus.CounterVec
	storeSync      *prometheus.HistogramVec
	storeBatch     *prometheus.HistogramVec
	storeFailures  *prometheus.CounterVec
	reloadOK       prometheus.Gauge
	reloadTime     prometheus.Gauge
	reloads        *prometheus.CounterVec
	// state reports the snapshot's gauges; nil without a Source.
	state *stateCollector

	// statuses holds the label of every command_status below 0x100, the
	// standard SMPP range, so the submit path formats none of them.
	statuses [256]string

	// The children the per-message events record to.
	submitC    children[submitKey, submitChildren]
	receiptC   children[upstreamKey, prometheus.Counter]
	finalC     children[upstreamKey, finalChildren]
	deliveredC children[string, prometheus.Counter]
}

// New builds the event collectors and, unless src is nil, a collector of
// the state src reports at scrape time, and registers them all with reg.
// New panics if reg already holds collectors of the same names, as
// prometheus.MustRegister does.
func New(reg prometheus.Registerer, src Source) *Metrics {
	m := &Metrics{
		submits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smppmux_submits_total",
			Help: "Submits relayed to an upstream, by client system_id, group, upstream and the command_status of the response the client got.",
		}, []string{"client", "group", "upstream", "status"}),
		submitDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "smppmux_submit_duration_seconds",
			Help:    "Time from a client's submit to the response sent back to it, failovers included, by group.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"group"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smppmux_submits_refused_total",
			Help: "Submits answered by smppmux itself without reaching an upstream, by client system_id and reason.",
		}, []string{"client", "reason"}),
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smppmux_failovers_total",
			Help: "Submits moved from a group member to the next one, by group, the upstream given up and reason.",
		}, []string{"group", "upstream", "reason"}),
		receipts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smppmux_receipts_total",
			Help: "Delivery receipts received from upstreams, by upstream and matching result.",
		}, []string{"upstream", "result"}),
		parked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smppmux_receipts_parked_total",
			Help: "Receipts that arrived before their message's mapping was recorded and waited for it, by upstream: a stage, each also counted once in smppmux_receipts_total by how it ended.",
		}, []string{"upstream"}),
		finals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smppmux_receipt_final_total",
			Help: "Receipts in a final state, by upstream and outcome (delivered or undelivered).",
		}, []string{"upstream", "outcome"}),
		finalDelay: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "smppmux_submit_to_final_receipt_seconds",
			Help:    "Time from a submit's response to its final receipt, by upstream.",
			Buckets: finalReceiptBuckets,
		}, []string{"upstream"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smppmux_client_deliveries_total",
			Help: "Receipts and MO messages a client accepted (deliver_sm_resp ESME_ROK), by client system_id.",
		}, []string{"client"}),
		outboxExpired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smppmux_outbox_expired_total",
			Help: "Outbox items dropped undelivered, past their age or over the outbox bound, by client system_id.",
		}, []string{"client"}),
		outboxRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smppmux_outbox_retries_total",
			Help: "Deliveries to a client refused or unanswered, set aside to be tried again, by client system_id.",
		}, []string{"client"}),
		queueIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smppmux_queue_in_total",
			Help: "Submits offered to a store-and-forward group's queue, by group and result (queued, full, failed).",
		}, []string{"group", "result"}),
		queueOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smppmux_queue_out_total",
			Help: "Messages that left a store-and-forward group's queue, by group and outcome (sent, rejected, unknown, expired, cancelled).",
		}, []string{"group", "outcome"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smppmux_dead_letters_total",
			Help: "Receipts and MO messages made dead letters, by client system_id and reason (refused, never).",
		}, []string{"client", "reason"}),
		mo: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smppmux_mo_total",
			Help: "MO messages received from upstreams, by result (routed or unrouted).",
		}, []string{"result"}),
		sessionsClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smppmux_client_sessions_closed_total",
			Help: "Client connections closed, by reason.",
		}, []string{"reason"}),
		bindFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smppmux_client_bind_failures_total",
			Help: `Client binds refused, by client system_id ("unknown" when not configured), command_status and reason.`,
		}, []string{"client", "status", "reason"}),
		bindLosses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smppmux_upstream_bind_losses_total",
			Help: "Upstream binds lost after being bound, by upstream and reason.",
		}, []string{"upstream", "reason"}),
		breakerChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smppmux_breaker_transitions_total",
			Help: "Circuit breaker state changes, by group, upstream and the state entered.",
		}, []string{"group", "upstream", "to"}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "smppmux_config_last_reload_successful",
			Help: "Whether the last configuration load or reload succeeded (1) or was refused (0).",
		}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "smppmux_config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful configuration load or reload.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smppmux_config_reloads_total",
			Help: "Configuration loads and reloads, by result (success or failure).",
		}, []string{"result"}),
	}
	for s := range m.statuses {
		m.statuses[s] = statusLabel(uint32(s))
	}
	// Known results start at 0 so rate() sees their first increment.
	m.reloads.WithLabelValues(ReloadSuccess)
	m.reloads.WithLabelValues(ReloadFailure)
	m.mo.WithLabelValues(MORouted)
	m.mo.WithLabelValues(MOUnrouted)

	m.storeSync = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "smppmux_store_sync_duration_seconds",
		Help:    "Time of one durable write of the store: a synced Pebble batch or a Redis pipeline of writes (WAIT included), by kind.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"kind"})
	m.storeBatch = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "smppmux_store_batch_writes",
		Help:    "Writes carried by one durable write of the store (group commit), by kind.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096},
	}, []string{"kind"})
	m.storeFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "smppmux_store_write_failures_total",
		Help: "Durable writes of the store that failed (the disk or Redis refused or did not answer), by kind.",
	}, []string{"kind"})
	reg.MustRegister(
		m.storeSync, m.storeBatch, m.storeFailures,
		m.submits, m.submitDuration, m.refused, m.failovers,
		m.receipts, m.parked, m.finals, m.finalDelay,
		m.deliveries, m.outboxExpired, m.outboxRetries, m.deadLetters, m.mo,
		m.queueIn, m.queueOut,
		m.sessionsClosed, m.bindFailures, m.bindLosses, m.breakerChanges,
		m.reloadOK, m.reloadTime, m.reloads,
	)
	if src != nil {
		m.state = newStateCollector(src)
		reg.MustRegister(m.state)
	}
	reg.MustRegister(newBuildInfo(buildinfo.Get()))
	return m
}

// StoreCommit records one durable write of the store of kind (pebble or
// redis): how long it took, how many writes it carried, whether it failed.
func (m *Metrics) StoreCommit(kind string, d time.Duration, writes int, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.storeFailures.WithLabelValues(kind).Inc()
		return
	}
	m.storeSync.WithLabelValues(kind).Observe(d.Seconds())
	m.storeBatch.WithLabelValues(kind).Observe(float64(writes))
}

// StoreKind creates the store's series of kind at 0, so that rate() and
// increase() see their first change.
func (m *Metrics) StoreKind(kind string) {
	if m == nil {
		return
	}
	m.storeSync.WithLabelValues(kind)
	m.storeBatch.WithLabelValues(kind)
	m.storeFailures.WithLabelValues(kind)
}

// finalReceiptBuckets bound smppmux_submit_to_final_receipt_seconds: from
// 10 ms, since a carrier on the same network or a simulator answers
// within a fraction of a second, to the 3 days a message may wait for a
// handset.
var finalReceiptBuckets = []float64{
	.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
	1800, 3600, 7200, 14400, 28800, 43200, 86400, 172800, 259200,
}

// Submit records a submit relayed to upstream through group and the
// command_status the client got, and d, the time from the client's
// submit to that response.
func (m *Metrics) Submit(client, group, upstream string, status uint32, d time.Duration) {
	if m == nil {
		return
	}
	k := submitKey{client, group, upstream, status}
	c, ok := m.submitC.get(k)
	if !ok {
		c = submitChildren{
			count:    m.submits.WithLabelValues(client, group, upstream, m.status(status)),
			duration: m.submitDuration.WithLabelValues(group),
		}
		m.submitC.put(k, c)
	}
	c.count.Inc()
	c.duration.Observe(d.Seconds())
}

// SubmitRefused records a submit smppmux answered itself; reason is one of
// the Refused constants.
func (m *Metrics) SubmitRefused(client, reason string) {
	if m == nil {
		return
	}
	m.refused.WithLabelValues(client, reason).Inc()
}

// Failover records a submit moved off member from of group.
func (m *Metrics) Failover(group, from, reason string) {
	if m == nil {
		return
	}
	m.failovers.WithLabelValues(group, from, reason).Inc()
}

// Receipt records a receipt from upstream; result is one of the Receipt
// constants. ReceiptParked is a stage: it goes to Parked.
func (m *Metrics) Receipt(upstream, result string) {
	if m == nil {
		return
	}
	if result == ReceiptParked {
		m.Parked(upstream)
		return
	}
	k := upstreamKey{upstream, result}
	c, ok := m.receiptC.get(k)
	if !ok {
		c = m.receipts.WithLabelValues(upstream, result)
		m.receiptC.put(k, c)
	}
	c.Inc()
}

// Parked records a receipt from upstream that found no mapping at first
// and waits for it. It is counted again by Receipt once it ends.
func (m *Metrics) Parked(upstream string) {
	if m == nil {
		return
	}
	m.parked.WithLabelValues(upstream).Inc()
}

// FinalReceipt records a receipt in a final state from upstream, whether
// the message was delivered, and delay, the time from the submit's
// response to the receipt.
func (m *Metrics) FinalReceipt(upstream string, delivered bool, delay time.Duration) {
	if m == nil {
		return
	}
	outcome := OutcomeUndelivered
	if delivered {
		outcome = OutcomeDelivered
	}
	k := upstreamKey{upstream, outcome}
	c, ok := m.finalC.get(k)
	if !ok {
		c = finalChildren{count: m.finals.WithLabelValues(upstream, outcome), delay: m.finalDelay.WithLabelValues(upstream)}
		m.finalC.put(k, c)
	}
	c.count.Inc()
	c.delay.Observe(delay.Seconds())
}

// Delivered records a receipt or MO message accepted by client.
func (m *Metrics) Delivered(client string) {
	if m == nil {
		return
	}
	c, ok := m.deliveredC.get(client)
	if !ok {
		c = m.deliveries.WithLabelValues(client)
		m.deliveredC.put(client, c)
	}
	c.Inc()
}

// OutboxExpired records an item dropped from client's outbox undelivered.
func (m *Metrics) OutboxExpired(client string) {
	if m == nil {
		return
	}
	m.outboxExpired.WithLabelValues(client).Inc()
}

// Results of QueueIn.
const (
	QueueQueued = "queued" // stored, the client answered ESME_ROK
	QueueFull   = "full"   // past max_items: ESME_RMSGQFUL
	QueueFailed = "failed" // the store's write failed
)

// QueueIn records a submit offered to group's store-and-forward queue.
func (m *Metrics) QueueIn(group, result string) {
	if m == nil {
		return
	}
	m.queueIn.WithLabelValues(group, result).Inc()
}

// QueueOut records a message that left group's store-and-forward queue
// with outcome (sent, rejected, unknown, expired, cancelled).
func (m *Metrics) QueueOut(group, outcome string) {
	if m == nil {
		return
	}
	m.queueOut.WithLabelValues(group, outcome).Inc()
}

// OutboxRetry records a delivery to client refused or unanswered, to be
// tried again.
func (m *Metrics) OutboxRetry(client string) {
	if m == nil {
		return
	}
	m.outboxRetries.WithLabelValues(client).Inc()
}

// DeadLetter records an item of client's outbox made a dead letter for
// reason, one of a fixed set.
func (m *Metrics) DeadLetter(client, reason string) {
	if m == nil {
		return
	}
	m.deadLetters.WithLabelValues(client, reason).Inc()
}

// MO records an MO message; result is MORouted or MOUnrouted.
func (m *Metrics) MO(result string) {
	if m == nil {
		return
	}
	m.mo.WithLabelValues(result).Inc()
}

// SessionClosed records a client connection closed for reason, a close
// reason's name.
func (m *Metrics) SessionClosed(reason string) {
	if m == nil {
		return
	}
	m.sessionsClosed.WithLabelValues(reason).Inc()
}

// BindFailed records a client bind refused with status for reason
// (wrong_password, unknown_system_id, allow_list, max_binds, throttled,
// malformed, shutting_down). known says whether client is a configured
// system_id; when it is not, the label is UnknownClient, since the peer
// chose it.
func (m *Metrics) BindFailed(client string, known bool, status uint32, reason string) {
	if m == nil {
		return
	}
	if !known {
		client = UnknownClient
	}
	m.bindFailures.WithLabelValues(client, m.status(status), reason).Inc()
}

// UpstreamBindLost records a bound upstream bind lost for reason.
func (m *Metrics) UpstreamBindLost(upstream, reason string) {
	if m == nil {
		return
	}
	m.bindLosses.WithLabelValues(upstream, reason).Inc()
}

// BreakerChange records the breaker of upstream in group entering state to
// (closed, open or half_open).
func (m *Metrics) BreakerChange(group, upstream, to string) {
	if m == nil {
		return
	}
	m.breakerChanges.WithLabelValues(group, upstream, to).Inc()
}

// Reload records a configuration load or reload at time at and whether it
// was applied. Call it for the first load too, so the gauges mean something
// from the start.
func (m *Metrics) Reload(ok bool, at time.Time) {
	if m == nil {
		return
	}
	if !ok {
		m.reloadOK.Set(0)
		m.reloads.WithLabelValues(ReloadFailure).Inc()
		return
	}
	m.reloadOK.Set(1)
	m.reloadTime.Set(float64(at.UnixNano()) / 1e9)
	m.reloads.WithLabelValues(ReloadSuccess).Inc()
}

// status returns the label of a command_status.
func (m *Metrics) status(s uint32) string {
	if s < uint32(len(m.statuses)) {
		return m.statuses[s]
	}
	return statusLabel(s)
}

// statusLabel renders a command_status as in logs: 0x and eight lower-case
// hex digits.
func statusLabel(s uint32) string {
	const digits = "0123456789abcdef"
	b := [10]byte{'0', 'x'}
	for i := len(b) - 1; i >= 2; i-- {
		b[i] = digits[s&0xf]
		s >>= 4
	}
	return string(b[:])
}
