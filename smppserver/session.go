package smppserver

import (
	"context"
	"errors"
	"math"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smppconn"
)

// Errors returned by Session.Deliver.
var (
	ErrNotReceiver = errors.New("smppserver: session not bound as receiver or transceiver")
	ErrWindowFull  = smppconn.ErrWindowFull
	ErrClosed      = smppconn.ErrClosed
)

type state int32

const (
	stateOpen state = iota
	stateBound
	stateUnbinding
	stateClosed // closed before it was bound
)

// Session is one ESME connection.
type Session struct {
	srv  *Server
	id   uint64
	conn *smppconn.Conn
	// The loggers of the session before and after bind, made when first
	// used (openLogger, boundLogger): an idle session holds none. They
	// carry their fields lazily, so a logger made for a line below the
	// level holds no encoder either.
	log, blog atomic.Pointer[zap.Logger]

	// Set once by the reader at bind, before state becomes bound, and
	// read-only after.
	systemID string
	bindType pdu.ID
	window   int

	state    atomic.Int32
	inflight atomic.Int32 // requests handed to the Handler and not yet answered
	// windowed counts the requests holding a window slot: inflight, less
	// the answers about to be queued. A slot is given back before its
	// answer can reach the client, whose next request must find it free.
	windowed atomic.Int32
	// bindTimer closes a connection not bound within the bind timeout;
	// the bind or the close stops and drops it.
	bindTimer atomic.Pointer[time.Timer]
	// idle is signalled when inflight drops to zero once unbinding; made
	// on first use (idleSignal).
	idle      atomic.Pointer[chan struct{}]
	closeOnce sync.Once
	// unbindFor is the reason Unbind was called for: the session's close
	// carries it, whether the client or smppmux ends the connection after
	// the unbind.
	unbindFor atomic.Int32
}

func newSession(srv *Server, nc net.Conn, id uint64) *Session {
	s := &Session{srv: srv, id: id}
	s.conn = smppconn.New(nc, smppconn.Config{
		MaxPDU:       srv.MaxPDU,
		WriteTimeout: srv.WriteTimeout,
		Window:       deliverWindow,
		// The queue grows only as used; its cap must exceed what a client
		// window's worth of answers and a delivery window can fill.
		QueueLen:            sessionQueueLen,
		ResponseTimeout:     srv.ResponseTimeout,
		EnquireLinkInterval: srv.EnquireLinkInterval,
		InactivityTimeout:   srv.InactivityTimeout,
		LoggerFunc:          s.Logger,
		Poller:              &srv.poller,
		OnClose:             s.onClose,
		OnStop:              s.stopped,
	})
	// The timer is armed only once s.bindTimer holds it: its callback
	// closes the connection, whose onClose stops the timer, and with a
	// short timeout it may run at once.
	t := time.AfterFunc(math.MaxInt64, func() {
		if state(s.state.Load()) == stateOpen {
			s.openLogger().Info("no bind within the bind timeout, closing", zap.Duration("bind_timeout", srv.BindTimeout))
			s.conn.Close(smppconn.ReasonBindTimeout, nil)
		}
	})
	s.bindTimer.Store(t)
	t.Reset(srv.BindTimeout)
	return s
}

// stopBindTimer stops the bind timer and lets it go.
func (s *Session) stopBindTimer() {
	if t := s.bindTimer.Swap(nil); t != nil {
		t.Stop()
	}
}

// openLogger returns the logger of the connection: session id and
// remote address.
func (s *Session) openLogger() *zap.Logger {
	if l := s.log.Load(); l != nil {
		return l
	}
	s.log.CompareAndSwap(nil, s.srv.Logger.WithLazy(zap.Uint64("session", s.id), zap.Stringer("remote", s.conn.RemoteAddr())))
	return s.log.Load()
}

// boundLogger returns the logger of the bound session: session id,
// remote address, system_id and bind type. Only once bound.
func (s *Session) boundLogger() *zap.Logger {
	if l := s.blog.Load(); l != nil {
		return l
	}
	s.blog.CompareAndSwap(nil, s.srv.Logger.WithLazy(s.bindFields(s.systemID, s.bindType)...))
	return s.blog.Load()
}

