package smppserver

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/smppmux/smppmux/internal/defaults"
	"github.com/smppmux/smppmux/internal/lifecycle"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smppconn"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("smppserver: server closed")

// BindRequest is what an ESME presented in its bind.
type BindRequest struct {
	Type       pdu.ID // pdu.BindTransmitter, pdu.BindReceiver or pdu.BindTransceiver
	SystemID   string
	Password   string // never log it
	SystemType string
	Remote     net.Addr
}

// Account is what the Authenticator grants a bound system_id.
type Account struct {
	SystemID string
	// Window is how many requests a session may have awaiting a
	// response; more get ESME_RMSGQFUL.
	Window int
	// MaxBinds is how many sessions the system_id may hold at once.
	MaxBinds int
}

// Authenticator checks a bind. A refusal other than BindAccepted refuses
// it with the refusal's status, and says why in the log and to
// Server.OnBindFailed.
type Authenticator interface {
	Authenticate(ctx context.Context, req BindRequest) (Account, BindRefusal)
}

// Handler serves the requests of bound sessions.
type Handler interface {
	// HandleRequest serves submit_sm, data_sm, submit_multi, query_sm,
	// cancel_sm and replace_sm. It is called from the session's reader
	// and must not block for long; it must call s.Respond exactly once,
	// from any goroutine.
	HandleRequest(s *Session, f pdu.Frame)
	// SessionBound is called once a bind succeeded and its response is
	// queued.
	SessionBound(s *Session)
	// SessionClosed is called once when a bound session ends, after
	// SessionBound has returned and the session's reader has stopped, so
	// no HandleRequest call is running or will follow.
	SessionClosed(s *Session)
}

// Defaults of Server's timers, taken where a field is zero. The
// configuration's defaults refer to them.
const (
	DefaultBindTimeout         = 10 * time.Second
	DefaultEnquireLinkInterval = 30 * time.Second
	DefaultInactivityTimeout   = 90 * time.Second
	DefaultResponseTimeout     = 30 * time.Second
	DefaultWriteTimeout        = 10 * time.Second
)

// Server accepts ESME binds.
type Server struct {
	Auth     Authenticator
	Handler  Handler
	Logger   *zap.Logger
	Registry *Registry
	// SystemID is smppmux's system_id in bind responses; "smppmux".
	SystemID string

	BindTimeout         time.Duration // a connection must bind within it; 10s
	EnquireLinkInterval time.Duration // idle time before an enquire_link; 30s
	InactivityTimeout   time.Duration // idle time before closing; 90s
	ResponseTimeout     time.Duration // for requests sent to clients; 30s
	WriteTimeout        time.Duration // 10s
	MaxPDU              int           // pdu.DefaultMaxLen

	// OnBindFailed, if set, is called for each refused bind with the
	// system_id presented (not to be used as an unbounded label), the
	// status the client got and why.
	OnBindFailed func(systemID string, st pdu.Status, r BindRefusal)
	// OnSessionClosed, if set, is called once per session that ends.
	OnSessionClosed func(r smppconn.Reason)
	// Lifecycle, when set, owns the goroutine that answers a client's
	// unbind once its requests under way are answered; nil: a plain
	// goroutine.
	Lifecycle *lifecycle.Tracker

	// poller waits for the sockets of idle sessions, so that an idle
	// session keeps no goroutine; closed once the sessions are.
	poller       smppconn.Poller
	nextID       atomic.Uint64
	shuttingDown atomic.Bool
	mu           sync.Mutex
	listeners    map[net.Listener]struct{}
	sessions     map[*Session]struct{}
	wg           sync.WaitGroup
	initOnce     sync.Once
}

func (srv *Server) init() {
	srv.initOnce.Do(func() {
		if srv.Logger == nil {
			srv.Logger = zap.NewNop()
		}
		if srv.Registry == nil {
			srv.Registry = NewRegistry()
		}
		if srv.SystemID == "" {
			srv.SystemID = "smppmux"
		}
		defaults.Positive(&srv.BindTimeout, DefaultBindTimeout)
		defaults.Positive(&srv.EnquireLinkInterval, DefaultEnquireLinkInterval)
		defaults.Positive(&srv.InactivityTimeout, DefaultInactivityTimeout)
		defaults.Positive(&srv.ResponseTimeout, DefaultResponseTimeout)
		defaults.Positive(&srv.WriteTimeout, DefaultWriteTimeout)
		srv.listeners = make(map[net.Listener]struct{})
		srv.sessions = make(map[*Session]struct{})
	})
}

// Serve accepts connections on l until Shutdown or Close, then returns
// ErrServerClosed; any other accept error is returned as it is.
func (srv *Server) Serve(l net.Listener) error {
	srv.init()
	srv.mu.Lock()
	if srv.shuttingDown.Load() {
		srv.mu.Unlock()
		return ErrServerClosed
	}
	srv.listeners[l] = struct{}{}
	srv.mu.Unlock()
	defer func() {
		srv.mu.Lock()
		delete(srv.listeners, l)
		srv.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if srv.shuttingDown.Load() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Running out of file descriptors, say: keep serving the
			// sessions we have and try again shortly.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			srv.Logger.Warn("accept failed, retrying", zap.Error(err), zap.Duration("backoff", backoff))
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if !srv.track(nc) {
			_ = nc.Close()
			return ErrServerClosed
		}
	}
}

// track starts a session on nc unless shutdown began.
func (srv *Server) track(nc net.Conn) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.shuttingDown.Load() {
		return false
	}
	s := newSession(srv, nc, srv.nextID.Add(1))
	srv.sessions[s] = struct{}{}
	srv.wg.Add(1)
	s.conn.Start(s.handle)
	return true
}

// untrack forgets s once its connection stopped (Session.stopped).
func (srv *Server) untrack(s *Session) {
	srv.mu.Lock()
	delete(srv.sessions, s)
	srv.mu.Unlock()
	srv.wg.Done()
}

// ListenAndServe listens on the TCP address addr and calls Serve.
func (srv *Server) ListenAndServe(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return srv.Serve(l)
}

// Shutdown stops accepting, waits for in-flight requests to be answered,
// unbinds every session and waits for the sessions to end, or until ctx is
// done, when the remaining sessions are closed.
func (srv *Server) Shutdown(ctx context.Context) error {
	sessions := srv.stopAccepting()
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.shutdown(ctx)
		}()
	}
	wg.Wait()
	done := make(chan struct{})
	go func() {
		srv.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		_ = srv.poller.Close()
		// Sessions cut short when ctx ended finish quickly too: say so
		// rather than let the race between the two cases decide.
		return ctx.Err()
	case <-ctx.Done():
		srv.Close()
		<-done
		return ctx.Err()
	}
}

// Close closes the listeners and every session at once.
func (srv *Server) Close() error {
	for _, s := range srv.stopAccepting() {
		s.Close(smppconn.ReasonShutdown)
	}
	// Every session is closed, so none is left waiting on the poller.
	_ = srv.poller.Close()
	return nil
}

// stopAccepting closes the listeners, refuses new connections and returns
// the open sessions.
func (srv *Server) stopAccepting() []*Session {
	srv.init()
	srv.shuttingDown.Store(true)
	srv.mu.Lock()
	for l := range srv.listeners {
		_ = l.Close()
	}
	srv.mu.Unlock()
	return srv.Sessions()
}

// Sessions returns the open sessions, bound or not.
func (srv *Server) Sessions() []*Session {
	srv.init()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	out := make([]*Session, 0, len(srv.sessions))
	for s := range srv.sessions {
		out = append(out, s)
	}
	return out
}
