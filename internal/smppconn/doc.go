// Package smppconn is the connection machinery shared by the client-facing
// sessions (package smppserver) and the upstream binds (package upstream):
// framing on a net.Conn, a single writer, request/response matching,
// keepalive and one way to close. On Linux the reader re-arms TCP_QUICKACK
// each time it waits for the peer (package quickack), so a peer with
// Nagle's algorithm on never waits for an ACK held back for a reply.
//
// Goroutines: each Conn runs one reader goroutine, from Start until it is
// closed, and one writer goroutine while it has something to write: the
// first PDU queued to an empty queue starts the writer, which ends when it
// finds the queue empty again, so an idle connection costs one goroutine.
// A connection that read nothing for a short while ends its reader: a
// Poller (one goroutine for many connections) starts a new one when the
// socket turns readable, so an idle connection with a Poller costs no
// goroutine; without one, a new goroutine waits for the socket on the
// smallest stack and reads on as the reader (idle.go). OnStop is called
// from the last reader.
// The reader calls the frame handler and response callbacks itself, in
// order, so a handler that blocks stops reading from the peer (TCP
// back-pressure). The writer is the only goroutine that writes to the
// socket; producers queue to it. Keepalive and response timeouts run on
// time.AfterFunc timers, not goroutines.
//
// LOCKING: Conn.mu guards the pending map, the sequence counter and the
// closed flag; Conn.qmu the output queue and whether a writer runs. Close
// takes qmu after releasing mu, the writer takes mu (take) without qmu, and
// enqueue may call Close only after releasing qmu: the two are never held
// together. Poller.mu is never held with either. No callback is called
// with mu held.
package smppconn
