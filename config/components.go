package config

import (
	"github.com/smppmux/smppmux/balancer"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/upstream"
)

// Settings returns the upstream's settings for upstream.New, but for its
// TLS and hooks, which the caller sets.
func (u *Upstream) Settings() upstream.Config {
	return upstream.Config{
		Name:                u.Name,
		Addr:                u.Addr,
		SystemID:            u.SystemID,
		Password:            u.Password,
		SystemType:          u.SystemType,
		Bind:                string(u.Bind),
		Binds:               u.Binds,
		Window:              u.Window,
		TPS:                 u.TPS,
		ResponseTimeout:     u.ResponseTimeout,
		EnquireLinkInterval: u.EnquireLinkInterval,
		ConnectTimeout:      u.ConnectTimeout,
		ReconnectMin:        u.ReconnectMin,
		ReconnectMax:        u.ReconnectMax,
	}
}

// Settings returns the group's settings for balancer.NewGroup, with
// members, but for its hooks, which the caller sets.
func (g *Group) Settings(members []balancer.Weighted) balancer.GroupConfig {
	return balancer.GroupConfig{
		Name:            g.Name,
		Mode:            balancer.Mode(g.Mode),
		Members:         members,
		RetryOn:         Statuses(g.RetryOn),
		FailureStatuses: Statuses(g.Breaker.Statuses),
		MaxAttempts:     g.MaxAttempts,
		QueueTimeout:    g.QueueTimeout,
		ResubmitUnknown: g.ResubmitUnknown,
		StickyTTL:       g.StickyTTL,
		Breaker: balancer.BreakerConfig{
			Failures:    g.Breaker.Failures,
			ErrorRate:   g.Breaker.ErrorRate,
			MinRequests: g.Breaker.MinRequests,
			Window:      g.Breaker.Window,
			Cooldown:    g.Breaker.Cooldown,
			Probes:      g.Breaker.Probes,
			SlowStart:   g.Breaker.SlowStart,
		},
	}
}

// Statuses converts validated command_status names. nil stays nil, so
// the component's default applies; an empty list stays empty: none.
func Statuses(names []string) []pdu.Status {
	if names == nil {
		return nil
	}
	out := make([]pdu.Status, len(names))
	for i, n := range names {
		out[i] = pdu.Status(Status(n))
	}
	return out
}
