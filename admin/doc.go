// Package admin serves smppmux's admin HTTP API: Prometheus metrics,
// liveness and readiness probes, a status document, draining of group
// members and configuration reloads.
//
// NewHandler returns an http.Handler; the caller owns the listener (on
// 127.0.0.1 by default) and the http.Server with its timeouts. Endpoints:
//
//	GET  /metrics                                          Prometheus exposition of Config.Gatherer
//	GET  /healthz                                          200 "ok" while the process serves
//	GET  /readyz                                           200 when ready, else 503 with a short reason
//	GET  /api/v1/status                                    JSON of the Controller's metrics.Snapshot
//	POST /api/v1/groups/{group}/members/{upstream}/drain   weight 0, binds kept: 204, 404, 409
//	POST /api/v1/groups/{group}/members/{upstream}/undrain back to the configured weight: 204, 404, 409
//	POST /api/v1/reload                                    re-read the config file: 200, or 409 and why
//
// A method other than the one listed gets 405. When Config.Token is set,
// every endpoint but /healthz wants "Authorization: Bearer <token>" and
// answers 401 otherwise.
//
// The package starts no goroutines of its own; handlers run on the
// http.Server's.
package admin
