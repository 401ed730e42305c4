package daemon

import (
	"errors"
	"fmt"

	"github.com/smppmux/smppmux/admin"
	"github.com/smppmux/smppmux/internal/pdu"
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
		if !g.Available() {
			snap.Ready = false
		}
		snap.Groups = append(snap.Groups, gi)
	}
	for _, st := range d.Relay.Outbox().Stats() {
		snap.Outboxes = append(snap.Outboxes, metrics.OutboxInfo{SystemID: st.SystemID, Depth: st.Depth, OldestAge: st.OldestAge})
	}
	return snap
}

// Drain implements admin.Controller: the member gets no new submits; its
// binds stay up. A reload puts the configured weight back.
func (d *Daemon) Drain(group, upstream string) error {
	return d.setWeight(group, upstream, func(int) int { return 0 })
}

// Undrain implements admin.Controller: the member gets its configured
// weight back.
func (d *Daemon) Undrain(group, upstream string) error {
	return d.setWeight(group, upstream, func(configured int) int { return configured })
}

func (d *Daemon) setWeight(group, upstream string, weight func(configured int) int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	g, gc := d.groups[group], d.cfg.Group(group)
	if g == nil || gc == nil {
		return fmt.Errorf("%w: group %q", admin.ErrNotFound, group)
	}
	for _, m := range gc.Members {
		if m.Upstream == upstream && g.SetWeight(upstream, weight(m.Weight)) {
			return nil
		}
	}
	return fmt.Errorf("%w: upstream %q in group %q", admin.ErrNotFound, upstream, group)
}

// Reload implements admin.Controller with Options.Reload.
func (d *Daemon) Reload() error {
	if d.opts.Reload == nil {
		return errors.New("reload is not available")
	}
	return d.opts.Reload()
}