// bindFields are the fields of the lines about a bind.
func (s *Session) bindFields(systemID string, bind pdu.ID) []zap.Field {
	return []zap.Field{zap.Uint64("session", s.id), zap.Stringer("remote", s.conn.RemoteAddr()),
		zap.String("system_id", systemID), zap.String("bind", pdu.IDName(bind))}
}

// idleSignal returns the channel signalled when the last request under
// way is answered once unbinding, making it on first use.
func (s *Session) idleSignal() chan struct{} {
	if p := s.idle.Load(); p != nil {
		return *p
	}
	ch := make(chan struct{}, 1)
	s.idle.CompareAndSwap(nil, &ch)
	return *s.idle.Load()
}

// deliverWindow is how many deliver_sm a session may have awaiting
// deliver_sm_resp.
const deliverWindow = 64

// sessionQueueLen bounds a session's output queue: past it the client is
// not reading and is closed as a slow consumer.
const sessionQueueLen = 16384

// stopped is the connection's OnStop: the reader has stopped, so whether
// the session got bound is settled and SessionBound, which the reader
// calls, has returned. onClose may still be running in the goroutine that
// closed the connection: leave the Registry here too before telling the
// Handler.
func (s *Session) stopped() {
	defer s.srv.untrack(s)
	if s.wasBound() {
		s.srv.Registry.remove(s)
		defer func() {
			if r := recover(); r != nil {
				s.boundLogger().Error("panic in SessionClosed", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			}
		}()
		s.srv.Handler.SessionClosed(s)
	}
}

// ID returns the session's process-unique id.
func (s *Session) ID() uint64 { return s.id }

// wasBound reports whether the session got past its bind; the fields set
// at bind may be read only then.
func (s *Session) wasBound() bool {
	st := state(s.state.Load())
	return st == stateBound || st == stateUnbinding
}

// SystemID returns the bound system_id, "" before bind.
func (s *Session) SystemID() string {
	if !s.wasBound() {
		return ""
	}
	return s.systemID
}

// BindType returns the bind command id, 0 before bind.
func (s *Session) BindType() pdu.ID {
	if !s.wasBound() {
		return 0
	}
	return s.bindType
}

// Inflight returns how many of the client's requests await an answer.
func (s *Session) Inflight() int { return int(s.inflight.Load()) }

// RemoteAddr returns the ESME's address.
func (s *Session) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.conn.Done() }

// Logger returns the session's logger, carrying its id, remote address and,
// once bound, its system_id.
func (s *Session) Logger() *zap.Logger {
	if !s.wasBound() {
		return s.openLogger()
	}
	return s.boundLogger()
}

// Close closes the session at once.
func (s *Session) Close(r smppconn.Reason) { s.conn.Close(r, nil) }

// Respond sends the answer to a request given to Handler.HandleRequest.
func (s *Session) Respond(b []byte) {
	s.windowed.Add(-1)
	_ = s.conn.Send(b)
	s.release()
}

func (s *Session) release() {
	if s.inflight.Add(-1) == 0 && state(s.state.Load()) == stateUnbinding {
		select {
		case s.idleSignal() <- struct{}{}:
		default:
		}
	}
}

// Deliver sends a deliver_sm or data_sm to the ESME. b must belong to the
// caller; its sequence number is overwritten. done is called once with
// the ESME's response or an error. Deliver fails at once with
// ErrNotReceiver, ErrWindowFull or ErrClosed, and done is not called.
func (s *Session) Deliver(b []byte, done func(pdu.Frame, error)) error {
	st := state(s.state.Load())
	if st != stateBound || s.bindType == pdu.BindTransmitter {
		if st == stateBound {
			return ErrNotReceiver
		}
		return ErrClosed
	}
	return s.conn.TryRequest(b, s.srv.ResponseTimeout, done)
}

// DeliverWindowFree returns how many more deliveries the session can take
// now.
func (s *Session) DeliverWindowFree() int { return s.conn.WindowFree() }

func (s *Session) handle(f pdu.Frame) {
	switch state(s.state.Load()) {
	case stateOpen:
		switch f.ID {
		case pdu.BindTransmitter, pdu.BindReceiver, pdu.BindTransceiver:
			s.bind(f)
		default:
			s.openLogger().Info("request before bind", zap.String("command", pdu.IDName(f.ID)))
			s.answer(f, pdu.StatusInvBndSts)
		}
	case stateClosed:
		// A frame still buffered when the connection closed unbound.
	default:
		s.handleBound(f)
	}
}

