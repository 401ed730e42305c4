package router

import (
	"testing"

	"github.com/smppmux/smppmux/balancer"
)

func TestMatch(t *testing.T) {
	t.Parallel()
	group := func(name string) *balancer.Group { return balancer.NewGroup(balancer.GroupConfig{Name: name}) }
	def, uk, ukMobile, bank, otp, brand := group("default"), group("uk"), group("uk-mobile"), group("bank"), group("otp"), group("brand")
	r := New([]Rule[*balancer.Group]{
		{Target: def},
		{Clients: []string{"bank"}, Target: bank},
		{DestinationPrefix: []string{"+44", "353"}, Target: uk},
		{DestinationPrefix: []string{"447"}, Target: ukMobile},
		{ServiceType: []string{"OTP"}, DestinationPrefix: []string{"4477"}, Target: otp},
		{SourcePrefix: []string{"Brand"}, DestinationPrefix: []string{"33"}, Target: brand},
	})
	tests := []struct {
		name string
		m    Message
		want *balancer.Group
	}{
		{"catch-all", Message{SystemID: "shop", Destination: []byte("4915112345")}, def},
		{"first without prefix wins over a later client route", Message{SystemID: "bank", Destination: []byte("4915112345")}, def},
		{"prefix beats an earlier catch-all", Message{SystemID: "shop", Destination: []byte("441234567")}, uk},
		{"plus ignored", Message{SystemID: "shop", Destination: []byte("+441234567")}, uk},
		{"longest prefix", Message{SystemID: "shop", Destination: []byte("447700900001")}, ukMobile},
		{"service_type with longer prefix", Message{SystemID: "shop", Destination: []byte("447700900001"), ServiceType: []byte("OTP")}, otp},
		{"service_type must match", Message{SystemID: "shop", Destination: []byte("447700900001"), ServiceType: []byte("CMT")}, ukMobile},
		{"source prefix", Message{SystemID: "shop", Source: []byte("BrandX"), Destination: []byte("33612345678")}, brand},
		{"source prefix must match", Message{SystemID: "shop", Source: []byte("Other"), Destination: []byte("33612345678")}, def},
	}
	for _, tt := range tests {
		if got, _ := r.Match(tt.m); got != tt.want {
			t.Errorf("%s: Match = %s, want %s", tt.name, name(got), name(tt.want))
		}
	}
	if g, ok := New([]Rule[*balancer.Group]{{DestinationPrefix: []string{"44"}, Target: uk}}).Match(Message{Destination: []byte("33")}); ok {
		t.Errorf("no route should match, got %s", g.Name())
	}
}

func name(g *balancer.Group) string {
	if g == nil {
		return "<nil>"
	}
	return g.Name()
}

func BenchmarkMatch(b *testing.B) {
	g := balancer.NewGroup(balancer.GroupConfig{Name: "g"})
	r := New([]Rule[*balancer.Group]{
		{Clients: []string{"bank"}, Target: g},
		{DestinationPrefix: []string{"44", "353", "49", "33"}, Target: g},
		{DestinationPrefix: []string{"447"}, Target: g},
		{Target: g},
	})
	m := Message{SystemID: "shop", Destination: []byte("447700900001")}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = r.Match(m)
	}
}
