package configgen

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/smppmux/smppmux/config"
)

func parse(t *testing.T, p Params) *config.Config {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, p); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(b.Bytes())
	if err != nil {
		t.Fatalf("%+v: %v", p, err)
	}
	return cfg
}

// TestWrite: the configurations written are valid, of the sizes asked,
// lead the traffic to g00 and its one upstream, and the Changed one
// differs in one client and the routes only.
func TestWrite(t *testing.T) {
	t.Parallel()
	for _, p := range []Params{
		{Clients: 1, Upstreams: 1, Groups: 1, Routes: 1},
		{Clients: 1000, Upstreams: 20, Groups: 50, Routes: 10000},
	} {
		p.SMPP, p.SMSC, p.StateDir, p.Window = "127.0.0.1:0", "127.0.0.1:1", t.TempDir(), 100
		cfg := parse(t, p)
		if len(cfg.Clients) != p.Clients || len(cfg.Upstreams) != p.Upstreams || len(cfg.Groups) != p.Groups || len(cfg.Routes) != p.Routes {
			t.Fatalf("%+v: %d clients, %d upstreams, %d groups, %d routes", p,
				len(cfg.Clients), len(cfg.Upstreams), len(cfg.Groups), len(cfg.Routes))
		}
		if c := cfg.Client(TrafficSystemID); c == nil || c.Password != TrafficPassword {
			t.Fatalf("traffic client %+v", c)
		}
		last := cfg.Routes[len(cfg.Routes)-1]
		if !slices.Equal(last.DestinationPrefix, []string{TrafficPrefix}) || last.Group != "g00" {
			t.Fatalf("last route %+v", last)
		}
		for i, r := range cfg.Routes[:len(cfg.Routes)-1] {
			for _, d := range r.DestinationPrefix {
				if strings.HasPrefix(d, TrafficPrefix) {
					t.Fatalf("route %d (%q) takes the traffic's destinations", i, d)
				}
			}
		}
		if g := cfg.Group("g00"); len(g.Members) != 1 || g.Members[0].Upstream != UpstreamName(0) {
			t.Fatalf("group g00 %+v", g)
		}
		if p.Routes == 1 {
			continue
		}
		p.Changed = true
		ch := config.Diff(cfg, parse(t, p))
		if want := []string{"client c0000 changed", "routes"}; !slices.Equal(ch.Live, want) || len(ch.Restart) > 0 {
			t.Fatalf("changed: live %q restart %q, want live %q", ch.Live, ch.Restart, want)
		}
	}
}