func (s *Session) handleBound(f pdu.Frame) {
	switch f.ID {
	case pdu.EnquireLink:
		_ = s.conn.Send(pdu.Empty(pdu.EnquireLinkResp, pdu.StatusOK, f.Seq))
	case pdu.Unbind:
		s.boundLogger().Info("client unbound")
		resp := pdu.Empty(pdu.UnbindResp, pdu.StatusOK, f.Seq)
		// No new requests or deliveries from now on. The client's
		// requests under way get their answers first, and deliveries
		// already sent, which may have crossed the unbind on the wire,
		// get the client's: it reads until its unbind_resp. So no
		// receipt it took is sent again to another session.
		// The state is set before the count is read, as in shutdown.
		s.state.CompareAndSwap(int32(stateBound), int32(stateUnbinding))
		if s.inflight.Load() == 0 && s.conn.Pending() == 0 {
			s.conn.SendAndClose(resp, smppconn.ReasonUnbind, nil)
			return
		}
		answer := func(context.Context) {
			ctx, cancel := context.WithTimeout(context.Background(), s.srv.ResponseTimeout)
			defer cancel()
			s.waitRequests(ctx)
			s.conn.WaitIdle(ctx)
			s.conn.SendAndClose(resp, smppconn.ReasonUnbind, nil)
		}
		if l := s.srv.Lifecycle; l == nil {
			go answer(context.Background())
		} else if l.Go("client unbind", answer) != nil {
			// Stopping: the session is being unbound already.
			s.conn.SendAndClose(resp, smppconn.ReasonUnbind, nil)
		}
	case pdu.BindTransmitter, pdu.BindReceiver, pdu.BindTransceiver:
		_ = s.conn.Send(pdu.BindResp(f.ID, pdu.StatusAlyBnd, f.Seq, ""))
	case pdu.SubmitSM, pdu.DataSM, pdu.SubmitMulti, pdu.QuerySM, pdu.CancelSM, pdu.ReplaceSM:
		if s.bindType == pdu.BindReceiver {
			s.answer(f, pdu.StatusInvBndSts)
			return
		}
		// Count the request before looking at the state: shutdown sets the
		// state before reading the count, so one of the two sees the other.
		s.inflight.Add(1)
		n := int(s.windowed.Add(1))
		switch {
		case state(s.state.Load()) == stateUnbinding:
			s.windowed.Add(-1)
			s.answer(f, pdu.StatusInvBndSts)
			s.release()
		case n > s.window:
			s.windowed.Add(-1)
			s.answer(f, pdu.StatusMsgQFul)
			s.release()
		default:
			s.srv.Handler.HandleRequest(s, f)
		}
	default:
		// deliver_sm, outbind and alert_notification travel from an
		// SMSC to an ESME, never the other way.
		s.boundLogger().Info("command not valid from a client", zap.String("command", pdu.IDName(f.ID)))
		_ = s.conn.Send(pdu.Empty(pdu.GenericNack, pdu.StatusInvCmdID, f.Seq))
	}
}

// answer sends the empty response to f with status, or generic_nack for a
// command that has no response.
func (s *Session) answer(f pdu.Frame, st pdu.Status) {
	switch f.ID {
	case pdu.Outbind, pdu.AlertNotification:
		_ = s.conn.Send(pdu.Empty(pdu.GenericNack, st, f.Seq))
	default:
		_ = s.conn.Send(pdu.Empty(pdu.RespID(f.ID), st, f.Seq))
	}
}

