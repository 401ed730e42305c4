package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smppmux/smppmux/internal/buildinfo"
)

// Known lists the label values smppmux may record for a configuration:
// its clients, upstreams and groups, and the fixed sets of reasons other
// packages own. Init makes every counter and histogram they label exist
// at 0, so that increase() and rate() see the first event of each, such
// as an upstream's first lost bind or a breaker's first opening.
type Known struct {
	Clients   []string // configured system_ids
	Upstreams []string // configured upstream names
	Groups    []KnownGroup
	// CloseReasons are the names of the reasons a client session closes.
	CloseReasons []string
	// BindLossReasons are those of them that end a bound upstream bind
	// (not a refused bind, nor a stop).
	BindLossReasons []string
	// FailoverReasons are the reasons a submit leaves a member.
	FailoverReasons []string
	// BindRefusals are the reasons a client bind is refused with the
	// status each gets; those whose status varies are left out.
	BindRefusals []KnownRefusal
}

// KnownGroup is a group, its members and the clients routes send to it.
type KnownGroup struct {
	Name    string
	Members []string // upstream names
	Clients []string // system_ids some route sends to this group
}

// KnownRefusal is a reason a client bind is refused and the
// command_status it gets. Unknown marks the refusal of a system_id that
// is not configured, labelled UnknownClient.
type KnownRefusal struct {
	Reason  string
	Status  uint32
	Unknown bool
}

// Label values of fixed sets this package owns, every one Init starts at
// 0.
var (
	refusedReasons = []string{RefusedNoRoute, RefusedThrottled, RefusedSource, RefusedDestinationLimit,
		RefusedMalformed, RefusedNoMember, RefusedStore}
	receiptResults = []string{ReceiptMatched, ReceiptUnmatched, ReceiptNoID, ReceiptAmbiguous, ReceiptRepeated}
	finalOutcomes  = []string{OutcomeDelivered, OutcomeUndelivered}
	// deadReasons are those of a client's dead letters (dlr.ReasonRefused,
	// dlr.ReasonNever).
	deadReasons = []string{"refused", "never"}
)

// MaxStartedSubmitSeries bounds the series of smppmux_submits_total Init
// starts at 0: one per client, group and member a route allows. Past it
// (1,000 clients routed to 50 groups of 2-3 members make 125,000, 300 MB
// and a second of CPU per scrape) each appears with its first submit.
const MaxStartedSubmitSeries = 10000

// submitSeries counts the series of smppmux_submits_total Init would
// start for groups.
func submitSeries(groups []KnownGroup) int {
	n := 0
	for _, g := range groups {
		n += len(g.Members) * len(g.Clients)
	}
	return n
}

// Init creates, at 0, the counters and histograms of every label set k
// names. Series already there keep their values; those of clients,
// upstreams or groups a reload removed stay until the process ends, as
// counters should. Call it with the first configuration and after every
// reload applied.
func (m *Metrics) Init(k Known) {
	if m == nil {
		return
	}
	for _, c := range k.Clients {
		for _, r := range refusedReasons {
			m.refused.WithLabelValues(c, r)
		}
		m.deliveries.WithLabelValues(c)
		m.outboxExpired.WithLabelValues(c)
		m.outboxRetries.WithLabelValues(c)
		for _, r := range deadReasons {
			m.deadLetters.WithLabelValues(c, r)
		}
	}
	for _, br := range k.BindRefusals {
		if br.Unknown {
			m.bindFailures.WithLabelValues(UnknownClient, m.status(br.Status), br.Reason)
			continue
		}
		for _, c := range k.Clients {
			m.bindFailures.WithLabelValues(c, m.status(br.Status), br.Reason)
		}
	}
	for _, u := range k.Upstreams {
		for _, r := range receiptResults {
			m.receipts.WithLabelValues(u, r)
		}
		m.parked.WithLabelValues(u)
		for _, o := range finalOutcomes {
			m.finals.WithLabelValues(u, o)
		}
		m.finalDelay.WithLabelValues(u)
		for _, r := range k.BindLossReasons {
			m.bindLosses.WithLabelValues(u, r)
		}
	}
	startSubmits := submitSeries(k.Groups) <= MaxStartedSubmitSeries
	for _, g := range k.Groups {
		m.submitDuration.WithLabelValues(g.Name)
		for _, u := range g.Members {
			for _, r := range k.FailoverReasons {
				m.failovers.WithLabelValues(g.Name, u, r)
			}
			for _, st := range breakerStates {
				m.breakerChanges.WithLabelValues(g.Name, u, st)
			}
			if !startSubmits {
				continue
			}
			for _, c := range g.Clients {
				m.submits.WithLabelValues(c, g.Name, u, m.status(0))
			}
		}
	}
	for _, r := range k.CloseReasons {
		m.sessionsClosed.WithLabelValues(r)
	}
	if m.state != nil {
		clients := append([]string(nil), k.Clients...)
		m.state.clients.Store(&clients)
	}
}

// newBuildInfo returns smppmux_build_info: 1, labelled with the version,
// the commit and the Go version of the running binary.
func newBuildInfo(i buildinfo.Info) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "smppmux_build_info",
		Help: "Always 1, labelled with the version, the commit and the Go version smppmux was built from.",
		ConstLabels: prometheus.Labels{
			"version": i.Version, "commit": i.Commit, "goversion": i.GoVersion,
		},
	})
	g.Set(1)
	return g
}
