package daemon

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/smppmux/smppmux/admin"
	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/internal/relay"
	"github.com/smppmux/smppmux/internal/smppconn"
	"github.com/smppmux/smppmux/smppserver"
)

// control is what operators change at run time through the admin API
// (admin.Operator): upstreams stopped, clients suspended, and the recent
// warnings the status page shows. Like the drains, it survives reloads
// and a restart forgets it: it is an operator's answer to the moment, and
// a restart is the way back to what the configuration says.
//
// LOCKING: op serialises the stops and starts of upstreams and is taken
// before Daemon.mu; mu guards the two sets and is taken last, after
// Daemon.mu when both are held.
type control struct {
	op sync.Mutex

	mu        sync.Mutex
	stopped   map[string]bool // upstreams
	suspended map[string]bool // client system_ids

	recent recentLog
}

// unbindTimeout bounds the polite unbind of a kicked or suspended
// client's sessions: their requests under way, then unbind_resp.
const unbindTimeout = 5 * time.Second

// init returns log with the warnings and errors also kept for the status
// page.
func (c *control) init(log *zap.Logger) *zap.Logger {
	c.stopped, c.suspended = make(map[string]bool), make(map[string]bool)
	return log.WithOptions(zap.WrapCore(func(core zapcore.Core) zapcore.Core {
		return zapcore.NewTee(core, &recentCore{log: &c.recent})
	}))
}

func (c *control) isStopped(upstream string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopped[upstream]
}

func (c *control) isSuspended(systemID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.suspended[systemID]
}

// set records name in set (stopped or suspended) or removes it, and
// reports whether that changed anything.
func (c *control) set(set map[string]bool, name string, on bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if set[name] == on {
		return false
	}
	if on {
		set[name] = true
	} else {
		delete(set, name)
	}
	return true
}

// keepControl forgets the stopped upstreams and suspended clients that cfg
// no longer has. Called with d.mu held.
func (d *Daemon) keepControl(cfg *config.Config) {
	c := &d.ctl
	c.mu.Lock()
	defer c.mu.Unlock()
	for name := range c.stopped {
		if cfg.Upstream(name) == nil {
			d.log.Info("a stopped upstream left the configuration: its stop is forgotten", zap.String("upstream", name))
			delete(c.stopped, name)
		}
	}
	for id := range c.suspended {
		if cfg.Client(id) == nil {
			d.log.Info("a suspended client left the configuration: its suspension is forgotten", zap.String("system_id", id))
			delete(c.suspended, id)
		}
	}
}

// running returns an error wrapping admin.ErrRefused unless smppmux runs.
// Called with d.mu held.
func (d *Daemon) running() error {
	switch {
	case d.stopped:
		return fmt.Errorf("%w: smppmux is stopping", admin.ErrRefused)
	case !d.started:
		return fmt.Errorf("%w: smppmux has not started", admin.ErrRefused)
	}
	return nil
}

// StopUpstream implements admin.Operator: the upstream's binds unbind
// politely (their submits under way get up to the response timeout) and
// stay down, across reloads, until StartUpstream or a restart.
func (d *Daemon) StopUpstream(name string) (bool, error) {
	d.ctl.op.Lock()
	defer d.ctl.op.Unlock()
	d.mu.Lock()
	if err := d.running(); err != nil {
		d.mu.Unlock()
		return false, err
	}
	u := d.upstreams[name]
	if u == nil {
		d.mu.Unlock()
		return false, fmt.Errorf("%w upstream %q", admin.ErrUnknown, name)
	}
	changed := d.ctl.set(d.ctl.stopped, name, true)
	d.mu.Unlock()
	// Outside d.mu: the unbind waits for submits under way. A reload
	// meanwhile builds no running upstream of that name.
	ctx, cancel := context.WithTimeout(context.Background(), retireTimeout)
	defer cancel()
	if err := u.Stop(ctx); err != nil {
		return changed, fmt.Errorf("upstream %q stopped, not politely: %w", name, err)
	}
	return changed, nil
}

// StartUpstream implements admin.Operator.
func (d *Daemon) StartUpstream(name string) (bool, error) {
	d.ctl.op.Lock()
	defer d.ctl.op.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.running(); err != nil {
		return false, err
	}
	u := d.upstreams[name]
	if u == nil {
		return false, fmt.Errorf("%w upstream %q", admin.ErrUnknown, name)
	}
	changed := d.ctl.set(d.ctl.stopped, name, false)
	u.Start()
	return changed, nil
}

// sessionsOf returns the bound sessions of systemID.
func (d *Daemon) sessionsOf(systemID string) []*smppserver.Session {
	var out []*smppserver.Session
	for _, s := range d.Server.Sessions() {
		if s.SystemID() == systemID {
			out = append(out, s)
		}
	}
	return out
}

// unbindAll unbinds sessions politely, all at once, for reason r, and
// returns once they are closed.
func unbindAll(sessions []*smppserver.Session, r smppconn.Reason) {
	ctx, cancel := context.WithTimeout(context.Background(), unbindTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Go(func() { s.Unbind(ctx, r) })
	}
	wg.Wait()
}

