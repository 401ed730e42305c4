// Package metrics exports smppmux's Prometheus metrics.
//
// New builds every collector on an injected prometheus.Registerer; nothing
// is registered globally. Events (submits, refusals, failovers, receipts,
// deliveries to clients, session closes, bind failures and losses, breaker
// transitions, config reloads) are counters and histograms updated by the
// *Metrics methods on the paths where they happen. State (client binds,
// upstream binds per state, windows in use, member weights, health and
// breaker state, outbox depth and age, readiness) is read at scrape time
// from a Source's Snapshot by a custom collector, so nothing has to keep
// gauges in step with the rest of smppmux.
//
// Label values are bounded: client is a configured system_id (a refused
// bind of an unknown one is labelled "unknown"), group and upstream are
// configured names, status is a command_status as "0x00000058" (lower-case
// hex, as in logs), reasons and results come from fixed sets. No MSISDN,
// message_id or remote address is ever a label.
//
// The delivered ratio per upstream is not a metric of its own: it is a
// division of the final receipt counter, for example
//
//	sum by (upstream) (rate(smppmux_receipt_final_total{outcome="delivered"}[1h]))
//	  / sum by (upstream) (rate(smppmux_receipt_final_total[1h]))
//
// README.fragment.md in this directory lists every metric.
//
// The package starts no goroutines. Snapshot is called on the scraping
// goroutine, once per scrape.
package metrics
