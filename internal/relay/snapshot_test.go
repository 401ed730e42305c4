package relay

import (
	"context"
	"testing"

	"github.com/smppmux/smppmux/balancer"
	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/clients"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/router"
)

// idleMember is a member that never sends.
type idleMember string

func (m idleMember) Name() string { return string(m) }
func (idleMember) Healthy() bool  { return false }
func (idleMember) Submit(context.Context, []byte, func(pdu.Frame, error)) error {
	return balancer.ErrNoMember
}

// TestNewSnapshot: a snapshot holds each upstream with its member, its id
// reader and the groups it is a member of, routes submits and MO messages
// by the configuration's routes, and refuses a route to a group that was
// not built.
func TestNewSnapshot(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse([]byte(`
listen: {smpp: "127.0.0.1:0"}
server: {submit_timeout: 7s, no_route_status: ESME_RSYSERR}
clients: [{system_id: shop, password: secret}]
upstreams:
  - {name: a, addr: "127.0.0.1:1", system_id: mux}
  - {name: b, addr: "127.0.0.1:1", system_id: mux}
groups:
  - {name: main, members: [{upstream: a}, {upstream: b}]}
  - {name: spare, members: [{upstream: b}]}
routes: [{destination_prefix: ["44"], group: main}, {group: spare}]
mo_routes: [{destination_prefix: ["8"], client: shop}]
`))
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string]*balancer.Group{}
	for _, gc := range cfg.Groups {
		var ms []balancer.Weighted
		for _, m := range gc.Members {
			ms = append(ms, balancer.Weighted{Member: idleMember(m.Upstream), Weight: m.Weight})
		}
		g := balancer.NewGroup(gc.Settings(ms))
		t.Cleanup(g.Stop)
		groups[gc.Name] = g
	}
	reader := dlr.NewIDReader(dlr.FormExact, true)
	ups := map[string]Upstream{"a": {Member: idleMember("a"), IDs: reader}, "b": {Member: idleMember("b")}}
	tbl, err := clients.NewTable(cfg.Clients, nil, config.Diff(nil, cfg).Clients)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSnapshot(cfg, tbl, ups, groups)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := s.Member("b"); !ok || m.Name() != "b" {
		t.Errorf("Member(b) = %v, %v", m, ok)
	}
	if _, ok := s.Member("c"); ok {
		t.Error("an upstream that is not configured has a member")
	}
	if rd, ok := s.IDReader("a"); !ok || rd != reader {
		t.Errorf("IDReader(a) = %v, %v", rd, ok)
	}
	if _, ok := s.IDReader("b"); ok {
		t.Error("an upstream without an id reader has one")
	}
	if gs := s.GroupsOf("b"); len(gs) != 2 || gs[0] != groups["main"] || gs[1] != groups["spare"] {
		t.Errorf("GroupsOf(b) = %v", gs)
	}
	if gs := s.GroupsOf("a"); len(gs) != 1 || gs[0] != groups["main"] {
		t.Errorf("GroupsOf(a) = %v", gs)
	}
	if g, ok := s.Router.Match(router.Message{SystemID: "shop", Destination: []byte("447700900001")}); !ok || g != groups["main"] {
		t.Errorf("a submit to 44 went to %v", g)
	}
	if g, ok := s.Router.Match(router.Message{SystemID: "shop", Destination: []byte("337700900001")}); !ok || g != groups["spare"] {
		t.Errorf("a submit to 33 went to %v", g)
	}
	if id, ok := s.MORouter.Match(router.Message{SystemID: "a", Destination: []byte("8080")}); !ok || id != "shop" {
		t.Errorf("an MO message to 8080 went to %q", id)
	}
	if s.SubmitTimeout.Seconds() != 7 || s.NoRouteStatus != pdu.StatusSysErr || !s.Clients.Known("shop") {
		t.Errorf("settings: %v, 0x%x, clients %v", s.SubmitTimeout, uint32(s.NoRouteStatus), s.Clients)
	}

	delete(groups, "spare")
	if _, err := NewSnapshot(cfg, tbl, ups, groups); err == nil {
		t.Error("a snapshot without one of its groups was built")
	}
}
