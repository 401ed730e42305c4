package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smppconn"
)

// State is a Bind's state.
type State int32

// Bind states.
const (
	StateClosed State = iota
	StateDialing
	StateBinding
	StateBound
	StateUnbinding
)

var stateNames = [...]string{"closed", "dialing", "binding", "bound", "unbinding"}

// String returns the state's name.
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// Bind is one connection to the SMSC.
type Bind struct {
	u     *Upstream
	index int
	kind  pdu.ID
	log   *zap.Logger

	state   atomic.Int32
	stopCtx atomic.Pointer[context.Context]
	// lastClose is the close reason of the latest connection that
	// ended (a failed bind's too), ReasonNone before one did.
	lastClose atomic.Int32

	mu   sync.Mutex
	conn *smppconn.Conn // set while bound
	last *smppconn.Conn // the latest connection, bound or not
}

func newBind(u *Upstream, index, slot int, kind pdu.ID) *Bind {
	return &Bind{
		u:     u,
		index: index,
		kind:  kind,
		log:   u.log.With(zap.Int("bind", index), zap.String("bind_type", pdu.IDName(kind)), zap.Int("slot", slot)),
	}
}

// State returns the current state.
func (b *Bind) State() State { return State(b.state.Load()) }

// LastClose returns why the bind's latest connection closed,
// smppconn.ReasonNone while none did.
func (b *Bind) LastClose() smppconn.Reason { return smppconn.Reason(b.lastClose.Load()) }

// Kind returns the bind command id.
func (b *Bind) Kind() pdu.ID { return b.kind }

// LocalAddr returns the local address of the current connection, nil when
// there is none.
func (b *Bind) LocalAddr() net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn == nil {
		return nil
	}
	return b.conn.LocalAddr()
}

// WindowUsed returns how many requests await a response on the current
// connection.
func (b *Bind) WindowUsed() int {
	if c := b.current(); c != nil {
		return c.Pending()
	}
	return 0
}

// Window returns the configured window.
func (b *Bind) Window() int { return b.u.cfg.Window }

func (b *Bind) current() *smppconn.Conn {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conn
}

// usable returns the connection of a bound bind that should take new
// submits: not suspect, not congested; nil otherwise.
func (b *Bind) usable() *smppconn.Conn {
	c := b.current()
	if c == nil || c.Suspect() || c.Congested(b.u.stallAfter()) {
		return nil
	}
	return c
}

func (b *Bind) closeNow() {
	b.mu.Lock()
	c := b.last
	b.mu.Unlock()
	if c != nil {
		c.Close(b.u.stopReason(), nil)
	}
}

// supervise keeps the bind up until ctx is done.
func (b *Bind) supervise(ctx context.Context) {
	cfg := &b.u.cfg
	backoff := cfg.ReconnectMin
	for {
		start := time.Now()
		bound, err := b.session(ctx)
		b.state.Store(int32(StateClosed))
		if ctx.Err() != nil {
			return
		}
		// Full jitter between half and all of the backoff, so binds
		// that failed together do not retry together. A bind that was
		// up for a while redials at once, within a quarter of
		// reconnect_min: the link is gone, the SMSC likely well. One that
		// keeps being dropped soon after binding backs off as any.
		d := backoff/2 + rand.N(backoff/2+1)
		if bound {
			backoff = cfg.ReconnectMin
			if time.Since(start) >= 10*cfg.ReconnectMin {
				d = rand.N(backoff/4 + 1)
			} else {
				d = backoff/2 + rand.N(backoff/2+1)
			}
		}
		b.log.Info("reconnecting", zap.Duration("in", d), zap.NamedError("cause", err))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, cfg.ReconnectMax)
	}
}

