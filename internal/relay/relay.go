package relay

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/smppmux/smppmux/balancer"
	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/clients"
	"github.com/smppmux/smppmux/internal/defaults"
	"github.com/smppmux/smppmux/internal/holdq"
	"github.com/smppmux/smppmux/internal/lifecycle"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/router"
	"github.com/smppmux/smppmux/internal/smppconn"
	"github.com/smppmux/smppmux/metrics"
	"github.com/smppmux/smppmux/smppserver"
)

// Defaults of Config and Snapshot, taken where a setting is zero. The
// configuration's defaults are the same (TestConfigDefaults).
const (
	DefaultParkTimeout   = 30 * time.Second
	DefaultMappingTTL    = 72 * time.Hour
	DefaultSubmitTimeout = 30 * time.Second
	DefaultNoRouteStatus = pdu.StatusInvDstAdr
	DefaultDeliveryHold  = 200 * time.Millisecond
)

// Config holds a Relay's parts and settings.
type Config struct {
	// Snapshot is the first configuration's snapshot; a reload replaces
	// it (SetSnapshot). nil: no clients, upstreams or routes.
	Snapshot *Snapshot
	Registry *smppserver.Registry
	Store    dlr.Store
	IDs      *dlr.IDs
	// ParkTimeout bounds how long a receipt waits for its mapping; 30s.
	ParkTimeout time.Duration
	// MappingTTL is how long a message's mapping is kept when its
	// validity period does not say; 72h.
	MappingTTL time.Duration
	// Hold is how long a receipt without its mapping waits unanswered
	// before it is kept durably and its SMSC answered; DefaultHold.
	Hold time.Duration
	// DeliveryHold is how long a receipt or MO message sent straight to
	// its client, unstored, may go unanswered before it is kept durably and
	// its SMSC answered; DefaultDeliveryHold.
	DeliveryHold time.Duration
	// ResendWindow is how long a relayed receipt is remembered, so that
	// the carrier sending it again is answered without relaying it twice;
	// dlr.DefaultResendWindow.
	ResendWindow time.Duration
	// Outbox tunes the client outboxes; Store, Receivers, Logger,
	// OnDelivered, OnExpired, OnRetry and OnDeadLetter are set by New.
	Outbox dlr.OutboxConfig
	// MaxPendingWrites bounds the submits an SMSC accepted whose mapping
	// write failed and is being tried again, their answers waiting;
	// DefaultMaxPendingWrites.
	MaxPendingWrites int
	// Metrics receives counts; nil counts nothing.
	Metrics *metrics.Metrics
	Logger  *zap.Logger
	// Lifecycle owns the relay's timers (a receipt's hold, its rechecks,
	// a mapping's rewrites, a redelivery) and recovers the panics of the
	// work that enters other goroutines; nil: a Tracker of the relay's
	// own, never stopped.
	Lifecycle *lifecycle.Tracker
}

// Stats are counters for tests, the demo and metrics.
type Stats struct {
	Submitted         atomic.Uint64 // submits relayed and answered ESME_ROK
	Queued            atomic.Uint64 // submits stored in a group's queue and answered ESME_ROK
	Refused           atomic.Uint64 // submits answered with an error status
	Unknown           atomic.Uint64 // submits whose outcome is unknown (timeout, lost bind)
	ReceiptsMatched   atomic.Uint64
	ReceiptsParked    atomic.Uint64
	ReceiptsUnmatched atomic.Uint64
	ReceiptsAmbiguous atomic.Uint64 // several messages' ids fold to the receipt's, none is it
	ReceiptsRepeated  atomic.Uint64 // relayed already, sent again by the carrier: not relayed twice
	ReceiptsWaiting   atomic.Uint64 // kept durably while waiting for their mapping, the SMSC answered
	Delivered         atomic.Uint64 // receipts and MO accepted by a client
	DeadLetters       atomic.Uint64 // receipts and MO made dead letters
	MORouted          atomic.Uint64 // MO messages queued for a client
	MOUnrouted        atomic.Uint64 // MO messages no MO route matched
}

