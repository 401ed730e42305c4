// Package smppserver accepts ESME connections: the SMSC side of smppmux
// that legacy SMS applications bind to.
//
// It is shaped like net/http: a Server holds settings and hooks, Serve
// accepts on a listener and always returns an error (ErrServerClosed after
// Shutdown or Close), and Shutdown stops accepting, lets in-flight requests
// finish, unbinds every session and waits for it.
//
// A Session is one ESME connection. It owns a goroutine that reads and
// dispatches PDUs while the client sends and a writer goroutine while it
// has something to write (package internal/smppconn); an idle session's
// socket is waited for by the Server's smppconn.Poller, so it costs no
// goroutine. A panic in either closes only that session. The bind state machine
// (open -> bound -> closed), the bind timeout, enquire_link both ways, the
// per-session window and the answers SMPP owes a client before and after
// bind live here. Bound requests (submit_sm, data_sm, ...) go to the
// Handler, which answers them, possibly from another goroutine, through
// Session.Respond. A client's unbind is answered, once its requests under
// way are, from one more goroutine (Server.Lifecycle's when set).
//
// A Registry finds the bound sessions of a system_id.
package smppserver