// knownClient returns an error wrapping admin.ErrUnknown unless systemID
// is configured.
func (d *Daemon) knownClient(systemID string) error {
	if !d.configured(systemID) {
		return fmt.Errorf("%w client %q", admin.ErrUnknown, systemID)
	}
	return nil
}

// KickClient implements admin.Operator: every session of the client is
// unbound (reason kicked); it may bind again at once.
func (d *Daemon) KickClient(systemID, reason string) (int, error) {
	if err := d.knownClient(systemID); err != nil {
		return 0, err
	}
	sessions := d.sessionsOf(systemID)
	for _, s := range sessions {
		s.Logger().Info("session kicked by an operator", zap.String("why", reason))
	}
	unbindAll(sessions, smppconn.ReasonKicked)
	return len(sessions), nil
}

// SuspendClient implements admin.Operator: its binds are refused
// (ESME_RBINDFAIL, reason suspended) until ResumeClient, across reloads,
// and its sessions are unbound (reason suspended). Its outbox keeps what
// comes for it.
func (d *Daemon) SuspendClient(systemID string) (bool, int, error) {
	if err := d.knownClient(systemID); err != nil {
		return false, 0, err
	}
	changed := d.ctl.set(d.ctl.suspended, systemID, true)
	// Set before the sessions are looked at: a bind under way either
	// shows among them or finds the client suspended (gate).
	sessions := d.sessionsOf(systemID)
	unbindAll(sessions, smppconn.ReasonSuspended)
	return changed, len(sessions), nil
}

// ResumeClient implements admin.Operator.
func (d *Daemon) ResumeClient(systemID string) (bool, error) {
	if !d.ctl.isSuspended(systemID) {
		if err := d.knownClient(systemID); err != nil {
			return false, err
		}
	}
	return d.ctl.set(d.ctl.suspended, systemID, false), nil
}

// SetLogLevel implements admin.Operator. The level holds until a reload
// that changes log.level, or a restart.
func (d *Daemon) SetLogLevel(level string) error {
	l, err := zapcore.ParseLevel(level)
	if err != nil || l > zapcore.ErrorLevel {
		return fmt.Errorf("%w: log level %q: want debug, info, warn or error", admin.ErrBadInput, level)
	}
	if d.opts.Level == nil {
		return fmt.Errorf("%w: this logger's level cannot change", admin.ErrRefused)
	}
	d.opts.Level.SetLevel(l)
	return nil
}

// logLevel returns the running log level's name, "" when it is fixed.
func (d *Daemon) logLevel() string {
	if d.opts.Level == nil {
		return ""
	}
	return d.opts.Level.Level().String()
}

// Outbox implements admin.Operator. Message text is listed only while the
// log level is debug.
func (d *Daemon) Outbox(systemID string, after uint64, limit int) (admin.Outbox, error) {
	if err := d.knownClient(systemID); err != nil {
		return admin.Outbox{}, err
	}
	ob := admin.Outbox{SystemID: systemID}
	for _, st := range d.Relay.Outbox().Stats() {
		if st.SystemID == systemID {
			ob.Depth, ob.OldestAgeSeconds = st.Depth, st.OldestAge.Seconds()
		}
	}
	text := d.opts.Level != nil && d.opts.Level.Enabled(zapcore.DebugLevel)
	items, err := d.Relay.Outbox().Items(systemID, after, limit, text)
	if err != nil {
		return ob, err
	}
	for _, it := range items {
		oi := admin.OutboxItem{Seq: it.Seq, Arrived: it.Arrived, Attempts: it.Attempts, Refusals: it.Refusals,
			RetryAt: it.RetryAt, Command: it.Command, Receipt: it.Receipt, MessageID: it.MessageID,
			State: it.State, Source: it.Source, Destination: it.Destination, Text: string(it.Text)}
		if it.Refusals > 0 {
			oi.LastStatus = fmt.Sprintf("0x%08x", uint32(it.LastStatus))
		}
		ob.Items = append(ob.Items, oi)
	}
	return ob, nil
}

// PurgeOutbox implements admin.Operator.
func (d *Daemon) PurgeOutbox(systemID string, seq uint64) (int, error) {
	if err := d.knownClient(systemID); err != nil {
		return 0, err
	}
	n, err := d.Relay.Outbox().Purge(systemID, seq)
	if err == nil && n == 0 && seq != 0 {
		return 0, fmt.Errorf("%w item %d in the outbox of %q: not waiting there (never was, delivered, purged, or being delivered now)",
			admin.ErrUnknown, seq, systemID)
	}
	return n, err
}

// Receipts of a message are looked for among this many outbox items and
// dead letters of its client at most.
const (
	lookupOutboxItems = 100_000
	lookupDeadLetters = 10_000
	lookupPage        = 1000
)

