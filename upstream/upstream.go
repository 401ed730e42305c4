package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/smppmux/smppmux/internal/changes"
	"github.com/smppmux/smppmux/internal/defaults"
	"github.com/smppmux/smppmux/internal/lifecycle"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smppconn"
)

// Errors returned by Submit. Either means the PDU was not sent.
var (
	ErrNotBound = errors.New("upstream: no bound transmitter")
	ErrStopped  = errors.New("upstream: stopped")
	// ErrRateLimited means the upstream's pace (its TPS cap, or the rate
	// it learnt from the SMSC's throttling) allows no submit before the
	// context is done.
	ErrRateLimited = errors.New("upstream: send rate reached")
)

// Bind kinds of Config.Bind.
const (
	KindTRX  = "trx"
	KindTXRX = "txrx"
	KindTX   = "tx"
	KindRX   = "rx"
)

// Defaults of Config, taken where a field is zero. The configuration's
// defaults refer to them.
const (
	DefaultBind                = KindTRX
	DefaultBinds               = 1
	DefaultWindow              = 50
	DefaultResponseTimeout     = 10 * time.Second
	DefaultEnquireLinkInterval = 30 * time.Second
	DefaultConnectTimeout      = 5 * time.Second
	DefaultReconnectMin        = time.Second
	DefaultReconnectMax        = 30 * time.Second
	DefaultWriteTimeout        = 10 * time.Second
)

// Config describes one SMSC. Zero durations take the defaults shown.
type Config struct {
	Name       string
	Addr       string
	SystemID   string
	Password   string
	SystemType string
	Bind       string // KindTRX (default), KindTXRX, KindTX or KindRX
	Binds      int    // binds, or transmitter+receiver pairs; 1
	Window     int    // outstanding requests per bind; 50
	// TPS caps submits per second over all binds; 0: no cap. Below it the
	// upstream paces itself by the SMSC's throttling answers (see Rate).
	// Bursts reach a twentieth of a second's worth.
	TPS int
	// TLS, when set, makes every bind SMPP over TLS.
	TLS *tls.Config
	// OnBindLost, if set, is called when a bound connection ends other
	// than by Stop.
	OnBindLost func(upstream, reason string)
	// Lifecycle, when set, owns the binds' supervising goroutines (and a
	// panic in one is recovered there); nil: plain goroutines.
	Lifecycle *lifecycle.Tracker

	ResponseTimeout     time.Duration // 10s
	EnquireLinkInterval time.Duration // 30s
	ConnectTimeout      time.Duration // dial and bind; 5s
	ReconnectMin        time.Duration // 1s
	ReconnectMax        time.Duration // 30s
	WriteTimeout        time.Duration // 10s
}

// WithDefaults returns c with the defaults in place of its zero values:
// the settings New runs an upstream with.
func (c Config) WithDefaults() Config {
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	if c.Bind == "" {
		c.Bind = DefaultBind
	}
	defaults.Positive(&c.Binds, DefaultBinds)
	defaults.Positive(&c.Window, DefaultWindow)
	defaults.Positive(&c.ResponseTimeout, DefaultResponseTimeout)
	defaults.Positive(&c.EnquireLinkInterval, DefaultEnquireLinkInterval)
	defaults.Positive(&c.ConnectTimeout, DefaultConnectTimeout)
	defaults.Positive(&c.ReconnectMin, DefaultReconnectMin)
	defaults.Positive(&c.ReconnectMax, DefaultReconnectMax)
	defaults.Positive(&c.WriteTimeout, DefaultWriteTimeout)
}

// DeliverHandler takes the deliver_sm and data_sm an SMSC sends.
type DeliverHandler interface {
	// HandleDeliver is called from the bind's reader. It must call ack
	// exactly once, from any goroutine, with the status to answer the
	// SMSC; the SMSC is not answered before.
	HandleDeliver(u *Upstream, f pdu.Frame, ack func(pdu.Status))
}

