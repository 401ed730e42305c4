package router

import (
	"testing"

	"github.com/smppmux/smppmux/balancer"
)

func TestMatch(t *testing.T) {
	t.Parallel()
	uk := balancer.NewGroup("uk", balancer.ActiveActive, nil)
	bank := balancer.NewGroup("bank", balancer.ActiveActive, nil)
	def := balancer.NewGroup("default", balancer.ActiveActive, nil)
	r := New([]Route{
		{Clients: []string{"bank"}, Group: bank},
		{DestinationPrefix: []string{"+44", "353"}, Group: uk},
		{Group: def},
	})
	tests := []struct {
		client, dest string
		want         *balancer.Group
	}{
		{"bank", "447700900001", bank},
		{"shop", "447700900001", uk},
		{"shop", "+447700900001", uk},
		{"shop", "353861234567", uk},
		{"shop", "33612345678", def},
		{"shop", "", def},
	}
	for _, tt := range tests {
		if got := r.Match(tt.client, []byte(tt.dest)); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.client, tt.dest, name(got), name(tt.want))
		}
	}
	if g := New([]Route{{DestinationPrefix: []string{"44"}, Group: uk}}).Match("shop", []byte("33")); g != nil {
		t.Errorf("no route should match, got %s", g.Name())
	}
}

func name(g *balancer.Group) string {
	if g == nil {
		return "<nil>"
	}
	return g.Name()
}
