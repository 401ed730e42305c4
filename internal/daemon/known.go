package daemon

import (
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
	// The clients each group's routes may carry, in the order the routes
	// name them: one pass over the routes, a set per group.
	byGroup := make(map[string]*groupClients, len(cfg.Groups))
	for _, g := range cfg.Groups {
		byGroup[g.Name] = &groupClients{seen: map[string]bool{}}
	}
	for _, r := range cfg.Routes {
		gc := byGroup[r.Group]
		if gc == nil || gc.all {
			continue
		}
		clients := r.Clients
		if len(clients) == 0 {
			clients = k.Clients
		}
		for _, c := range clients {
			if !gc.seen[c] {
				gc.seen[c] = true
				gc.list = append(gc.list, c)
			}
		}
		// A route without clients brought in every client.
		gc.all = len(r.Clients) == 0
	}
	for _, g := range cfg.Groups {
		kg := metrics.KnownGroup{Name: g.Name, Clients: byGroup[g.Name].list}
		for _, m := range g.Members {
			kg.Members = append(kg.Members, m.Upstream)
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

// groupClients are the clients of one group's routes, in order, as known
// builds them; all says every configured client is among them already.
type groupClients struct {
	list []string
	seen map[string]bool
	all  bool
}