// Upstream is one SMSC and its binds.
type Upstream struct {
	cfg     Config
	log     *zap.Logger
	handler DeliverHandler
	binds   []*Bind
	tx      []*Bind // the binds that can transmit
	next    atomic.Uint32
	stopped atomic.Bool
	pace    *pacer
	// reason is the close reason of the binds of the Stop under way:
	// smppconn.ReasonShutdown, or ReasonRemoved for StopFor of a reload.
	reason atomic.Int32

	// mu guards cancel and ended: cancel is set while the binds run (from
	// Start until Stop), ended is closed once the supervisors of the last
	// Start have returned.
	mu     sync.Mutex
	cancel context.CancelFunc
	ended  chan struct{}

	// health fires each time a bind is bound, loses its connection,
	// becomes suspect or is cleared.
	health changes.Signal
}

// New returns an Upstream for cfg; Start binds it. h may be nil for an
// upstream that only transmits: deliver_sm and data_sm are then answered
// ESME_RX_T_APPN, so the SMSC keeps them.
func New(cfg Config, h DeliverHandler, log *zap.Logger) *Upstream {
	cfg.setDefaults()
	if log == nil {
		log = zap.NewNop()
	}
	u := &Upstream{cfg: cfg, handler: h, log: log.With(zap.String("upstream", cfg.Name)), pace: newPacer(cfg.TPS)}
	var kinds []pdu.ID
	switch cfg.Bind {
	case KindTXRX:
		kinds = []pdu.ID{pdu.BindTransmitter, pdu.BindReceiver}
	case KindTX:
		kinds = []pdu.ID{pdu.BindTransmitter}
	case KindRX:
		kinds = []pdu.ID{pdu.BindReceiver}
	default:
		kinds = []pdu.ID{pdu.BindTransceiver}
	}
	for i := range cfg.Binds {
		for _, k := range kinds {
			b := newBind(u, len(u.binds), i, k)
			u.binds = append(u.binds, b)
			if k != pdu.BindReceiver {
				u.tx = append(u.tx, b)
			}
		}
	}
	return u
}

// Name returns the configured name.
func (u *Upstream) Name() string { return u.cfg.Name }

// Config returns the configuration the Upstream runs with, defaults filled.
func (u *Upstream) Config() Config { return u.cfg }

// Start starts binding. It is a no-op while the upstream runs; after Stop
// it starts again, once the binds of the Stop under way have ended, with
// the same configuration and pace.
func (u *Upstream) Start() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.cancel != nil {
		return
	}
	if u.ended != nil {
		<-u.ended
	}
	ctx, cancel := context.WithCancel(context.Background())
	u.cancel = cancel
	ended := make(chan struct{})
	u.ended = ended
	var wg sync.WaitGroup
	for _, b := range u.binds {
		b.stopCtx.Store(nil)
		wg.Add(1)
		run := func(context.Context) {
			defer wg.Done()
			b.supervise(ctx)
		}
		if l := u.cfg.Lifecycle; l == nil {
			go run(ctx)
		} else if err := l.Go("upstream bind", run); err != nil {
			wg.Done() // stopping: the bind is not dialled
		}
	}
	u.stopped.Store(false)
	go func() {
		wg.Wait()
		close(ended)
	}()
}

// Stop unbinds every bind politely and waits for them, or until ctx is
// done, when it closes them at once and waits for that. A second Stop
// while the first waits waits too, within its own ctx. Start binds again.
func (u *Upstream) Stop(ctx context.Context) error {
	return u.StopFor(ctx, smppconn.ReasonShutdown)
}

// StopFor is Stop with the binds closed for reason r (smppconn.ReasonRemoved
// for an upstream a reload removed) rather than ReasonShutdown.
func (u *Upstream) StopFor(ctx context.Context, r smppconn.Reason) error {
	u.mu.Lock()
	cancel, ended := u.cancel, u.ended
	u.cancel = nil
	if cancel != nil {
		u.reason.Store(int32(r))
		u.stopped.Store(true)
		for _, b := range u.binds {
			b.stopCtx.Store(&ctx)
		}
	}
	u.mu.Unlock()
	if ended == nil {
		return nil
	}
	if cancel != nil {
		cancel()
	}
	select {
	case <-ended:
		return nil
	case <-ctx.Done():
		for _, b := range u.binds {
			b.closeNow()
		}
		<-ended
		return ctx.Err()
	}
}