// Message implements admin.Operator: the message's mapping while it is
// kept (until its final receipt is relayed, or it expires), and its
// receipts still in the client's outbox or dead letters.
func (d *Daemon) Message(systemID, messageID string) (admin.Message, error) {
	m := admin.Message{SystemID: systemID, MessageID: messageID}
	if err := d.knownClient(systemID); err != nil {
		return m, err
	}
	mp, ok, err := d.store.ByClient(systemID, messageID)
	if err != nil {
		return m, fmt.Errorf("looking the message up: %w", err)
	}
	if ok {
		m.State = "awaiting_receipt"
		m.Upstream, m.UpstreamID, m.Session, m.Expires = mp.Upstream, mp.UpstreamID, mp.Session, mp.Expires
		if mp.Submitted != 0 {
			m.Submitted = time.Unix(0, mp.Submitted)
		}
		for _, s := range d.sessionsOf(systemID) {
			m.SessionBound = m.SessionBound || s.ID() == mp.Session
		}
	}
	ob := d.Relay.Outbox()
	for after, seen := uint64(0), 0; seen < lookupOutboxItems; {
		items, err := ob.Items(systemID, after, lookupPage, false)
		if err != nil {
			return m, fmt.Errorf("reading the outbox: %w", err)
		}
		for _, it := range items {
			if it.Receipt && it.MessageID == messageID {
				m.Receipts = append(m.Receipts, admin.MessageReceipt{Where: "outbox", Seq: it.Seq, State: it.State, Arrived: it.Arrived})
			}
		}
		if len(items) < lookupPage {
			break
		}
		seen += len(items)
		after = items[len(items)-1].Seq
	}
	for after, seen := uint64(0), 0; seen < lookupDeadLetters; {
		list, err := ob.DeadLetters(systemID, after, lookupPage)
		if err != nil {
			return m, fmt.Errorf("reading the dead letters: %w", err)
		}
		for _, dl := range list {
			if sum := dl.Summary(); sum.Receipt && sum.MessageID == messageID {
				m.Receipts = append(m.Receipts, admin.MessageReceipt{Where: "dead_letter", Seq: dl.Seq, State: sum.State, Arrived: dl.Arrived})
			}
		}
		if len(list) < lookupPage {
			break
		}
		seen += len(list)
		after = list[len(list)-1].Seq
	}
	if !ok {
		for _, r := range m.Receipts {
			switch {
			case r.Where == "outbox":
				m.State = "receipt_in_outbox"
			case m.State == "":
				m.State = "receipt_dead_letter"
			}
		}
	}
	if m.State == "" {
		return m, fmt.Errorf("%w or finished message %q of client %q: no receipt is owed for it (its final receipt was relayed, it expired, or smppmux never gave that id)",
			admin.ErrUnknown, messageID, systemID)
	}
	return m, nil
}

// Control implements admin.Operator.
func (d *Daemon) Control() admin.Control {
	c := admin.Control{LogLevel: d.logLevel(), RecentErrors: d.ctl.recent.list()}
	d.mu.Lock()
	for m := range d.drained {
		c.Drained = append(c.Drained, m.group+"/"+m.upstream)
	}
	ids := make([]string, 0, len(d.cfg.Clients))
	for _, cl := range d.cfg.Clients {
		ids = append(ids, cl.SystemID)
	}
	d.mu.Unlock()
	d.ctl.mu.Lock()
	c.StoppedUpstreams = slices.Sorted(maps.Keys(d.ctl.stopped))
	c.SuspendedClients = slices.Sorted(maps.Keys(d.ctl.suspended))
	d.ctl.mu.Unlock()
	sessions := make(map[string]int)
	for _, s := range d.Server.Sessions() {
		if id := s.SystemID(); id != "" {
			sessions[id]++
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		c.Clients = append(c.Clients, admin.ClientState{SystemID: id, Suspended: slices.Contains(c.SuspendedClients, id), Sessions: sessions[id]})
	}
	slices.Sort(c.Drained)
	return c
}

// gate stands between the SMPP server and the relay: it refuses the binds
// of suspended clients, and closes a session of a client suspended while
// its bind was being checked.
type gate struct {
	*relay.Relay
	d *Daemon
}

// Authenticate implements smppserver.Authenticator: a suspended client is
// refused once its credentials are right, so the refusal says nothing to
// someone without them.
func (g gate) Authenticate(ctx context.Context, req smppserver.BindRequest) (smppserver.Account, smppserver.BindRefusal) {
	acct, r := g.d.auth.Authenticate(ctx, req)
	if r == smppserver.BindAccepted && g.d.ctl.isSuspended(acct.SystemID) {
		return smppserver.Account{}, smppserver.RefusedSuspended
	}
	return acct, r
}

// SessionBound implements smppserver.Handler.
func (g gate) SessionBound(s *smppserver.Session) {
	g.Relay.SessionBound(s)
	if g.d.ctl.isSuspended(s.SystemID()) {
		s.Logger().Info("closing the session of a client suspended while it bound")
		s.Close(smppconn.ReasonSuspended)
	}
}