// Relay serves client sessions and upstream deliveries.
type Relay struct {
	cfg     Config
	log     *zap.Logger
	life    *lifecycle.Tracker
	outbox  *dlr.Outbox
	parking *dlr.Parking
	holds   *holdq.Queue[*parked]
	snap    atomic.Pointer[Snapshot]
	// gate is held shared by a receipt's lookup in the store and
	// exclusively by Close, which sets closed: no lookup runs once the
	// store may be closing.
	gate   sync.RWMutex
	closed bool
	// relaying holds the marks of the receipts being relayed now: the
	// same receipt arriving meanwhile (sent again on another bind) waits
	// for the first's outcome.
	relayingMu sync.Mutex
	relaying   map[relayingKey]*relayingHolder
	// rewrites counts the mapping writes being tried again (see record).
	rewrites                       atomic.Int64
	changes                        changes    // see Changed
	fwd                            forwarding // store-and-forward drainers (forward.go)
	refuseLog, rewriteLog, waitLog everyLog
	lookupLog, outboxLog           everyLog
	// Stats counts what went through.
	Stats Stats
}

// New returns a Relay.
func New(cfg Config) *Relay {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	defaults.Positive(&cfg.ParkTimeout, DefaultParkTimeout)
	defaults.Positive(&cfg.MappingTTL, DefaultMappingTTL)
	defaults.Positive(&cfg.Hold, DefaultHold)
	defaults.Positive(&cfg.DeliveryHold, DefaultDeliveryHold)
	defaults.Positive(&cfg.ResendWindow, dlr.DefaultResendWindow)
	defaults.Positive(&cfg.MaxPendingWrites, DefaultMaxPendingWrites)
	if cfg.Lifecycle == nil {
		cfg.Lifecycle = lifecycle.New(cfg.Logger)
	}
	r := &Relay{cfg: cfg, log: cfg.Logger, life: cfg.Lifecycle,
		parking: dlr.NewTrackedParking(cfg.ParkTimeout, cfg.Lifecycle)}
	r.holds = r.newHolds()
	if cfg.Snapshot == nil {
		cfg.Snapshot = &Snapshot{Upstreams: map[string]*Upstream{}}
	}
	r.SetSnapshot(cfg.Snapshot)
	oc := cfg.Outbox
	oc.Store = cfg.Store
	oc.Receivers = r.receivers
	oc.Logger = cfg.Logger.Named("outbox")
	oc.OnDelivered = func(systemID string, _ *dlr.Item) {
		r.Stats.Delivered.Add(1)
		cfg.Metrics.Delivered(systemID)
	}
	oc.OnExpired = func(systemID string, _ *dlr.Item) { cfg.Metrics.OutboxExpired(systemID) }
	oc.OnRetry = func(systemID string, _ *dlr.Item) { cfg.Metrics.OutboxRetry(systemID) }
	oc.OnPanic = func(recv dlr.Receiver, _ error) {
		if s, ok := recv.(*smppserver.Session); ok {
			s.Close(smppconn.ReasonPanic)
		}
	}
	oc.OnDeadLetter = func(systemID string, d *dlr.DeadLetter) {
		r.Stats.DeadLetters.Add(1)
		r.changes.fire()
		cfg.Metrics.DeadLetter(systemID, string(d.Reason))
	}
	r.outbox = dlr.NewOutbox(oc)
	return r
}

// SetSnapshot puts s in force at once; requests already under way finish
// with the snapshot they started with. s is not changed after.
func (r *Relay) SetSnapshot(s *Snapshot) {
	s.setDefaults()
	r.snap.Store(s)
	r.syncDrainers(s)
}

// Snapshot returns the snapshot in force.
func (r *Relay) Snapshot() *Snapshot { return r.snap.Load() }

// rt returns the snapshot in force.
func (r *Relay) rt() *Snapshot { return r.snap.Load() }

// recoverSession, deferred where a client session's work enters another
// goroutine (a bind's reader, a store's committer), recovers a panic in
// it: logged with its stack, and that session closed with reason panic,
// nothing else.
func (r *Relay) recoverSession(s *smppserver.Session, work string) {
	if v := recover(); v != nil {
		_ = r.life.Panicked(work, v)
		s.Close(smppconn.ReasonPanic)
	}
}

// testHookRecorded, when set by a test, is called where a mapping's write
// calls back, before the client's answer.
var testHookRecorded func(s *smppserver.Session)

// Outbox returns the relay's outbox.
func (r *Relay) Outbox() *dlr.Outbox { return r.outbox }

// Close stops the receipt machinery before its store closes: parked
// receipts are released (ReleaseParked), lookups under way finish and
// later ones answer ESME_RX_T_APPN without touching the store, and the
// outbox dispatchers stop.
func (r *Relay) Close() {
	r.ReleaseParked()
	r.gate.Lock()
	r.closed = true
	r.gate.Unlock()
	r.outbox.Close()
}

