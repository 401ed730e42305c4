package balancer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
)

// fakeMember answers every submit at once with status, or refuses to take
// it when full.
type fakeMember struct {
	name    string
	healthy atomic.Bool
	full    atomic.Bool
	status  atomic.Uint32
	sent    atomic.Int64
}

func (m *fakeMember) Name() string  { return m.name }
func (m *fakeMember) Healthy() bool { return m.healthy.Load() }
func (m *fakeMember) Submit(ctx context.Context, raw []byte, done func(pdu.Frame, error)) error {
	if m.full.Load() {
		return errors.New("window full")
	}
	m.sent.Add(1)
	st := pdu.Status(m.status.Load())
	done(pdu.Frame{Header: pdu.Header{ID: pdu.SubmitSMResp, Status: st}}, nil)
	return nil
}

func newFake(name string, healthy bool) *fakeMember {
	m := &fakeMember{name: name}
	m.healthy.Store(healthy)
	return m
}

func firstCounts(g *Group, n int) map[string]int {
	counts := map[string]int{}
	var buf [8]int
	for range n {
		order := g.order(buf[:0], 0, "")
		if len(order) == 0 {
			counts[""]++
			continue
		}
		counts[g.members[order[0]].Name()]++
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
			[]Weighted{{newFake("a", true), 3}, {newFake("b", true), 1}},
			map[string]int{"a": 15000, "b": 5000}},
		{"unhealthy member skipped", ActiveActive,
			[]Weighted{{newFake("a", false), 3}, {newFake("b", true), 1}},
			map[string]int{"b": 20000}},
		{"weight 0 drains", ActiveActive,
			[]Weighted{{newFake("a", true), 0}, {newFake("b", true), 1}},
			map[string]int{"b": 20000}},
		{"standby idle while primary healthy", ActiveStandby,
			[]Weighted{{newFake("a", true), 1}, {newFake("b", true), 1}},
			map[string]int{"a": 20000}},
		{"standby takes over", ActiveStandby,
			[]Weighted{{newFake("a", false), 1}, {newFake("b", true), 1}},
			map[string]int{"b": 20000}},
		{"adaptive without measurements is weighted", Adaptive,
			[]Weighted{{newFake("a", true), 1}, {newFake("b", true), 1}},
			map[string]int{"a": 10000, "b": 10000}},
		{"nobody healthy", ActiveActive,
			[]Weighted{{newFake("a", false), 1}},
			map[string]int{"": 20000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := firstCounts(NewGroup(GroupConfig{Name: "g", Mode: tt.mode, Members: tt.members}), 20000)
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

func TestOrderListsEveryCandidateOnce(t *testing.T) {
	t.Parallel()
	g := NewGroup(GroupConfig{Members: []Weighted{{newFake("a", true), 1}, {newFake("b", true), 5}, {newFake("c", true), 2}}})
	for range 100 {
		order := g.order(nil, 0, "")
		if len(order) != 3 || order[0] == order[1] || order[1] == order[2] || order[0] == order[2] {
			t.Fatalf("order %v does not list each member once", order)
		}
	}
	if order := g.order(nil, 1<<1, ""); len(order) != 2 || order[0] == 1 || order[1] == 1 {
		t.Fatalf("tried member listed again: %v", order)
	}
}

// submit runs one message through g and returns its result.
func submit(t *testing.T, g *Group, sticky string) Result {
	t.Helper()
	ch := make(chan Result, 1)
	g.Submit(Request{Raw: pdu.Empty(pdu.SubmitSM, 0, 0), Sticky: sticky, Deadline: time.Now().Add(5 * time.Second)}, func(r Result) { ch <- r })
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no result")
		return Result{}
	}
}

func TestFailoverOnRetryStatus(t *testing.T) {
	t.Parallel()
	a, b := newFake("a", true), newFake("b", true)
	a.status.Store(uint32(pdu.StatusSysErr))
	var failovers atomic.Int64
	g := NewGroup(GroupConfig{Mode: ActiveStandby, Members: []Weighted{{a, 1}, {b, 1}},
		OnFailover: func(string, string) { failovers.Add(1) }})
	defer g.Stop()
	r := submit(t, g, "")
	if r.Err != nil || r.Resp.Status != pdu.StatusOK || r.Member != "b" || r.Attempts != 2 {
		t.Fatalf("result %+v, want ROK from b after 2 attempts", r)
	}
	if failovers.Load() != 1 {
		t.Fatalf("%d failovers", failovers.Load())
	}
}

// TestThrottledGoesElsewhere: a member's ESME_RTHROTTLED or ESME_RMSGQFUL
// sends the message to another member with room, without counting as an
// attempt or as a failure of the member, even when retry_on and the
// breaker's statuses list it.
func TestThrottledGoesElsewhere(t *testing.T) {
	t.Parallel()
	for _, st := range []pdu.Status{pdu.StatusThrottled, pdu.StatusMsgQFul} {
		a, b := newFake("a", true), newFake("b", true)
		a.status.Store(uint32(st))
		var reasons []string
		var mu sync.Mutex
		g := NewGroup(GroupConfig{Mode: ActiveStandby, Members: []Weighted{{a, 1}, {b, 1}},
			MaxAttempts: 1, FailureStatuses: []pdu.Status{st}, Breaker: BreakerConfig{Failures: 1},
			OnFailover: func(_, reason string) { mu.Lock(); reasons = append(reasons, reason); mu.Unlock() }})
		for range 5 {
			r := submit(t, g, "")
			if r.Err != nil || r.Resp.Status != pdu.StatusOK || r.Member != "b" || r.Attempts != 1 {
				t.Fatalf("status 0x%02x: result %+v, want ROK from b in 1 attempt", st, r)
			}
		}
		g.Stop()
		if got := g.Status()[0].Breaker; got != BreakerClosed {
			t.Fatalf("status 0x%02x: a's breaker %v, want closed", st, got)
		}
		mu.Lock()
		if len(reasons) != 5 || reasons[0] != "throttled" {
			t.Fatalf("status 0x%02x: failovers %v, want 5 throttled", st, reasons)
		}
		mu.Unlock()
	}
}

// TestThrottledWaitsForTheMember: with no other member, a throttled message
// goes again to the one that throttled it, until it is taken.
func TestThrottledWaitsForTheMember(t *testing.T) {
	t.Parallel()
	a := &throttling{fakeMember: newFake("a", true)}
	a.left.Store(20)
	g := NewGroup(GroupConfig{Members: []Weighted{{a, 1}}, MaxAttempts: 1, Breaker: BreakerConfig{Failures: 1}})
	defer g.Stop()
	r := submit(t, g, "")
	if r.Err != nil || r.Resp.Status != pdu.StatusOK || r.Member != "a" || a.sent.Load() != 21 {
		t.Fatalf("result %+v after %d sends, want ROK from a on the 21st", r, a.sent.Load())
	}
	if got := g.Status()[0].Breaker; got != BreakerClosed {
		t.Fatalf("breaker %v, want closed", got)
	}
}

// TestThrottledUntilDeadline: a member that throttles everything leaves the
// message with its throttling answer once the deadline has passed.
func TestThrottledUntilDeadline(t *testing.T) {
	t.Parallel()
	a := &throttling{fakeMember: newFake("a", true)}
	a.left.Store(1 << 40)
	g := NewGroup(GroupConfig{Members: []Weighted{{a, 1}}})
	defer g.Stop()
	ch := make(chan Result, 1)
	g.Submit(Request{Raw: pdu.Empty(pdu.SubmitSM, 0, 0), Deadline: time.Now().Add(20 * time.Millisecond)},
		func(r Result) { ch <- r })
	select {
	case r := <-ch:
		if r.Err != nil || r.Resp.Status != pdu.StatusThrottled {
			t.Fatalf("result %+v, want the member's ESME_RTHROTTLED", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no result")
	}
}

// TestNotSentGoesElsewhere: a message a member's connection closed on
// before writing it goes to the next member, without counting as an
// attempt; with none, the client hears it was never sent.
func TestNotSentGoesElsewhere(t *testing.T) {
	t.Parallel()
	a, b := &dying{fakeMember: newFake("a", true)}, newFake("b", true)
	var reasons []string
	g := NewGroup(GroupConfig{Mode: ActiveStandby, Members: []Weighted{{a, 1}, {b, 1}}, MaxAttempts: 1,
		OnFailover: func(_, reason string) { reasons = append(reasons, reason) }})
	defer g.Stop()
	r := submit(t, g, "")
	if r.Err != nil || r.Resp.Status != pdu.StatusOK || r.Member != "b" || r.Attempts != 1 {
		t.Fatalf("result %+v, want ROK from b in 1 attempt", r)
	}
	if len(reasons) != 1 || reasons[0] != "not_sent" {
		t.Fatalf("failovers %v", reasons)
	}

	alone := NewGroup(GroupConfig{Members: []Weighted{{&dying{fakeMember: newFake("a", true)}, 1}}, QueueTimeout: 20 * time.Millisecond})
	defer alone.Stop()
	if r := submit(t, alone, ""); !errors.Is(r.Err, ErrNoMember) {
		t.Fatalf("alone: result %+v, want ErrNoMember", r)
	}
}

// dying is a fakeMember whose connection closes before it writes anything.
type dying struct{ *fakeMember }

type notSentErr struct{}

func (notSentErr) Error() string { return "closed before writing" }
func (notSentErr) NotSent() bool { return true }

func (m *dying) Submit(ctx context.Context, raw []byte, done func(pdu.Frame, error)) error {
	m.sent.Add(1)
	done(pdu.Frame{}, fmt.Errorf("bind 0: %w", notSentErr{}))
	return nil
}

// throttling is a fakeMember that answers ESME_RTHROTTLED while left is
// positive, then ESME_ROK.
type throttling struct {
	*fakeMember
	left atomic.Int64
}

func (m *throttling) Submit(ctx context.Context, raw []byte, done func(pdu.Frame, error)) error {
	m.sent.Add(1)
	st := pdu.StatusOK
	if m.left.Add(-1) >= 0 {
		st = pdu.StatusThrottled
	}
	done(pdu.Frame{Header: pdu.Header{ID: pdu.SubmitSMResp, Status: st}}, nil)
	return nil
}

func TestOtherStatusNotRetried(t *testing.T) {
	t.Parallel()
	a, b := newFake("a", true), newFake("b", true)
	a.status.Store(uint32(pdu.StatusInvDstAdr))
	g := NewGroup(GroupConfig{Mode: ActiveStandby, Members: []Weighted{{a, 1}, {b, 1}}})
	defer g.Stop()
	r := submit(t, g, "")
	if r.Resp.Status != pdu.StatusInvDstAdr || r.Member != "a" || b.sent.Load() != 0 {
		t.Fatalf("result %+v; b sent %d", r, b.sent.Load())
	}
}

func TestAttemptsBounded(t *testing.T) {
	t.Parallel()
	var ms []Weighted
	for _, n := range []string{"a", "b", "c", "d"} {
		m := newFake(n, true)
		m.status.Store(uint32(pdu.StatusSysErr))
		ms = append(ms, Weighted{m, 1})
	}
	g := NewGroup(GroupConfig{Members: ms, MaxAttempts: 2})
	defer g.Stop()
	r := submit(t, g, "")
	if r.Attempts != 2 || r.Resp.Status != pdu.StatusSysErr {
		t.Fatalf("result %+v, want 2 attempts ending ESME_RSYSERR", r)
	}
}

func TestQueueTimeoutWhenNoMember(t *testing.T) {
	t.Parallel()
	g := NewGroup(GroupConfig{Members: []Weighted{{newFake("a", false), 1}}, QueueTimeout: 50 * time.Millisecond})
	defer g.Stop()
	ch := make(chan Result, 1)
	g.Submit(Request{Raw: pdu.Empty(pdu.SubmitSM, 0, 0)}, func(r Result) { ch <- r })
	select {
	case r := <-ch:
		if !errors.Is(r.Err, ErrNoMember) || r.Attempts != 0 {
			t.Fatalf("result %+v, want ErrNoMember", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("queued message never answered")
	}
}

// TestQueueTimeoutBeforeDeadline: a message waits for a member at most the
// group's queue timeout, even when its own deadline is later.
func TestQueueTimeoutBeforeDeadline(t *testing.T) {
	t.Parallel()
	g := NewGroup(GroupConfig{Members: []Weighted{{newFake("a", false), 1}}, QueueTimeout: 50 * time.Millisecond})
	defer g.Stop()
	ch := make(chan Result, 1)
	g.Submit(Request{Raw: pdu.Empty(pdu.SubmitSM, 0, 0), Deadline: time.Now().Add(time.Hour)}, func(r Result) { ch <- r })
	select {
	case r := <-ch:
		if !errors.Is(r.Err, ErrNoMember) {
			t.Fatalf("result %+v, want ErrNoMember", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("queued message kept waiting past the queue timeout")
	}
}

func TestQueuedMessageTakenWhenMemberReturns(t *testing.T) {
	t.Parallel()
	a := newFake("a", false)
	g := NewGroup(GroupConfig{Members: []Weighted{{a, 1}}, QueueTimeout: time.Minute})
	defer g.Stop()
	ch := make(chan Result, 1)
	g.Submit(Request{Raw: pdu.Empty(pdu.SubmitSM, 0, 0)}, func(r Result) { ch <- r })
	a.healthy.Store(true)
	select {
	case r := <-ch:
		if r.Err != nil || r.Member != "a" {
			t.Fatalf("result %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("queued message never sent")
	}
}

func TestStickyKeepsParts(t *testing.T) {
	t.Parallel()
	a, b := newFake("a", true), newFake("b", true)
	g := NewGroup(GroupConfig{Members: []Weighted{{a, 1}, {b, 1}}})
	defer g.Stop()
	for ref := range 50 {
		key := string(rune('A' + ref))
		first := submit(t, g, key).Member
		for range 4 {
			if got := submit(t, g, key).Member; got != first {
				t.Fatalf("part of %q went to %s, first part to %s", key, got, first)
			}
		}
	}
	if a.sent.Load() == 0 || b.sent.Load() == 0 {
		t.Fatalf("sticky keys all landed on one member: %d / %d", a.sent.Load(), b.sent.Load())
	}
}

// fakeClock is a settable clock for breaker tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestBreakerOpensProbesAndRamps(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{now: time.Unix(1000, 0)}
	var changes []string
	var mu sync.Mutex
	b := newBreaker(BreakerConfig{Failures: 3, Cooldown: time.Second, Probes: 2, SlowStart: 10 * time.Second}, clk.Now,
		func(from, to BreakerState) {
			mu.Lock()
			changes = append(changes, from.String()+">"+to.String())
			mu.Unlock()
		})
	factor := func() float64 { _, f := b.view(); return f }
	if f := factor(); f != 1 {
		t.Fatalf("fresh breaker weight factor %v", f)
	}
	for range 3 {
		b.record(false, false)
	}
	if b.State() != BreakerOpen || factor() != 0 {
		t.Fatalf("state %v after 3 failures", b.State())
	}
	if ok, _ := b.allow(); ok {
		t.Fatal("open breaker allowed traffic")
	}
	clk.Add(time.Second)
	ok1, p1 := b.allow()
	ok2, p2 := b.allow()
	ok3, _ := b.allow()
	if !ok1 || !p1 || !ok2 || !p2 || ok3 {
		t.Fatalf("half-open allowed %v %v %v, want two probes", ok1, ok2, ok3)
	}
	b.record(true, true)
	b.record(true, true)
	if b.State() != BreakerClosed {
		t.Fatalf("state %v after two good probes", b.State())
	}
	if f := factor(); f < 0.09 || f > 0.11 {
		t.Fatalf("weight factor right after closing %v, want 0.1", f)
	}
	clk.Add(5 * time.Second)
	if f := factor(); f < 0.5 || f > 0.6 {
		t.Fatalf("weight factor half way %v, want 0.55", f)
	}
	clk.Add(5 * time.Second)
	if f := factor(); f != 1 {
		t.Fatalf("weight factor after slow start %v", f)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"closed>open", "open>half_open", "half_open>closed"}
	if len(changes) != len(want) {
		t.Fatalf("changes %v, want %v", changes, want)
	}
	for i := range want {
		if changes[i] != want[i] {
			t.Fatalf("changes %v, want %v", changes, want)
		}
	}
}

func TestBreakerErrorRate(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{now: time.Unix(1000, 0)}
	b := newBreaker(BreakerConfig{Failures: 100, ErrorRate: 0.5, MinRequests: 10}, clk.Now, nil)
	for i := range 9 {
		b.record(i%2 == 0, false)
	}
	if b.State() != BreakerClosed {
		t.Fatal("opened below MinRequests")
	}
	b.record(false, false)
	if b.State() != BreakerOpen {
		t.Fatalf("state %v at 50%% errors over 10 outcomes", b.State())
	}
}

func TestHalfOpenFailureReopens(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{now: time.Unix(1000, 0)}
	b := newBreaker(BreakerConfig{Failures: 1, Cooldown: time.Second}, clk.Now, nil)
	b.record(false, false)
	clk.Add(time.Second)
	if ok, probe := b.allow(); !ok || !probe {
		t.Fatal("no probe after cooldown")
	}
	b.record(false, true)
	if b.State() != BreakerOpen {
		t.Fatalf("state %v after a failed probe", b.State())
	}
}

func BenchmarkOrderWeighted(b *testing.B) {
	g := NewGroup(GroupConfig{Members: []Weighted{{newFake("a", true), 3}, {newFake("b", true), 1}, {newFake("c", true), 2}}})
	var buf [8]int
	b.ReportAllocs()
	for b.Loop() {
		_ = g.order(buf[:0], 0, "")
	}
}

func BenchmarkOrderAdaptive(b *testing.B) {
	g := NewGroup(GroupConfig{Mode: Adaptive, Members: []Weighted{{newFake("a", true), 3}, {newFake("b", true), 1}, {newFake("c", true), 2}}})
	var buf [8]int
	b.ReportAllocs()
	for b.Loop() {
		_ = g.order(buf[:0], 0, "")
	}
}

func BenchmarkSubmit(b *testing.B) {
	g := NewGroup(GroupConfig{Members: []Weighted{{newFake("a", true), 3}, {newFake("b", true), 1}}})
	defer g.Stop()
	raw := pdu.Empty(pdu.SubmitSM, 0, 0)
	done := func(Result) {}
	b.ReportAllocs()
	for b.Loop() {
		g.Submit(Request{Raw: raw, Deadline: time.Unix(1<<40, 0)}, done)
	}
}

// orderedMember records the sequence numbers of the messages it takes.
type orderedMember struct {
	*fakeMember
	mu  sync.Mutex
	got []uint32
}

func (m *orderedMember) Submit(ctx context.Context, raw []byte, done func(pdu.Frame, error)) error {
	if m.full.Load() {
		return errors.New("window full")
	}
	m.mu.Lock()
	m.got = append(m.got, binary.BigEndian.Uint32(raw[12:16]))
	m.mu.Unlock()
	return m.fakeMember.Submit(ctx, raw, done)
}

// TestInOrderWaitsBehindQueued: a request marked InOrder does not overtake
// one waiting in the group's queue, even when a member has room the moment
// it arrives; one that is not marked does.
func TestInOrderWaitsBehindQueued(t *testing.T) {
	for _, inOrder := range []bool{true, false} {
		synctest.Test(t, func(t *testing.T) {
			a := &orderedMember{fakeMember: newFake("a", true)}
			a.full.Store(true)
			g := NewGroup(GroupConfig{Members: []Weighted{{a, 1}}, QueueTimeout: time.Minute})
			defer g.Stop()
			var wg sync.WaitGroup
			wg.Add(2)
			done := func(r Result) {
				if r.Err != nil {
					t.Errorf("result %+v", r)
				}
				wg.Done()
			}
			g.Submit(Request{Raw: pdu.Empty(pdu.SubmitSM, 0, 1), InOrder: inOrder}, done)
			synctest.Wait() // the first waits in the queue for room
			a.full.Store(false)
			g.Submit(Request{Raw: pdu.Empty(pdu.SubmitSM, 0, 2), InOrder: inOrder}, done)
			wg.Wait()
			want := []uint32{1, 2}
			if !inOrder {
				want = []uint32{2, 1}
			}
			a.mu.Lock()
			defer a.mu.Unlock()
			if fmt.Sprint(a.got) != fmt.Sprint(want) {
				t.Errorf("InOrder %v: sent %v, want %v", inOrder, a.got, want)
			}
		})
	}
}
