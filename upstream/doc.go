// Package upstream binds smppmux to an SMSC as an ESME.
//
// An Upstream is one configured SMSC with one or more binds (transceiver,
// transmitter, receiver, or transmitter+receiver pairs). Each Bind has its
// own connection, sequence numbers 1..0x7FFFFFFF, pending requests keyed by
// (response command id, sequence number), window and response timeout, all
// from package internal/smppconn, and walks dialing -> binding -> bound ->
// closed, reconnecting with jittered exponential backoff.
//
// Goroutines: Start runs one supervisor goroutine per Bind (on
// Config.Lifecycle's Tracker when set); while bound,
// the Bind's connection adds its reader and writer, and one more goroutine
// closes a channel once the supervisors of that Start have returned. Stop
// cancels them, unbinds politely and waits; Start after Stop binds again. deliver_sm and data_sm received from the
// SMSC go to the injected DeliverHandler from the connection's reader; the
// SMSC is answered when the handler calls ack.
package upstream
