package balancer

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/smppmux/smppmux/internal/pdu"
)

type fakeMember struct {
	name    string
	healthy atomic.Bool
}

func (m *fakeMember) Name() string  { return m.name }
func (m *fakeMember) Healthy() bool { return m.healthy.Load() }
func (m *fakeMember) Submit(context.Context, []byte, func(pdu.Frame, error)) error {
	return nil
}

func member(name string, healthy bool) *fakeMember {
	m := &fakeMember{name: name}
	m.healthy.Store(healthy)
	return m
}

func firstCounts(g *Group, n int) map[string]int {
	counts := map[string]int{}
	var buf [8]int
	for range n {
		order := g.Order(buf[:0])
		if len(order) == 0 {
			counts[""]++
			continue
		}
		counts[g.members[order[0]].Member.Name()]++
	}
	return counts
}

func TestOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mode    Mode
		members []Weighted
		want    map[string]int
	}{
		{"weights 3:1", ActiveActive,
			[]Weighted{{member("a", true), 3}, {member("b", true), 1}},
			map[string]int{"a": 15000, "b": 5000}},
		{"unhealthy member skipped", ActiveActive,
			[]Weighted{{member("a", false), 3}, {member("b", true), 1}},
			map[string]int{"b": 20000}},
		{"weight 0 drains", ActiveActive,
			[]Weighted{{member("a", true), 0}, {member("b", true), 1}},
			map[string]int{"b": 20000}},
		{"standby idle while primary healthy", ActiveStandby,
			[]Weighted{{member("a", true), 1}, {member("b", true), 1}},
			map[string]int{"a": 20000}},
		{"standby takes over", ActiveStandby,
			[]Weighted{{member("a", false), 1}, {member("b", true), 1}},
			map[string]int{"b": 20000}},
		{"nobody healthy", ActiveActive,
			[]Weighted{{member("a", false), 1}},
			map[string]int{"": 20000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := firstCounts(NewGroup("g", tt.mode, tt.members), 20000)
			if len(got) != len(tt.want) {
				t.Fatalf("first choices %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("first choices %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestOrderListsEveryHealthyMember(t *testing.T) {
	t.Parallel()
	g := NewGroup("g", ActiveActive, []Weighted{{member("a", true), 1}, {member("b", true), 5}, {member("c", true), 1}})
	for range 100 {
		order := g.Order(nil)
		if len(order) != 3 || order[0] == order[1] || order[1] == order[2] || order[0] == order[2] {
			t.Fatalf("order %v does not list each member once", order)
		}
	}
}

func BenchmarkOrderWeighted(b *testing.B) {
	g := NewGroup("g", ActiveActive, []Weighted{{member("a", true), 3}, {member("b", true), 1}, {member("c", true), 2}})
	var buf [8]int
	b.ReportAllocs()
	for b.Loop() {
		_ = g.Order(buf[:0])
	}
}
