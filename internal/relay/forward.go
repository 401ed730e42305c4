package relay

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/smppmux/smppmux/balancer"
	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/forward"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/metrics"
	"github.com/smppmux/smppmux/smppserver"
)

// Queue is a store-and-forward group's settings in a Snapshot.
type Queue struct {
	Group    *balancer.Group
	MaxItems int
	MaxAge   time.Duration
	// InFlight bounds the messages the drainer has sent and not seen
	// answered: the sum of the members' windows.
	InFlight int
	// RetryOn are the statuses after which a message is put back: the
	// group's retry_on.
	RetryOn []pdu.Status
	// Timeout is how long each send waits for a member: queue_timeout.
	Timeout time.Duration
}

// queuesOf returns the store-and-forward groups of cfg by name.
func queuesOf(cfg *config.Config, groups map[string]*balancer.Group) map[string]Queue {
	ups := make(map[string]*config.Upstream, len(cfg.Upstreams))
	for i := range cfg.Upstreams {
		ups[cfg.Upstreams[i].Name] = &cfg.Upstreams[i]
	}
	var qs map[string]Queue
	for _, gc := range cfg.Groups {
		if !gc.Queue.StoreAndForward() {
			continue
		}
		q := Queue{Group: groups[gc.Name], MaxItems: gc.Queue.MaxItems, MaxAge: gc.Queue.MaxAge, RetryOn: config.Statuses(gc.RetryOn), Timeout: gc.QueueTimeout}
		if q.RetryOn == nil {
			q.RetryOn = balancer.DefaultRetryOn
		}
		for _, m := range gc.Members {
			if u := ups[m.Upstream]; u != nil && m.Weight > 0 {
				q.InFlight += max(u.Window, 1) * max(u.Binds, 1)
			}
		}
		if qs == nil {
			qs = make(map[string]Queue)
		}
		qs[gc.Name] = q
	}
	return qs
}

// forwarding runs the drainers of the store-and-forward groups.
type forwarding struct {
	mu       sync.Mutex
	started  bool
	stopped  bool
	drainers map[string]*drainerRun
	// orphaned holds the groups whose orphans were settled this run.
	orphaned map[string]bool
	retired  []*drainerRun // stopped, their messages in flight not all answered
}

// drainerRun is a drainer and what it drains.
type drainerRun struct {
	*forward.Drainer
	queue  Queue
	cancel context.CancelFunc
}

// queueStore returns the store's queues, nil when it keeps none.
func (r *Relay) queueStore() dlr.QueueStore {
	qs, _ := r.cfg.Store.(dlr.QueueStore)
	return qs
}

// StartQueues starts draining the store-and-forward queues: call it once
// the outboxes are restored. A snapshot set later starts and stops the
// drainers of the groups it adds, changes and removes.
func (r *Relay) StartQueues() {
	r.fwd.mu.Lock()
	r.fwd.started = true
	r.fwd.mu.Unlock()
	if w, ok := r.cfg.Store.(queueWatcher); ok {
		// Messages queued or put back on another instance wake this
		// one's drainers at once, not at their next timer.
		w.WatchQueues(r.notifyDrainer)
	}
	r.syncDrainers(r.rt())
}

// queueWatcher is a store whose queues several instances share: it tells
// of a group's queue that had nothing to take and now has (redisstore).
type queueWatcher interface {
	WatchQueues(fn func(group string))
}

