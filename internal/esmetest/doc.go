// Package esmetest is a fake ESME: an SMPP 3.4 client for tests and for the
// load generator. [Dial] connects and binds; [Client.Submit] and
// [Client.SubmitAsync] send submit_sm under a window of outstanding
// requests; [Client.Send] sends any request and waits for its response,
// matched by response command id and sequence_number. Every deliver_sm and
// data_sm from the peer is answered (status chosen by
// [Config.DeliverStatus]) and then handed to [Client.Deliveries], with the
// receipted message id already extracted. enquire_link and unbind from the
// peer are answered.
//
// [Connect] gives an unbound [RawConn] that sends arbitrary bytes and reads
// whole frames, for hostile and low-level tests.
//
// Tests use the constructors taking a testing.TB, which fail the test on
// a connect error and close what they opened when the test is over:
// [Bind] (Dial, where a refused bind fails the test), [BindStatus] (for
// tests of bind refusals) and [Connect]. Dial remains for code that is
// not a test, the load generator for one, and for tests that must see the
// error or bind from a goroutine of their own.
//
// Goroutines: per Client, one reader goroutine (matches responses, answers
// requests, runs SubmitAsync callbacks and DeliverStatus) and one writer
// goroutine, the only one writing to the socket, which drains a buffered
// queue and writes batches through a bufio.Writer, flushing when the queue
// is empty; it also sends enquire_link when Config.EnquireLinkInterval is
// set. Close ends the connection and waits for both. A RawConn starts no
// goroutine.
package esmetest
