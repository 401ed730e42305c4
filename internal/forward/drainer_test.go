package forward

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/smppmux/smppmux/balancer"
	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/memstore"
	"github.com/smppmux/smppmux/dlr/storetest"
	"github.com/smppmux/smppmux/internal/pdu"
)

// fakeGroup answers each submit with the reply its script gives the
// message's client id, on a goroutine of its own, and keeps what it was
// sent.
type fakeGroup struct {
	mu       sync.Mutex
	script   func(clientID string, try int) balancer.Result
	tries    map[string]int
	sent     []string // client ids, in order of Submit
	inflight int
	most     int
}

func (g *fakeGroup) submit(req balancer.Request, done func(balancer.Result)) {
	var sm pdu.SM
	_ = pdu.ParseSM(req.Raw[pdu.HeaderLen:], &sm)
	id := string(sm.ShortMessage)
	g.mu.Lock()
	g.tries[id]++
	try := g.tries[id]
	g.sent = append(g.sent, id)
	g.inflight++
	g.most = max(g.most, g.inflight)
	g.mu.Unlock()
	go func() {
		res := g.script(id, try)
		g.mu.Lock()
		g.inflight--
		g.mu.Unlock()
		done(res)
	}()
}

func ok(member string) balancer.Result {
	return balancer.Result{Member: member, Resp: pdu.Frame{Header: pdu.Header{ID: pdu.SubmitSMResp}, Raw: pdu.MessageIDResp(pdu.SubmitSMResp, pdu.StatusOK, 1, "up1")}}
}

func status(st pdu.Status) balancer.Result {
	raw := pdu.Empty(pdu.SubmitSMResp, st, 1)
	return balancer.Result{Member: "m", Resp: pdu.Frame{Header: pdu.ParseHeader(raw), Raw: raw}}
}

// settled is what Settle was told; it removes each message from st.
type settled struct {
	st  dlr.QueueStore
	mu  sync.Mutex
	out map[string]Outcome
}

func (s *settled) settle(m *dlr.Queued, o Outcome, _ balancer.Result, done func(error)) {
	s.mu.Lock()
	s.out[m.ClientID] = o
	s.mu.Unlock()
	s.st.Settle(m, done)
}

func (s *settled) get() map[string]Outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.out)
}

// queue enqueues messages of client shop whose text is their client id.
func queue(t *testing.T, st dlr.QueueStore, now time.Time, expires time.Time, ids ...string) {
	t.Helper()
	for _, id := range ids {
		m := storetest.Queued("g", "shop", id, now, expires)
		m.Raw = pdu.Request(pdu.SubmitSM, 0, pdu.AppendSM(nil, &pdu.SM{DestAddr: []byte("4477"), SourceAddr: []byte("Shop"), ShortMessage: []byte(id)}))
		storetest.EnqueueSync(t, st, m)
	}
}

// TestDrainerOutcomes: each SMSC answer leads to its outcome; a message
// throttled, or that found no member, is put back and sent again, in its
// place; one whose outcome is unknown is never sent again.
func TestDrainerOutcomes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := memstore.New(nil)
		now := time.Now()
		queue(t, st, now, time.Time{}, "ok", "throttled", "nomember", "rejected", "timeout")
		g := &fakeGroup{tries: map[string]int{}, script: func(id string, try int) balancer.Result {
			switch {
			case id == "throttled" && try < 3:
				return status(pdu.StatusThrottled)
			case id == "nomember" && try == 1:
				return balancer.Result{Err: balancer.ErrNoMember}
			case id == "rejected":
				return status(pdu.StatusInvDstAdr)
			case id == "timeout":
				return balancer.Result{Member: "m", Err: errors.New("response timeout")}
			}
			return ok("m")
		}}
		s := &settled{st: st, out: map[string]Outcome{}}
		d := New(Config{Group: "g", Store: st, Submit: g.submit, InFlight: 10, Settle: s.settle})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); d.Run(ctx) }()
		want := map[string]Outcome{"ok": Sent, "throttled": Sent, "nomember": Sent, "rejected": Rejected, "timeout": Unknown}
		for len(s.get()) < len(want) {
			time.Sleep(10 * time.Millisecond) // fake time in the bubble: the drainer's backoff runs meanwhile
		}
		synctest.Wait()
		if got := s.get(); !maps.Equal(got, want) {
			t.Fatalf("outcomes %v, want %v", got, want)
		}
		g.mu.Lock()
		tries := maps.Clone(g.tries)
		g.mu.Unlock()
		if tries["timeout"] != 1 || tries["rejected"] != 1 || tries["throttled"] != 3 || tries["nomember"] != 2 {
			t.Fatalf("tries %v: want timeout and rejected once, throttled 3 times, nomember twice", tries)
		}
		if n, _, _ := st.QueueLen("g"); n != 0 {
			t.Fatalf("queue holds %d after every outcome", n)
		}
		cancel()
		<-done
	})
}