func (r *Relay) receivers(systemID string) []dlr.Receiver {
	ss := r.cfg.Registry.Receivers(systemID)
	out := make([]dlr.Receiver, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// SessionBound implements smppserver.Handler: a new receiving session
// may take what waits in its outbox.
func (r *Relay) SessionBound(s *smppserver.Session) {
	if s.BindType() != pdu.BindTransmitter {
		r.outbox.Wake(s.SystemID())
	}
}

// SessionClosed implements smppserver.Handler.
func (r *Relay) SessionClosed(*smppserver.Session) {}

// HandleRequest implements smppserver.Handler.
func (r *Relay) HandleRequest(s *smppserver.Session, f pdu.Frame) {
	systemID := s.SystemID()
	switch f.ID {
	case pdu.SubmitSM, pdu.DataSM:
		var sm pdu.SM
		if err := pdu.ParseMessage(f.ID, f.Body(), &sm); err != nil {
			r.refuse(s, f, err)
			return
		}
		r.relay(s, f, router.Message{SystemID: systemID, Source: sm.SourceAddr, Destination: sm.DestAddr, ServiceType: sm.ServiceType},
			stickyKey(systemID, &sm), sm.Validity)
	case pdu.SubmitMulti:
		r.submitMulti(s, f)
	case pdu.QuerySM, pdu.CancelSM, pdu.ReplaceSM:
		r.byMessageID(s, f)
	default:
		s.Logger().Info("command not supported", zap.String("command", pdu.IDName(f.ID)))
		s.Respond(pdu.Empty(pdu.GenericNack, pdu.StatusInvCmdID, f.Seq))
	}
}

func (r *Relay) refuse(s *smppserver.Session, f pdu.Frame, err error) {
	st := pdu.StatusSysErr
	var fe *pdu.FieldError
	if errors.As(err, &fe) {
		st = fe.Status
	}
	s.Logger().Info("malformed request", zap.String("command", pdu.IDName(f.ID)),
		zap.Stringer("status", pdu.LogStatus(st)), zap.Error(err))
	r.Stats.Refused.Add(1)
	r.cfg.Metrics.SubmitRefused(s.SystemID(), metrics.RefusedMalformed)
	s.Respond(pdu.Empty(pdu.RespID(f.ID), st, f.Seq))
}

// relay sends f on through the group its route picks. It never blocks.
func (r *Relay) relay(s *smppserver.Session, f pdu.Frame, m router.Message, sticky string, validity []byte) {
	rt := r.rt()
	start := f.Time()
	if err := r.cfg.Store.Health(); err != nil {
		r.storeDown(s, f, err)
		return
	}
	var limits *clients.Limits
	if c := rt.Clients.Get(m.SystemID); c != nil {
		limits = c.Limits
	}
	if st, reason := limits.Check(m.Source, m.Destination, start); st != pdu.StatusOK {
		s.Logger().Debug("submit refused by the client's limits", zap.String("reason", reason))
		r.Stats.Refused.Add(1)
		r.cfg.Metrics.SubmitRefused(m.SystemID, reason)
		s.Respond(pdu.Empty(pdu.RespID(f.ID), st, f.Seq))
		return
	}
	ttl := r.cfg.MappingTTL
	if d, ok := dlr.ValidityTTL(validity, start); ok {
		// Receipts come within the validity period; an hour of margin
		// covers clocks and late SMSCs.
		ttl = d + time.Hour
	}
	respID, seq := pdu.RespID(f.ID), f.Seq
	g, ok := rt.Router.Match(m)
	if !ok {
		s.Logger().Info("no route", zap.String("command", pdu.IDName(f.ID)))
		r.Stats.Refused.Add(1)
		r.cfg.Metrics.SubmitRefused(m.SystemID, metrics.RefusedNoRoute)
		s.Respond(pdu.Empty(respID, rt.NoRouteStatus, seq))
		return
	}
	if q, ok := rt.Queues[g.Name()]; ok {
		r.enqueue(s, f, q, validity, start)
		return
	}
	// The frame is the reader's to give: the upstream bind numbers it in
	// place (the header only; the fields parsed from its body stay as
	// they are), and a failover sends a copy.
	g.Submit(balancer.Request{
		Raw:      f.Raw,
		Sticky:   sticky,
		Deadline: start.Add(rt.SubmitTimeout),
	}, func(res balancer.Result) {
		// On the upstream bind's reader, or a timer: a panic closes the
		// client's session, not the bind.
		defer r.recoverSession(s, "submit answered")
		r.answer(s, g, respID, seq, ttl, start, res)
	})
}

// answer turns a group's result into the client's response.
func (r *Relay) answer(s *smppserver.Session, g *balancer.Group, respID pdu.ID, seq uint32, ttl time.Duration, start time.Time, res balancer.Result) {
	upstreamName, resp, err := res.Member, res.Resp, res.Err
	systemID := s.SystemID()
	// When the answer was read, or now for a timeout or a closed bind.
	now := resp.Time()
	defer func() {
		if res.Member != "" {
			st := uint32(resp.Status)
			if err != nil {
				st = uint32(pdu.StatusSysErr)
			}
			r.cfg.Metrics.Submit(systemID, g.Name(), res.Member, st, now.Sub(start))
		}
	}()
	switch {
	case errors.Is(err, balancer.ErrNoMember), errors.Is(err, balancer.ErrStopped):
		// Never sent: the client may try again.
		r.Stats.Refused.Add(1)
		r.cfg.Metrics.SubmitRefused(systemID, metrics.RefusedNoMember)
		s.Logger().Warn("no member of the group could take the message",
			zap.String("group", g.Name()), zap.Int("attempts", res.Attempts), zap.Error(err))
		s.Respond(pdu.Empty(respID, pdu.StatusThrottled, seq))
		return
	case err != nil:
		// Written, then no answer: the SMSC may have taken it, so it is
		// not sent again.
		r.Stats.Unknown.Add(1)
		s.Logger().Warn("submit outcome unknown", zap.String("upstream", upstreamName), zap.Error(err))
		s.Respond(pdu.Empty(respID, pdu.StatusSysErr, seq))
		return
	}
	if resp.ID == pdu.GenericNack && resp.Status == pdu.StatusOK {
		// A generic_nack never accepts a message, whatever its status.
		resp.Status = pdu.StatusSysErr
	}
	if resp.Status != pdu.StatusOK {
		r.Stats.Refused.Add(1)
		s.Respond(pdu.Empty(respID, resp.Status, seq))
		return
	}
	uid, perr := pdu.ParseMessageIDResp(resp.Body())
	clientID := r.clientID(systemID)
	if perr != nil || len(uid) == 0 {
		s.Logger().Warn("SMSC accepted a message without a message_id: its receipts cannot be matched",
			zap.String("upstream", upstreamName))
		r.Stats.Submitted.Add(1)
		s.Respond(pdu.RespWithMessageID(resp, seq, clientID))
		return
	}
	m := dlr.Mapping{
		Upstream:   upstreamName,
		UpstreamID: string(uid),
		Origin:     dlr.Origin{SystemID: systemID, ClientID: clientID, Session: s.ID(), Submitted: now.UnixNano()},
		Expires:    now.Add(ttl),
	}
	// The client hears ESME_ROK only once the mapping is durable, so a
	// crash after that cannot orphan the message's receipt.
	r.record(m, func(ok bool) {
		// On the store's committer: a panic closes the client's session.
		defer r.recoverSession(s, "mapping written")
		if testHookRecorded != nil {
			testHookRecorded(s)
		}
		r.landed(m)
		if !ok {
			r.Stats.Unknown.Add(1)
			s.Respond(pdu.Empty(respID, pdu.StatusSysErr, seq))
			return
		}
		r.Stats.Submitted.Add(1)
		s.Respond(pdu.RespWithMessageID(resp, seq, clientID))
	})
}

// clientID issues a message id in the form systemID's configuration
// asks for.
func (r *Relay) clientID(systemID string) string {
	var base dlr.IDBase // hex, for a client the configuration lost meanwhile
	var length int
	if c := r.rt().Clients.Get(systemID); c != nil {
		base, length = c.IDBase, c.IDLength
	}
	return dlr.FormatID(r.cfg.IDs.Next(), base, length)
}

// landed hands on the receipts parked for m's message, which its write
// claims: by its id as written, then by its folded id.
func (r *Relay) landed(m dlr.Mapping) {
	if v, claimed := r.parking.Claim(m.Upstream, m.UpstreamID); claimed {
		r.claimed(v, false, m.Origin)
	}
	if v, claimed := r.parking.ClaimFolded(m.Upstream, m.UpstreamID); claimed {
		r.claimed(v, true, m.Origin)
	}
}
