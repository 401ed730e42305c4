package daemon

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/smppmux/smppmux/admin"
	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/pebblestore"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smppconn"
	"github.com/smppmux/smppmux/metrics"
)

// Snapshot implements metrics.Source and admin.Controller: the sessions,
// binds, groups and outboxes as they are now.
func (d *Daemon) Snapshot() metrics.Snapshot {
	var snap metrics.Snapshot
	for _, s := range d.Server.Sessions() {
		if s.SystemID() == "" {
			continue
		}
		snap.Sessions = append(snap.Sessions, metrics.SessionInfo{
			ID: s.ID(), SystemID: s.SystemID(), BindType: pdu.IDName(s.BindType()),
			Remote: s.RemoteAddr().String(), Inflight: s.Inflight(),
		})
	}
	d.mu.Lock()
	ups, groups, started := d.upstreams, d.groups, d.started && !d.stopped
	d.mu.Unlock()
	for name, u := range ups {
		snap.Upstreams = append(snap.Upstreams, metrics.UpstreamInfo{Name: name, PaceTPS: u.Rate(), Throttled: u.Throttled()})
		for i, b := range u.Binds() {
			bi := metrics.BindInfo{Upstream: name, Index: i, BindType: pdu.IDName(b.Kind()),
				State: b.State().String(), WindowUsed: b.WindowUsed(), Window: b.Window()}
			if r := b.LastClose(); r != smppconn.ReasonNone {
				bi.LastClose = r.String()
			}
			if a := b.LocalAddr(); a != nil {
				bi.LocalAddr = a.String()
			}
			snap.Binds = append(snap.Binds, bi)
		}
	}
	snap.Ready = started
	for name, g := range groups {
		gi := metrics.GroupInfo{Name: name, Mode: string(g.Mode())}
		for _, m := range g.Status() {
			gi.Members = append(gi.Members, metrics.MemberInfo{Upstream: m.Name, Weight: m.Weight,
				EffectiveWeight: m.EffectiveWeight, Healthy: m.Healthy, Breaker: m.Breaker.String()})
		}
		gi.Available = g.Available()
		if depth, oldest, inflight, ok := d.Relay.QueueStatus(name); ok {
			gi.Queue = &metrics.QueueInfo{Depth: depth, InFlight: inflight}
			if !oldest.IsZero() {
				gi.Queue.OldestAgeSeconds = time.Since(oldest).Seconds()
			}
		}
		snap.Ready = snap.Ready && gi.Available
		snap.Groups = append(snap.Groups, gi)
	}
	snap.Store = metrics.StoreInfo{Kind: d.storeKind, Healthy: true, PendingWrites: d.Relay.PendingWrites()}
	if ps, ok := d.store.(*pebblestore.Store); ok {
		if l, ok := ps.LSM(); ok {
			snap.Store.LSM = &metrics.LSMInfo{L0Tables: l.L0Tables, L0Sublevels: l.L0Sublevels, L0Bytes: l.L0Bytes, TableBytes: l.TableBytes,
				DebtBytes: l.DebtBytes, Compactions: l.Compactions, CompactedBytes: l.CompactedBytes, FlushedBytes: l.FlushedBytes}
		}
	}
	if err := d.store.Health(); err != nil {
		snap.Store.Healthy, snap.Store.Error = false, err.Error()
		snap.Ready = false
	}
	snap.Outboxes, snap.DeadLetters = d.stats.get()
	snap.ClientCloses = d.closes.get()
	lc := d.life.Counts()
	snap.Lifecycle = metrics.LifecycleInfo{Running: lc.Running, Timers: lc.Timers, Panics: lc.Panics}
	return snap
}

// Drain implements admin.Controller: the member gets no new submits; its
// binds stay up. It stays drained across reloads until Undrain, or a
// restart.
func (d *Daemon) Drain(group, upstream string) error {
	return d.setWeight(group, upstream, true)
}

// Undrain implements admin.Controller: the member gets its configured
// weight back.
func (d *Daemon) Undrain(group, upstream string) error {
	return d.setWeight(group, upstream, false)
}

func (d *Daemon) setWeight(group, upstream string, drain bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	g, gc := d.groups[group], d.cfg.Group(group)
	if g == nil || gc == nil {
		return fmt.Errorf("%w: group %q", admin.ErrNotFound, group)
	}
	for _, m := range gc.Members {
		w := m.Weight
		if drain {
			w = 0
		}
		if m.Upstream == upstream && g.SetWeight(upstream, w) {
			if drain {
				d.drained[member{group, upstream}] = true
			} else {
				delete(d.drained, member{group, upstream})
			}
			return nil
		}
	}
	return fmt.Errorf("%w: upstream %q in group %q", admin.ErrNotFound, upstream, group)
}