// session dials, binds and serves one connection until it ends. bound
// reports whether the bind succeeded.
func (b *Bind) session(ctx context.Context) (bound bool, err error) {
	cfg := &b.u.cfg
	b.state.Store(int32(StateDialing))
	nd := &net.Dialer{Timeout: cfg.ConnectTimeout}
	var nc net.Conn
	if cfg.TLS != nil {
		td := tls.Dialer{NetDialer: nd, Config: cfg.TLS}
		nc, err = td.DialContext(ctx, "tcp", cfg.Addr)
	} else {
		nc, err = nd.DialContext(ctx, "tcp", cfg.Addr)
	}
	if err != nil {
		return false, err
	}
	closed := make(chan struct{})
	var reason smppconn.Reason
	var cerr error
	c := smppconn.New(nc, smppconn.Config{
		WriteTimeout:        cfg.WriteTimeout,
		Window:              cfg.Window,
		QueueLen:            bindQueueLen,
		ResponseTimeout:     cfg.ResponseTimeout,
		EnquireLinkInterval: cfg.EnquireLinkInterval,
		InactivityTimeout:   3 * cfg.EnquireLinkInterval,
		ProbeTimeout:        probeTimeout(cfg.ResponseTimeout),
		Logger:              b.log,
		OnSuspect:           func(bool) { b.u.health.Fire() },
		OnClose: func(r smppconn.Reason, err error) {
			reason, cerr = r, err
			b.lastClose.Store(int32(r))
			close(closed)
		},
	})
	b.mu.Lock()
	b.last = c
	b.mu.Unlock()
	c.Start(func(f pdu.Frame) { b.handle(c, f) })
	defer c.Wait()

	b.state.Store(int32(StateBinding))
	req := pdu.Bind(b.kind, 0, pdu.BindFields{
		SystemID:   cfg.SystemID,
		Password:   cfg.Password,
		SystemType: cfg.SystemType,
		Version:    pdu.InterfaceVersion,
	})
	bctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	resp, err := c.Call(bctx, req, cfg.ConnectTimeout)
	cancel()
	if err == nil && resp.Status != pdu.StatusOK {
		err = fmt.Errorf("bind refused with status %s", pdu.StatusText(resp.Status))
	}
	if err != nil {
		b.log.Warn("bind failed", zap.Error(err))
		c.Close(smppconn.ReasonBindFailed, err)
		return false, err
	}

	b.mu.Lock()
	b.conn = c
	b.mu.Unlock()
	b.u.health.Fire()
	b.state.Store(int32(StateBound))
	b.log.Info("upstream bound")

	stopping := false
	select {
	case <-closed:
	case <-ctx.Done():
		stopping = true
		b.unbind(c)
		<-closed
	}
	b.mu.Lock()
	b.conn = nil
	b.mu.Unlock()
	b.u.health.Fire()
	// After the unbind exchange the SMSC may close first (peer_closed):
	// still a polite unbind, not a lost bind.
	if reason != smppconn.ReasonShutdown && reason != smppconn.ReasonRemoved && !stopping {
		b.log.Warn("upstream bind lost", zap.Stringer("reason", reason), zap.NamedError("cause", cerr))
		if h := b.u.cfg.OnBindLost; h != nil {
			h(b.u.cfg.Name, reason.String())
		}
	} else {
		b.log.Info("upstream unbound")
	}
	if cerr == nil {
		cerr = errors.New(reason.String())
	}
	return true, cerr
}

// unbind takes the bind out of rotation, lets outstanding requests finish,
// exchanges unbind and closes.
func (b *Bind) unbind(c *smppconn.Conn) {
	b.state.Store(int32(StateUnbinding))
	b.mu.Lock()
	b.conn = nil
	b.mu.Unlock()
	b.u.health.Fire()
	ctx := context.Background()
	if p := b.stopCtx.Load(); p != nil {
		ctx = *p
	}
	// Outstanding submits get the response timeout to finish.
	wctx, wcancel := context.WithTimeout(ctx, b.u.cfg.ResponseTimeout)
	c.WaitIdle(wctx)
	wcancel()
	select {
	case <-c.Done():
		return
	default:
	}
	c.Unbind(ctx, b.u.stopReason())
}

// probeTimeout is how long the enquire_link sent when a request timed out
// may go unanswered before the bind is closed and redialled: 1.5 s, or
// the response timeout when shorter. A blackholed or hung link is closed
// and redialling within the response timeout and 2 s.
func probeTimeout(response time.Duration) time.Duration { return min(1500*time.Millisecond, response) }

// stallAfter is how long a bind's full window may go without any response
// before the bind is congested and takes no new submits until half its
// window is free: a tenth of the response timeout, at least a second.
func (u *Upstream) stallAfter() time.Duration { return max(time.Second, u.cfg.ResponseTimeout/10) }

// bindQueueLen bounds a bind's output queue. Besides a window of
// submits it holds the deliver_sm_resp of receipts, sent as they become
// durable: a group commit makes many at once, as many as the SMSC sent
// while it ran, which our window does not bound. The queue grows only as
// used; past this the SMSC is not reading and the bind is closed.
const bindQueueLen = 16384

func (b *Bind) handle(c *smppconn.Conn, f pdu.Frame) {
	switch f.ID {
	case pdu.EnquireLink:
		_ = c.Send(pdu.Empty(pdu.EnquireLinkResp, pdu.StatusOK, f.Seq))
	case pdu.Unbind:
		b.log.Info("SMSC unbound")
		c.SendAndClose(pdu.Empty(pdu.UnbindResp, pdu.StatusOK, f.Seq), smppconn.ReasonUnbind, nil)
	case pdu.DeliverSM, pdu.DataSM:
		// The reader sees PDUs in order, so one that follows a successful
		// bind_resp may arrive before the supervisor has marked the bind
		// bound: it is served in every state.
		id, seq := pdu.RespID(f.ID), f.Seq
		if b.u.handler == nil {
			// No handler: a temporary error, so the SMSC keeps the
			// message and retries.
			_ = c.Send(pdu.Empty(id, pdu.StatusXTAppn, seq))
			return
		}
		var once atomic.Bool
		b.u.handler.HandleDeliver(b.u, f, func(st pdu.Status) {
			if once.CompareAndSwap(false, true) {
				_ = c.Send(pdu.MessageIDResp(id, st, seq, ""))
			}
		})
	case pdu.AlertNotification:
		b.log.Debug("alert_notification ignored")
	default:
		b.log.Info("command not valid from an SMSC", zap.String("command", pdu.IDName(f.ID)))
		_ = c.Send(pdu.Empty(pdu.GenericNack, pdu.StatusInvCmdID, f.Seq))
	}
}