func (s *Session) bind(f pdu.Frame) {
	b, err := pdu.ParseBind(f.Body())
	if err != nil {
		st := pdu.StatusBindFail
		var fe *pdu.FieldError
		if errors.As(err, &fe) {
			st = fe.Status
		}
		s.refuse(s.openLogger(), f, "", st, RefusedMalformed, err)
		return
	}
	req := BindRequest{
		Type:       f.ID,
		SystemID:   string(b.SystemID),
		Password:   string(b.Password),
		SystemType: string(b.SystemType),
		Remote:     s.conn.RemoteAddr(),
	}
	fields := s.bindFields(req.SystemID, f.ID)
	log := s.srv.Logger.WithLazy(fields...)
	acct, r := s.srv.Auth.Authenticate(context.Background(), req)
	if r == BindAccepted && s.srv.shuttingDown.Load() {
		r = RefusedShuttingDown
	}
	if r == BindAccepted {
		s.systemID, s.bindType, s.window = acct.SystemID, f.ID, max(acct.Window, 1)
		if !s.srv.Registry.add(s, acct.MaxBinds) {
			s.refuse(log, f, req.SystemID, RefusedMaxBinds.Status(), RefusedMaxBinds, nil, zap.Int("max_binds", acct.MaxBinds))
			return
		}
	}
	if r != BindAccepted {
		s.refuse(log, f, req.SystemID, r.Status(), r, nil)
		return
	}
	s.stopBindTimer()
	if !s.state.CompareAndSwap(int32(stateOpen), int32(stateBound)) {
		// The connection closed (bind timeout, Close) while the bind was
		// being checked, and onClose, finding it unbound, did not touch
		// the Registry.
		s.srv.Registry.remove(s)
		log.Info("connection closed during bind")
		return
	}
	_ = s.conn.Send(pdu.BindResp(f.ID, pdu.StatusOK, f.Seq, s.srv.SystemID))
	// Logged through the server's logger: a line at bind must not leave
	// the session holding a logger.
	s.srv.Logger.Info("client bound", fields...)
	s.srv.Handler.SessionBound(s)
}

// refuse answers the bind f with st and closes the connection, after one
// log line saying why (r, and err when the bind could not be read) and the
// call of Server.OnBindFailed. The password is never logged.
func (s *Session) refuse(log *zap.Logger, f pdu.Frame, systemID string, st pdu.Status, r BindRefusal, err error, extra ...zap.Field) {
	fields := append([]zap.Field{zap.Stringer("reason", r), zap.Stringer("status", statusName(st))}, extra...)
	if err != nil {
		fields = append(fields, zap.Error(err))
	}
	log.Warn("bind refused", fields...)
	if h := s.srv.OnBindFailed; h != nil {
		h(systemID, st, r)
	}
	s.conn.SendAndClose(pdu.BindResp(f.ID, st, f.Seq, ""), smppconn.ReasonBindFailed, err)
}

// shutdown waits for in-flight requests, then unbinds politely.
func (s *Session) shutdown(ctx context.Context) { s.Unbind(ctx, smppconn.ReasonShutdown) }

// Unbind ends the session politely for reason r: once the client's
// requests under way are answered (within ctx), it unbinds the connection
// (smppconn.Conn.Unbind: unbind_resp awaited up to
// smppconn.UnbindTimeout). A session not bound is closed at once.
func (s *Session) Unbind(ctx context.Context, r smppconn.Reason) {
	if !s.state.CompareAndSwap(int32(stateBound), int32(stateUnbinding)) {
		s.conn.Close(r, nil)
		return
	}
	s.unbindFor.Store(int32(r))
	s.waitRequests(ctx)
	s.conn.Unbind(ctx, r)
}

// CloseReason returns why the session's connection closed, ReasonNone
// while it is open.
func (s *Session) CloseReason() smppconn.Reason { return s.conn.Reason() }

// waitRequests waits, once the session is unbinding, until the client's
// requests under way are answered, the connection ends or ctx is done.
func (s *Session) waitRequests(ctx context.Context) {
	if s.inflight.Load() > 0 {
		select {
		case <-s.idleSignal():
		case <-s.conn.Done():
		case <-ctx.Done():
		}
	}
}

func (s *Session) onClose(r smppconn.Reason, err error) {
	if u := smppconn.Reason(s.unbindFor.Load()); u != smppconn.ReasonNone && r != smppconn.ReasonPanic {
		// The client answering the unbind closes the connection too,
		// often before smppmux does: the reason is still the unbind's.
		r = u
	}
	if h := s.srv.OnSessionClosed; h != nil {
		defer h(r)
	}
	s.closeOnce.Do(func() {
		s.stopBindTimer()
		fields := []zap.Field{zap.Stringer("reason", r)}
		if err != nil {
			fields = append(fields, zap.Error(err))
		}
		if s.state.CompareAndSwap(int32(stateOpen), int32(stateClosed)) {
			s.openLogger().Debug("connection closed before bind", fields...)
			return
		}
		s.srv.Registry.remove(s)
		s.boundLogger().Info("session closed", fields...)
	})
}
