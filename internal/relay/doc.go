// Package relay joins the pieces of smppmux: it serves the requests of
// client sessions (smppserver.Handler) by routing them to a connection
// group and relaying them unchanged to an upstream, answers the client
// with a message id of its own, and takes the deliver_sm and data_sm
// upstreams receive (upstream.DeliverHandler), turning receipts back into
// the client's ids and queueing them in the client's outbox.
//
// What a configuration says (clients, upstreams, groups, routes) reaches
// the relay as one Snapshot, built by NewSnapshot and swapped whole on
// reload; the requests under way finish with the one they started with.
//
// Relay starts no goroutines of its own; callbacks run on the goroutines
// of the sessions, binds, store committers and outbox dispatchers that
// call them. Its timers (a receipt's hold and rechecks, a redelivery, a
// mapping's rewrites, the parking's expiry) belong to Config.Lifecycle.
// Work that enters a goroutine not its client session's (the answer of a
// submit on the bind's reader, a mapping write's callback on the store's
// committer, a delivery on an outbox dispatcher) recovers a panic: that
// session is closed with reason panic, nothing else; a receipt's work
// that panics hands the receipt back to its SMSC.
//
// Relay.Changed signals its rare events (a receipt parked, a dead letter
// made, a mapping write tried again or landed at last) to whoever waits
// for one, tests first of all, without polling the counters.
//
// LOCKING: Relay.gate is held shared around a synchronous lookup in the
// store only (which may take the store's locks), never across a callback,
// and exclusively by Close alone. The lock of Changed's signal is taken
// alone.
package relay
