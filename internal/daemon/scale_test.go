package daemon

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/smppmux/smppmux/balancer"
	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/internal/configgen"
	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/router"
	"github.com/smppmux/smppmux/internal/smsctest"
	"github.com/smppmux/smppmux/smppserver"
	"github.com/smppmux/smppmux/upstream"
)

// TestReloadAtScaleKeepsBinds: with 1,000 clients, 20 upstreams, 50
// groups and 10,000 routes, a reload that changes one client and one
// route applies those two and nothing else: no upstream bind is dialled
// or bound again (the fake SMSC sees no new bind PDU and keeps every
// session), every upstream and group stays the same object, and every
// bound client stays bound and goes on submitting. The time Apply took
// is logged, not judged (make bench-config measures it).
func TestReloadAtScaleKeepsBinds(t *testing.T) {
	t.Parallel()
	smsc := smsctest.Start(t, smsctest.Config{})
	dir := t.TempDir()
	gen := func(changed bool) string {
		var b bytes.Buffer
		if err := configgen.Write(&b, configgen.Params{Clients: 1000, Upstreams: 20, Groups: 50, Routes: 10000,
			SMPP: "127.0.0.1:0", Admin: "127.0.0.1:0", SMSC: smsc.Addr(), StateDir: dir, Window: 10, Changed: changed}); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	e := startYAML(t, gen(false), smsc)
	ctx := deadline(t)
	if err := smsc.WaitBinds(ctx, 20); err != nil {
		t.Fatalf("20 upstream binds: %v", err)
	}
	var clients []*esmetest.Client
	for _, i := range []int{0, 1, 500, 998} {
		id, pw := configgen.ClientID(i)
		clients = append(clients, e.dial(t, id, pw, pdu.BindTransceiver, 10))
	}
	shop := e.dial(t, configgen.TrafficSystemID, configgen.TrafficPassword, pdu.BindTransceiver, 10)
	clients = append(clients, shop)

	bindsBefore, smscSessions := smsc.BindRequests(), smsc.Sessions()
	sessions := e.d.Server.Sessions()
	ups, groups := map[string]*upstream.Upstream{}, map[string]*balancer.Group{}
	for _, uc := range e.d.cfg.Upstreams {
		ups[uc.Name] = e.d.Upstream(uc.Name)
	}
	for _, gc := range e.d.cfg.Groups {
		groups[gc.Name] = e.d.Group(gc.Name)
	}
	changedRoute := e.d.cfg.Routes[0]
	if g := routeOf(e.d, changedRoute); g != changedRoute.Group {
		t.Fatalf("before the reload, the first route leads to %s, want %s", g, changedRoute.Group)
	}

	next, err := config.Parse([]byte(gen(true)))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ch, err := e.d.Apply(next)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	t.Logf("Apply of the changed configuration took %v", took)
	if want := []string{"client c0000 changed", "routes"}; !slices.Equal(ch.Live, want) {
		t.Fatalf("changes %q, want %q", ch.Live, want)
	}
	if g := routeOf(e.d, changedRoute); g != next.Routes[0].Group || g == changedRoute.Group {
		t.Fatalf("after the reload, the first route leads to %s, want %s", g, next.Routes[0].Group)
	}
	if c := e.d.Relay.Snapshot().Clients.Get("c0000"); c == nil || c.Window != 5 {
		t.Fatalf("client c0000 after the reload: %+v, want window 5", c)
	}

	if n := smsc.BindRequests(); n != bindsBefore {
		t.Errorf("the fake SMSC saw %d bind PDUs during the reload, want none", n-bindsBefore)
	}
	for _, s := range smscSessions {
		select {
		case <-s.Done():
			t.Errorf("upstream session of %s at the fake SMSC closed", s.SystemID())
		default:
		}
	}
	for name, u := range ups {
		if e.d.Upstream(name) != u {
			t.Errorf("upstream %s was rebuilt", name)
		}
	}
	for name, g := range groups {
		if e.d.Group(name) != g {
			t.Errorf("group %s was rebuilt", name)
		}
	}
	if after := e.d.Server.Sessions(); !sameSessions(after, sessions) {
		t.Errorf("%d client sessions after the reload, %d before, or not the same", len(after), len(sessions))
	}
	for i, c := range clients {
		dest := configgen.TrafficPrefix + "00000001"
		if c != shop {
			// The changed route is c0000's; the others may find no
			// route. Any answer shows the session is up.
			dest = changedRoute.DestinationPrefix[0] + "1234"
		}
		r, err := c.Submit(ctx, esmetest.SubmitBody("Src", dest, []byte("x"), 0, nil))
		if err != nil {
			t.Fatalf("client %d after the reload: %v", i, err)
		}
		if c == shop && r.Status != pdu.StatusOK {
			t.Fatalf("traffic client's submit after the reload: %s", pdu.LogStatus(r.Status))
		}
	}
}

// routeOf returns the group the running routes give a message from the
// first client rt names to a destination under rt's first prefix.
func routeOf(d *Daemon, rt config.Route) string {
	m := router.Message{Destination: []byte(rt.DestinationPrefix[0] + "1234")}
	if len(rt.Clients) > 0 {
		m.SystemID = rt.Clients[0]
	}
	if g, ok := d.Relay.Snapshot().Router.Match(m); ok {
		return g.Name()
	}
	return ""
}

// sameSessions reports whether a and b hold the same sessions.
func sameSessions(a, b []*smppserver.Session) bool {
	if len(a) != len(b) {
		return false
	}
	for _, s := range a {
		if !slices.Contains(b, s) {
			return false
		}
	}
	return true
}
