package daemon

import (
	"bytes"
	"slices"
	"testing"

	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/internal/configgen"
)

// TestKnownGroupClients: a group's clients are those its routes name, in
// the order they first appear, or every client once a route of the group
// names none.
func TestKnownGroupClients(t *testing.T) {
	t.Parallel()
	cfg := &config.Config{
		Clients: []config.Client{{SystemID: "a"}, {SystemID: "b"}, {SystemID: "c"}},
		Groups:  []config.Group{{Name: "g1"}, {Name: "g2"}, {Name: "g3"}},
		Routes: []config.Route{
			{Clients: []string{"c", "a"}, Group: "g1"},
			{Clients: []string{"a", "c"}, Group: "g1"},
			{Clients: []string{"b"}, Group: "g2"},
			{Group: "g2"},
			{Clients: []string{"b"}, Group: "g2"},
		},
	}
	want := map[string][]string{"g1": {"c", "a"}, "g2": {"b", "a", "c"}, "g3": nil}
	for _, g := range known(cfg).Groups {
		if !slices.Equal(g.Clients, want[g.Name]) {
			t.Errorf("group %s: clients %q, want %q", g.Name, g.Clients, want[g.Name])
		}
	}
}

// BenchmarkKnown: the metrics' label values of a configuration of 1,000
// clients, 50 groups and 10,000 routes, built at start and on every
// reload.
func BenchmarkKnown(b *testing.B) {
	var buf bytes.Buffer
	if err := configgen.Write(&buf, configgen.Params{Clients: 1000, Upstreams: 20, Groups: 50, Routes: 10000,
		SMPP: "127.0.0.1:0", SMSC: "127.0.0.1:1", StateDir: b.TempDir(), Window: 100}); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Parse(buf.Bytes())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		known(cfg)
	}
}