// stopReason is the close reason of a bind the Stop under way ends.
func (u *Upstream) stopReason() smppconn.Reason {
	if r := smppconn.Reason(u.reason.Load()); r != smppconn.ReasonNone {
		return r
	}
	return smppconn.ReasonShutdown
}

// Running reports whether the upstream was started and not stopped since.
func (u *Upstream) Running() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.cancel != nil
}

// Bound reports whether at least one bind can transmit now.
func (u *Upstream) Bound() bool {
	for _, b := range u.tx {
		if b.State() == StateBound {
			return true
		}
	}
	return false
}

// Binds returns the upstream's binds, for status reporting.
func (u *Upstream) Binds() []*Bind { return u.binds }

// Submit sends the request PDU raw (submit_sm, data_sm, ...) on a bound
// transmitting bind, choosing round robin among those with a free window
// slot, and waiting for a slot until ctx is done when all are full, and
// for the upstream's pace (see Rate). raw must belong to the caller: its
// sequence number is overwritten. When Submit returns nil, done is called
// once with the SMSC's response or with an error from package smppconn
// (ErrNotSent: certainly not sent; ErrTimeout or ErrClosed: the outcome is
// unknown). When it returns an error the PDU was not sent.
func (u *Upstream) Submit(ctx context.Context, raw []byte, done func(pdu.Frame, error)) error {
	if u.stopped.Load() {
		return ErrStopped
	}
	res, d := u.pace.reserve()
	if d > 0 {
		if ctx.Err() != nil {
			res.Cancel()
			return ErrRateLimited
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			res.Cancel()
			return ErrRateLimited
		}
	}
	err := u.send(ctx, raw, func(f pdu.Frame, err error) {
		if err == nil {
			u.pace.observe(responseStatus(f), f.Time())
		}
		done(f, err)
	})
	if err != nil {
		if res != nil {
			res.Cancel()
		}
		return err
	}
	u.pace.sentOne()
	return nil
}

// responseStatus is the status of a response; a generic_nack never
// accepts, whatever its status says.
func responseStatus(f pdu.Frame) pdu.Status {
	if f.ID == pdu.GenericNack && f.Status == pdu.StatusOK {
		return pdu.StatusSysErr
	}
	return f.Status
}

// Rate returns the submits per second the upstream is paced at now, over
// all its binds: the TPS cap, or below it the rate learnt from the SMSC's
// throttling answers; 0 when nothing paces it.
func (u *Upstream) Rate() float64 { return u.pace.Rate() }

// Throttled returns how many submits the SMSC answered ESME_RTHROTTLED or
// ESME_RMSGQFUL.
func (u *Upstream) Throttled() uint64 { return u.pace.throttled.Load() }

// send is Submit past the TPS cap.
func (u *Upstream) send(ctx context.Context, raw []byte, done func(pdu.Frame, error)) error {
	n := uint32(len(u.tx))
	start := u.next.Add(1)
	var wait *Bind
	for i := range n {
		// Unsigned arithmetic: int(start) would turn negative past 2^31
		// where int is 32 bits.
		b := u.tx[(start+i)%n]
		c := b.usable()
		if c == nil {
			continue
		}
		err := c.TryRequest(raw, u.cfg.ResponseTimeout, done)
		if err == nil {
			return nil
		}
		if wait == nil && errors.Is(err, smppconn.ErrWindowFull) {
			wait = b
		}
	}
	if wait == nil {
		return ErrNotBound
	}
	c := wait.usable()
	if c == nil {
		return ErrNotBound
	}
	return c.Request(ctx, raw, u.cfg.ResponseTimeout, done)
}

// Healthy reports whether the upstream can take a submit now: a
// transmitting bind is bound, neither suspect (a request went unanswered
// and the check of the link is under way) nor congested (its window full
// and stalled, until half of it is free). It makes Upstream a
// balancer.Member.
func (u *Upstream) Healthy() bool {
	for _, b := range u.tx {
		if b.usable() != nil {
			return true
		}
	}
	return false
}

// HealthChanged returns a channel closed the next time Healthy may change: a
// bind was bound or lost its connection, became suspect or was cleared.
// Congestion, which comes with time passing and no response, is not
// signalled. Take the channel before calling Healthy so that no change is
// missed in between.
func (u *Upstream) HealthChanged() <-chan struct{} { return u.health.Next() }
