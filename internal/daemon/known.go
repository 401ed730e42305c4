package daemon

import (
	"slices"

	"github.com/smppmux/smppmux/balancer"
	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/internal/smppconn"
	"github.com/smppmux/smppmux/metrics"
	"github.com/smppmux/smppmux/smppserver"
)

// known lists the label values cfg gives the metrics, so that every
// counter of a configured client, upstream and group member exists at 0
// from the start.
func known(cfg *config.Config) metrics.Known {
	k := metrics.Known{FailoverReasons: balancer.FailoverReasons()}
	for _, c := range cfg.Clients {
		k.Clients = append(k.Clients, c.SystemID)
	}
	for _, u := range cfg.Upstreams {
		k.Upstreams = append(k.Upstreams, u.Name)
	}
	for _, g := range cfg.Groups {
		kg := metrics.KnownGroup{Name: g.Name}
		for _, m := range g.Members {
			kg.Members = append(kg.Members, m.Upstream)
		}
		for _, r := range cfg.Routes {
			if r.Group != g.Name {
				continue
			}
			clients := r.Clients
			if len(clients) == 0 {
				clients = k.Clients
			}
			for _, c := range clients {
				if !slices.Contains(kg.Clients, c) {
					kg.Clients = append(kg.Clients, c)
				}
			}
		}
		k.Groups = append(k.Groups, kg)
	}
	for _, r := range smppconn.Reasons() {
		k.CloseReasons = append(k.CloseReasons, r.String())
		switch r {
		case smppconn.ReasonBindTimeout, smppconn.ReasonBindFailed, smppconn.ReasonShutdown,
			smppconn.ReasonKicked, smppconn.ReasonSuspended, smppconn.ReasonRemoved:
			// Not a loss of a bound upstream bind.
		default:
			k.BindLossReasons = append(k.BindLossReasons, r.String())
		}
	}
	for _, r := range smppserver.Refusals() {
		if r == smppserver.RefusedMalformed {
			continue // its status is the bad field's
		}
		k.BindRefusals = append(k.BindRefusals, metrics.KnownRefusal{
			Reason: r.String(), Status: uint32(r.Status()), Unknown: r == smppserver.RefusedUnknownSystemID,
		})
	}
	return k
}