// StopQueues stops the drainers, then waits, within ctx, for the messages
// they sent to be answered and settled: call it once the groups are
// stopped (their submits then answer at once) and before the store
// closes.
func (r *Relay) StopQueues(ctx context.Context) error {
	r.fwd.mu.Lock()
	r.fwd.stopped = true
	runs := r.fwd.retired
	for _, d := range r.fwd.drainers {
		d.cancel()
		runs = append(runs, d)
	}
	r.fwd.drainers, r.fwd.retired = nil, nil
	r.fwd.mu.Unlock()
	var errs []error
	for _, d := range runs {
		if err := d.Wait(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// syncDrainers makes the drainers those of s's store-and-forward groups.
func (r *Relay) syncDrainers(s *Snapshot) {
	f := &r.fwd
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.started || f.stopped {
		return
	}
	qs := r.queueStore()
	for name, d := range f.drainers {
		if q, ok := s.Queues[name]; !ok || !sameQueue(q, d.queue) {
			d.cancel()
			f.retired = append(f.retired, d)
			delete(f.drainers, name)
		}
	}
	if qs == nil {
		if len(s.Queues) > 0 {
			r.log.Error("the store keeps no queues: store-and-forward groups refuse their submits")
		}
		return
	}
	for name, q := range s.Queues {
		if f.drainers[name] != nil {
			continue
		}
		if q.Group != nil {
			r.startDrainer(qs, name, q)
		}
	}
}

func sameQueue(a, b Queue) bool {
	return a.Group == b.Group && a.MaxItems == b.MaxItems && a.MaxAge == b.MaxAge && a.InFlight == b.InFlight &&
		a.Timeout == b.Timeout && slices.Equal(a.RetryOn, b.RetryOn)
}

// startDrainer starts the drainer of group name. Called with r.fwd.mu
// held.
func (r *Relay) startDrainer(qs dlr.QueueStore, name string, q Queue) {
	f := &r.fwd
	if f.drainers == nil {
		f.drainers = make(map[string]*drainerRun)
		f.orphaned = make(map[string]bool)
	}
	log := r.log.Named("forward").With(zap.String("group", name))
	var orphansEvery time.Duration
	if ss, ok := r.cfg.Store.(dlr.SharedStore); ok {
		// An instance that ended may never start again: its messages are
		// looked for once its instance id lapsed, a lease_ttl after.
		orphansEvery = ss.LeaseTTL()
	}
	d := &drainerRun{queue: q}
	d.Drainer = forward.New(forward.Config{
		Group: name, Store: qs, Submit: q.Group.Submit, Available: q.Group.Available, InFlight: q.InFlight, RetryOn: q.RetryOn, Timeout: q.Timeout,
		Settle: func(m *dlr.Queued, o forward.Outcome, res balancer.Result, done func(error)) {
			r.settleQueued(qs, q, m, o, res, done)
		},
		OrphansEvery: orphansEvery,
		OnSettled:    r.changes.fire,
		Logger:       log,
	})
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	orphans := !f.orphaned[name]
	f.orphaned[name] = true
	err := r.life.Go("drainer "+name, func(life context.Context) {
		stop := context.AfterFunc(life, cancel)
		defer stop()
		if orphans {
			if err := d.Orphans(); err != nil {
				log.Error("settling the messages a process that ended had taken failed", zap.Error(err))
			}
		}
		d.Run(ctx)
	})
	if err != nil {
		cancel()
		return
	}
	f.drainers[name] = d
}

// notifyDrainer tells group's drainer a message was queued.
func (r *Relay) notifyDrainer(group string) {
	r.fwd.mu.Lock()
	d := r.fwd.drainers[group]
	r.fwd.mu.Unlock()
	if d != nil {
		d.Notify()
	}
}

// enqueue answers a submit routed to a store-and-forward group: ESME_ROK
// with the client's message id once it is stored durably, ESME_RMSGQFUL
// past the queue's bound.
func (r *Relay) enqueue(s *smppserver.Session, f pdu.Frame, q Queue, validity []byte, start time.Time) {
	respID, seq := pdu.RespID(f.ID), f.Seq
	systemID, group := s.SystemID(), q.Group.Name()
	qs := r.queueStore()
	if qs == nil {
		r.Stats.Refused.Add(1)
		r.cfg.Metrics.QueueIn(group, metrics.QueueFailed)
		s.Logger().Error("the store keeps no queues: a store-and-forward group's submit refused", zap.String("group", group))
		s.Respond(pdu.Empty(respID, pdu.StatusSysErr, seq))
		return
	}
	expires := start.Add(q.MaxAge)
	if d, ok := dlr.ValidityTTL(validity, start); ok && start.Add(d).Before(expires) {
		expires = start.Add(d)
	}
	clientID := r.clientID(systemID)
	m := &dlr.Queued{
		Group:   group,
		Origin:  dlr.Origin{SystemID: systemID, ClientID: clientID, Session: s.ID(), Submitted: start.UnixNano()},
		Raw:     slices.Clone(f.Raw),
		Expires: expires,
	}
	qs.Enqueue(m, q.MaxItems, func(err error) {
		// On the store's committer: a panic closes the client's session.
		defer r.recoverSession(s, "submit queued")
		switch {
		case errors.Is(err, dlr.ErrQueueFull):
			r.Stats.Refused.Add(1)
			r.cfg.Metrics.QueueIn(group, metrics.QueueFull)
			r.refuseLog.log(r.log, "submits refused: the group's queue is full", zap.String("group", group), zap.Int("max_items", q.MaxItems))
			s.Respond(pdu.Empty(respID, pdu.StatusMsgQFul, seq))
		case err != nil:
			r.cfg.Metrics.QueueIn(group, metrics.QueueFailed)
			r.storeDown(s, f, err)
		default:
			r.Stats.Queued.Add(1)
			r.cfg.Metrics.QueueIn(group, metrics.QueueQueued)
			s.Respond(pdu.MessageIDResp(respID, pdu.StatusOK, seq, clientID))
			r.notifyDrainer(group)
		}
	})
}

// settleQueued does what a queued message's outcome leads to and
// removes it from qs in the same write, then calls done: for Sent, its
// mapping is written with the client's id from the queue, so that the
// SMSC's receipt is rewritten as any other; otherwise the client gets a
// receipt made here, when it asked for one.
func (r *Relay) settleQueued(qs dlr.QueueStore, q Queue, m *dlr.Queued, o forward.Outcome, res balancer.Result, done func(error)) {
	r.cfg.Metrics.QueueOut(m.Group, o.String())
	if o != forward.Sent {
		r.queuedReceipt(qs, q, m, o, res, done)
		return
	}
	r.Stats.Submitted.Add(1)
	uid, err := pdu.ParseMessageIDResp(res.Resp.Body())
	if err != nil || len(uid) == 0 {
		r.log.Warn("SMSC accepted a queued message without a message_id: its receipts cannot be matched",
			zap.String("upstream", res.Member), zap.String("group", m.Group))
		qs.Settle(m, done)
		return
	}
	mp := dlr.Mapping{Upstream: res.Member, UpstreamID: string(uid), Origin: m.Origin, Expires: time.Now().Add(r.cfg.MappingTTL)}
	put := func(mp dlr.Mapping, done func(error)) { qs.SettleSent(m, mp, done) }
	r.recordWith(mp, put, func(ok bool) {
		defer r.life.Recover("queued message recorded", nil)
		r.landed(mp)
		if !ok {
			// Still taken: the next start settles it UNKNOWN.
			r.log.Error("a queued message was sent but its mapping could not be written: its receipt will find no mapping",
				zap.String("system_id", m.SystemID), zap.String("client_id", m.ClientID), zap.String("upstream", res.Member))
			done(errNotRecorded)
			return
		}
		done(nil)
	})
}

// errNotRecorded: a queued message's mapping and its removal from the
// queue could not be written.
var errNotRecorded = errors.New("relay: the mapping of a sent message could not be written")

// queuedReceipt queues the receipt smppmux makes for m's outcome in its
// client's outbox, when the client asked for one, removing m from qs in
// the same write, then calls done.
func (r *Relay) queuedReceipt(qs dlr.QueueStore, q Queue, m *dlr.Queued, o forward.Outcome, res balancer.Result, done func(error)) {
	if o == forward.Unknown && res.Member == "" {
		// Taken by a process that ended: if its mapping was written, the
		// SMSC took it and its own receipt comes.
		if _, sent, err := r.cfg.Store.ByClient(m.SystemID, m.ClientID); err == nil && sent {
			qs.Settle(m, done)
			return
		}
	}
	if o == forward.Unknown {
		r.Stats.Unknown.Add(1)
	} else {
		r.Stats.Refused.Add(1)
	}
	raw, ok := forward.Receipt(m, o, res.Resp.Status, q.MaxAge, time.Now())
	if !ok {
		qs.Settle(m, done)
		return
	}
	r.outbox.Enqueue(m.SystemID, &dlr.Item{Raw: raw, Origin: m.Session, Settles: m}, func(err error) {
		if err != nil {
			r.outboxLog.log(r.log, "outbox refused a receipt made for a queued message", zap.String("system_id", m.SystemID),
				zap.String("outcome", o.String()), zap.Error(err))
			qs.Settle(m, done)
			return
		}
		done(nil)
	})
}

// SMPP message_state of a message waiting in a queue: ENROUTE, the state
// of a message on its way, as an SMSC answers for one it has not
// delivered yet. ACCEPTED would say an operator acted on it.
const stateEnroute = 1

// queuedByID answers query_sm, cancel_sm and replace_sm for a message
// still in a group's queue, and reports whether it did; fail is the
// request's failure status. A message taken and not settled yet has no
// mapping until its SMSC answers: cancel_sm and replace_sm then fail,
// query_sm says ENROUTE. Once it has a mapping, the request goes to its
// SMSC as any other's.
func (r *Relay) queuedByID(s *smppserver.Session, f pdu.Frame, clientID string, fail pdu.Status) bool {
	qs := r.queueStore()
	if qs == nil {
		return false
	}
	respID, seq, systemID := pdu.RespID(f.ID), f.Seq, s.SystemID()
	var m *dlr.Queued
	var found bool
	var err error
	if f.ID == pdu.CancelSM {
		m, found, err = qs.CancelQueued(systemID, clientID)
	} else {
		m, found, err = qs.FindQueued(systemID, clientID)
	}
	switch {
	case err != nil:
		s.Logger().Error("queue lookup failed", zap.Error(err))
		s.Respond(pdu.Empty(respID, pdu.StatusSysErr, seq))
		return true
	case !found:
		return false
	case f.ID == pdu.QuerySM:
		body := pdu.AppendCString(nil, clientID)
		body = append(body, 0, stateEnroute, 0) // final_date empty, message_state, error_code
		s.Respond(pdu.Request(respID, seq, body))
		return true
	case f.ID == pdu.CancelSM && !m.Taken:
		r.cfg.Metrics.QueueOut(m.Group, forward.Cancelled.String())
		s.Respond(pdu.Empty(respID, pdu.StatusOK, seq))
		return true
	}
	if _, mapped, err := r.cfg.Store.ByClient(systemID, clientID); err == nil && mapped {
		return false
	}
	s.Respond(pdu.Empty(respID, fail, seq))
	return true
}

// QueueStatus returns the state of group's store-and-forward queue:
// how many messages it holds, when the oldest was accepted, and how many
// its drainer has in flight; false when the group relays.
func (r *Relay) QueueStatus(group string) (depth int, oldest time.Time, inflight int, ok bool) {
	if _, ok := r.rt().Queues[group]; !ok {
		return 0, time.Time{}, 0, false
	}
	if qs := r.queueStore(); qs != nil {
		depth, oldest, _ = qs.QueueLen(group)
	}
	r.fwd.mu.Lock()
	if d := r.fwd.drainers[group]; d != nil {
		inflight = d.InFlight()
	}
	r.fwd.mu.Unlock()
	return depth, oldest, inflight, true
}