// TestDrainerInFlightAndOrder: no more than InFlight messages are out at
// once, and they go in the order queued.
func TestDrainerInFlightAndOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := memstore.New(nil)
		var ids []string
		for i := range 50 {
			ids = append(ids, fmt.Sprintf("m%02d", i))
		}
		queue(t, st, time.Now(), time.Time{}, ids...)
		g := &fakeGroup{tries: map[string]int{}, script: func(string, int) balancer.Result {
			time.Sleep(time.Millisecond)
			return ok("m")
		}}
		s := &settled{st: st, out: map[string]Outcome{}}
		d := New(Config{Group: "g", Store: st, Submit: g.submit, InFlight: 4, Settle: s.settle})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); d.Run(ctx) }()
		for len(s.get()) < len(ids) {
			time.Sleep(time.Millisecond)
		}
		cancel()
		<-done
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.most > 4 {
			t.Fatalf("%d in flight at once, want at most 4", g.most)
		}
		if !slices.Equal(g.sent, ids) {
			t.Fatalf("sent %v, want %v", g.sent, ids)
		}
	})
}

// TestDrainerExpiry: a message past its expiry is never sent, even while
// the group has no member (nothing is taken for sending then).
func TestDrainerExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := memstore.New(nil)
		now := time.Now()
		queue(t, st, now, now.Add(30*time.Second), "short")
		queue(t, st, now, time.Time{}, "long")
		g := &fakeGroup{tries: map[string]int{}, script: func(string, int) balancer.Result { return ok("m") }}
		var up sync.Mutex
		available := false
		s := &settled{st: st, out: map[string]Outcome{}}
		d := New(Config{Group: "g", Store: st, Submit: g.submit, InFlight: 4, Settle: s.settle,
			Available: func() bool { up.Lock(); defer up.Unlock(); return available }})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); d.Run(ctx) }()
		time.Sleep(31 * time.Second)
		synctest.Wait()
		if got := s.get(); !maps.Equal(got, map[string]Outcome{"short": Expired}) {
			t.Fatalf("after 31s without a member: %v, want short expired alone", got)
		}
		up.Lock()
		available = true
		up.Unlock()
		for len(s.get()) < 2 {
			time.Sleep(100 * time.Millisecond)
		}
		cancel()
		<-done
		g.mu.Lock()
		defer g.mu.Unlock()
		if !slices.Equal(g.sent, []string{"long"}) {
			t.Fatalf("sent %v, want long alone", g.sent)
		}
	})
}

// orphanStore is a memstore whose Orphans returns what it is given, once.
type orphanStore struct {
	*memstore.Store
	mu      sync.Mutex
	orphans []*dlr.Queued
}

func (o *orphanStore) Orphans(string) ([]*dlr.Queued, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	ms := o.orphans
	o.orphans = nil
	return ms, nil
}

// give makes ms orphans: taken by a process that ended.
func (o *orphanStore) give(ms []*dlr.Queued) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.orphans = append(o.orphans, ms...)
}

// TestDrainerOrphans: what a process that ended had taken is settled
// UNKNOWN, never sent.
func TestDrainerOrphans(t *testing.T) {
	st := &orphanStore{Store: memstore.New(nil)}
	queue(t, st, time.Now(), time.Time{}, "a")
	st.give(storetest.TakeAll(t, st, "g", 1))
	g := &fakeGroup{tries: map[string]int{}}
	s := &settled{st: st, out: map[string]Outcome{}}
	d := New(Config{Group: "g", Store: st, Submit: g.submit, Settle: s.settle})
	if err := d.Orphans(); err != nil {
		t.Fatal(err)
	}
	if got := s.get(); !maps.Equal(got, map[string]Outcome{"a": Unknown}) || len(g.sent) != 0 {
		t.Fatalf("outcomes %v, sent %v; want a unknown, nothing sent", got, g.sent)
	}
	if err := d.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestDrainerOrphansWhileRunning: with OrphansEvery, the messages of a
// process that ended while the drainer runs (an instance sharing the
// store, killed and not started again) are settled UNKNOWN within that
// period, never sent; without it, only Orphans before Run finds any.
func TestDrainerOrphansWhileRunning(t *testing.T) {
	for _, every := range []time.Duration{0, 10 * time.Second} {
		t.Run(fmt.Sprint(every), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := &orphanStore{Store: memstore.New(nil)}
				queue(t, st, time.Now(), time.Time{}, "a", "b")
				taken := storetest.TakeAll(t, st, "g", 2) // by the other instance
				g := &fakeGroup{tries: map[string]int{}}
				s := &settled{st: st, out: map[string]Outcome{}}
				d := New(Config{Group: "g", Store: st, Submit: g.submit, Settle: s.settle, OrphansEvery: every})
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { defer close(done); d.Run(ctx) }()
				stop := func() { cancel(); <-done }
				defer stop()
				synctest.Wait()
				st.give(taken) // the other instance ended
				time.Sleep(every + time.Second)
				synctest.Wait()
				want := map[string]Outcome{"a": Unknown, "b": Unknown}
				if every == 0 {
					want = map[string]Outcome{}
				}
				if got := s.get(); !maps.Equal(got, want) {
					t.Fatalf("%v after the other instance ended: outcomes %v, want %v", every+time.Second, got, want)
				}
				stop()
				g.mu.Lock()
				defer g.mu.Unlock()
				if len(g.sent) != 0 {
					t.Fatalf("sent %v, want nothing", g.sent)
				}
				if n, _, _ := st.QueueLen("g"); n != 2-len(want) {
					t.Fatalf("queue holds %d, want %d", n, 2-len(want))
				}
			})
		})
	}
}
