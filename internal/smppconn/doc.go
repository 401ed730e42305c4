// Package smppconn is the connection machinery shared by the client-facing
// sessions (package smppserver) and the upstream binds (package upstream):
// framing on a net.Conn, a single writer, request/response matching,
// keepalive and one way to close. On Linux the reader re-arms TCP_QUICKACK
// after every read (package quickack), so a peer with Nagle's algorithm on
// never waits for an ACK held back for a reply.
//
// Goroutines: each Conn runs exactly one reader and one writer goroutine,
// started by Start and both ended by Close. The reader calls the frame
// handler and response callbacks itself, in order, so a handler that blocks
// stops reading from the peer (TCP back-pressure). The writer is the only
// goroutine that writes to the socket; producers queue to it. Keepalive and
// response timeouts run on time.AfterFunc timers, not goroutines.
//
// LOCKING: Conn.mu guards the pending map, the sequence counter and the
// closed flag. No callback is called with mu held.
package smppconn