// keepDrained drains again, in the groups cfg built, the members drained
// through the admin API, and forgets those cfg no longer has. Called with
// d.mu held.
func (d *Daemon) keepDrained(cfg *config.Config) {
	for m := range d.drained {
		g, gc := d.groups[m.group], cfg.Group(m.group)
		if g == nil || gc == nil || !slices.ContainsFunc(gc.Members, func(cm config.Member) bool { return cm.Upstream == m.upstream }) {
			d.log.Info("a drained member left the configuration: drain forgotten",
				zap.String("group", m.group), zap.String("upstream", m.upstream))
			delete(d.drained, m)
			continue
		}
		g.SetWeight(m.upstream, 0)
	}
}

// Reload implements admin.Controller with Options.Reload.
func (d *Daemon) Reload() error {
	if d.opts.Reload == nil {
		return errors.New("reload is not available")
	}
	return d.opts.Reload()
}

// clientIDs returns the configured system_ids.
func (d *Daemon) clientIDs() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	ids := make([]string, 0, len(d.cfg.Clients)+len(d.cfg.Upstreams))
	for _, c := range d.cfg.Clients {
		ids = append(ids, c.SystemID)
	}
	// The dead letters of each upstream's receipts that matched no
	// message.
	for _, u := range d.cfg.Upstreams {
		ids = append(ids, dlr.UnmatchedOf(u.Name))
	}
	return ids
}

// configured reports whether client is a configured system_id.
func (d *Daemon) configured(client string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg.Client(client) != nil
}

// keepsDeadLetters reports whether name is a configured client or
// dlr.UnmatchedOf a configured upstream.
func (d *Daemon) keepsDeadLetters(name string) bool {
	if u, ok := strings.CutPrefix(name, "@"); ok {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.cfg.Upstream(u) != nil
	}
	return d.configured(name)
}

// DeadLetterCounts implements admin.Controller: every configured client,
// with or without dead letters.
func (d *Daemon) DeadLetterCounts() ([]metrics.DeadLetterInfo, error) {
	st, err := d.Relay.Outbox().DeadLetterStats(d.clientIDs())
	if err != nil {
		return nil, err
	}
	out := make([]metrics.DeadLetterInfo, 0, len(st))
	for _, s := range st {
		if s.Count == 0 && strings.HasPrefix(s.SystemID, "@") {
			continue // an upstream's unmatched receipts: listed when there are some
		}
		out = append(out, metrics.DeadLetterInfo{SystemID: s.SystemID, Count: s.Count, Oldest: s.Oldest})
	}
	// What the store just said is the snapshot's too.
	d.stats.mu.Lock()
	d.stats.dead = out
	d.stats.mu.Unlock()
	return out, nil
}

// DeadLetters implements admin.Controller.
func (d *Daemon) DeadLetters(client string, after uint64, limit int) ([]admin.DeadLetter, error) {
	list, err := d.Relay.Outbox().DeadLetters(client, after, limit)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 && after == 0 && !d.keepsDeadLetters(client) {
		return nil, fmt.Errorf("%w: client %q", admin.ErrNoDeadLetter, client)
	}
	out := make([]admin.DeadLetter, len(list))
	for i, dl := range list {
		sum := dl.Summary()
		out[i] = admin.DeadLetter{
			Seq: dl.Seq, Arrived: dl.Arrived, DeadAt: dl.DeadAt, Attempts: dl.Attempts, Refusals: dl.Refusals,
			LastStatus: fmt.Sprintf("0x%08x", uint32(dl.LastStatus)), Reason: string(dl.Reason),
			Command: sum.Command, Receipt: sum.Receipt, MessageID: sum.MessageID,
			Source: sum.Source, Destination: sum.Destination,
		}
	}
	return out, nil
}

// PurgeDeadLetters implements admin.Controller.
func (d *Daemon) PurgeDeadLetters(client string, seq uint64) (int, error) {
	n, err := d.Relay.Outbox().PurgeDeadLetters(client, seq)
	switch {
	case err != nil:
		return 0, err
	case n == 0 && seq != 0:
		return 0, fmt.Errorf("%w: dead letter %d of client %q", admin.ErrNoDeadLetter, seq, client)
	case n == 0 && !d.keepsDeadLetters(client):
		return 0, fmt.Errorf("%w: client %q", admin.ErrNoDeadLetter, client)
	}
	return n, nil
}

// RetryDeadLetters implements admin.Controller.
func (d *Daemon) RetryDeadLetters(client string) (int, error) {
	if strings.HasPrefix(client, "@") {
		return 0, fmt.Errorf("%w: %q holds receipts that matched no message: there is no client to put them back for", admin.ErrNoDeadLetter, client)
	}
	if !d.configured(client) {
		return 0, fmt.Errorf("%w: client %q is not configured", admin.ErrNoDeadLetter, client)
	}
	return d.Relay.Outbox().RetryDeadLetters(client)
}
