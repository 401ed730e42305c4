package relay

import (
	"fmt"
	"time"

	"github.com/smppmux/smppmux/balancer"
	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/clients"
	"github.com/smppmux/smppmux/internal/defaults"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/router"
)

// Snapshot is what one configuration makes of the relay's world: the
// clients, the upstreams with their receipt id readers and groups, the
// routes and the submit settings. It is built whole by NewSnapshot, never
// changed after, and swapped at once on reload (Relay.SetSnapshot):
// requests already under way finish with the snapshot they started with.
type Snapshot struct {
	// Clients are the configured clients: credentials, limits, id
	// formats.
	Clients *clients.Table
	// Upstreams are the upstreams by name.
	Upstreams map[string]*Upstream
	// Router picks the group of a submit.
	Router *router.Router[*balancer.Group]
	// MORouter picks the client system_id of a mobile-originated message;
	// the Message's SystemID is the upstream's name. nil: no MO routes.
	MORouter *router.Router[string]
	// SubmitTimeout bounds how long a submit may take, waiting for a
	// member and failovers included; 30s.
	SubmitTimeout time.Duration
	// NoRouteStatus answers a submit no route matches; ESME_RINVDSTADR.
	NoRouteStatus pdu.Status
	// Queues are the store-and-forward groups by name (forward.go).
	Queues map[string]Queue
}

// Upstream is one upstream as a Snapshot holds it.
type Upstream struct {
	// Member sends the requests about an earlier message (query_sm,
	// cancel_sm, replace_sm) to the upstream that took it.
	Member balancer.Member
	// IDs reads the upstream's receipt ids; nil: FormExact.
	IDs *dlr.IDReader
	// Groups are the groups the upstream is a member of, whose
	// delivered-receipt ratio its receipts feed.
	Groups []*balancer.Group
}

// NewSnapshot builds the snapshot of cfg from its clients' table, its
// upstreams (Member and IDs; NewSnapshot sets Groups) and its groups, all
// built for cfg.
func NewSnapshot(cfg *config.Config, tbl *clients.Table, ups map[string]Upstream, groups map[string]*balancer.Group) (*Snapshot, error) {
	s := &Snapshot{
		Clients:       tbl,
		Upstreams:     make(map[string]*Upstream, len(ups)),
		SubmitTimeout: cfg.Server.SubmitTimeout,
		NoRouteStatus: pdu.Status(config.Status(cfg.Server.NoRouteStatus)),
	}
	s.setDefaults()
	for name, u := range ups {
		s.Upstreams[name] = &u
	}
	for _, gc := range cfg.Groups {
		g, ok := groups[gc.Name]
		if !ok {
			return nil, fmt.Errorf("group %s: not built", gc.Name)
		}
		for _, m := range gc.Members {
			u, ok := s.Upstreams[m.Upstream]
			if !ok {
				return nil, fmt.Errorf("group %s: unknown upstream %q", gc.Name, m.Upstream)
			}
			u.Groups = append(u.Groups, g)
		}
	}
	var routes []router.Rule[*balancer.Group]
	for i, rc := range cfg.Routes {
		g, ok := groups[rc.Group]
		if !ok {
			return nil, fmt.Errorf("routes[%d]: unknown group %q", i, rc.Group)
		}
		routes = append(routes, router.Rule[*balancer.Group]{
			Clients:           rc.Clients,
			DestinationPrefix: rc.DestinationPrefix,
			SourcePrefix:      rc.SourcePrefix,
			ServiceType:       rc.ServiceType,
			Target:            g,
		})
	}
	s.Router = router.New(routes)
	s.Queues = queuesOf(cfg, groups)
	if len(cfg.MORoutes) > 0 {
		var mo []router.Rule[string]
		for _, rc := range cfg.MORoutes {
			mo = append(mo, router.Rule[string]{
				Clients:           rc.Upstreams,
				DestinationPrefix: rc.DestinationPrefix,
				SourcePrefix:      rc.SourcePrefix,
				Target:            rc.Client,
			})
		}
		s.MORouter = router.New(mo)
	}
	return s, nil
}

func (s *Snapshot) setDefaults() {
	defaults.Positive(&s.SubmitTimeout, DefaultSubmitTimeout)
	if s.NoRouteStatus == pdu.StatusOK {
		s.NoRouteStatus = DefaultNoRouteStatus
	}
	if s.Router == nil {
		s.Router = router.New[*balancer.Group](nil)
	}
}

// Member returns the upstream of that name, to send it a request about
// an earlier message.
func (s *Snapshot) Member(name string) (balancer.Member, bool) {
	if u := s.Upstreams[name]; u != nil && u.Member != nil {
		return u.Member, true
	}
	return nil, false
}

// IDReader returns the receipt id reader of an upstream.
func (s *Snapshot) IDReader(name string) (*dlr.IDReader, bool) {
	if u := s.Upstreams[name]; u != nil && u.IDs != nil {
		return u.IDs, true
	}
	return nil, false
}

// GroupsOf returns the groups an upstream is a member of.
func (s *Snapshot) GroupsOf(name string) []*balancer.Group {
	if u := s.Upstreams[name]; u != nil {
		return u.Groups
	}
	return nil
}
