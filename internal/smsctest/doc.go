// Package smsctest is a fake SMSC speaking SMPP 3.4, in the spirit of
// net/http/httptest: tests start one on 127.0.0.1:0, point the code under
// test at Addr, script how submits are answered, and inspect what arrived.
// The SMSC simulator command runs the same server as a daemon.
//
// Tests start one with [Start] (or [StartOn] for a listener of their own,
// TLS for one), which fails the test if it cannot listen and closes the
// Server when the test is over, like httptest.NewServer with its Close
// deferred. [NewServerOn] returns the Server for code that is not a test
// and closes it itself.
//
// A [Server] answers binds (optionally checking one system_id and
// password), enquire_link and unbind, and answers every submit_sm and
// data_sm through the [Config.Submit] hook: a status, a delay, a drop, an
// abrupt disconnect, with or without a delivery receipt. Accepted messages
// get a message id (lowercase hex by default) and, when registered_delivery
// asks for one, a deliver_sm receipt on a bound receiver or transceiver
// session of the same system_id; with [Config.HoldReceipts] a receipt no
// session can take waits in a queue of its system_id until one binds, and
// is sent again until a deliver_sm_resp ESME_ROK answers it. [Server.Push]
// sends deliver_sm PDUs built by the caller (mobile-originated messages,
// odd receipts). Counters and Wait methods let tests wait for progress
// without polling.
//
// Goroutines: one accept goroutine per Server; per connection, one reader
// goroutine (decodes requests and answers them) and one writer goroutine,
// the only one touching the socket for writes, which drains a buffered
// queue and writes batches through a bufio.Writer, flushing when the queue
// is empty. It also sends enquire_link when Config.EnquireLinkInterval is
// set. Delayed answers and receipts, and held receipts waiting to be sent
// again, run on time.AfterFunc timers. Close stops the listener, closes
// every session, stops pending timers and waits for all of these
// goroutines.
//
// LOCKING: Server.mu (sessions, timers) may be held while taking
// Server.smu (counters and records), never the other way round, and while
// queueing a bind_resp (the queue also gives up when the session ends, so
// a stuck writer cannot hold it forever). Session.pmu (deliver_sm awaiting
// their response) is taken alone. Server.hmu (held receipts, and the
// sessions taking them) may be held while taking Server.smu and while
// queueing a held receipt on a session, never while taking Server.mu nor
// under it.
package smsctest
