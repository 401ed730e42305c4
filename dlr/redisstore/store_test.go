package redisstore

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/storetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/redistest"
)

func openRedis(t testing.TB, addr string, instance int, mod func(*Config)) *Store {
	t.Helper()
	cfg := Config{Addrs: []string{addr}, Instance: instance, LeaseTTL: time.Second}
	if mod != nil {
		mod(&cfg)
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestRedisMappings(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	a := openRedis(t, r.Addr, 1, nil)
	b := openRedis(t, r.Addr, 2, nil)
	m := dlr.Mapping{Upstream: "carrier-a", UpstreamID: "abc123",
		Origin: dlr.Origin{SystemID: "shop", ClientID: "00ff", Session: 7, Submitted: 42}, Expires: time.Now().Add(time.Hour)}
	storetest.PutSync(t, a, m)
	// Written by one instance, read by the other.
	route, ok, err := b.Get("carrier-a", "abc123")
	if err != nil || !ok || route != m.Origin {
		t.Fatalf("Get = %+v %v %v, want %+v", route, ok, err, m.Origin)
	}
	got, ok, err := b.ByClient("shop", "00ff")
	if err != nil || !ok || got.Upstream != m.Upstream || got.UpstreamID != m.UpstreamID || got.Origin != m.Origin ||
		!got.Expires.Equal(m.Expires) {
		t.Fatalf("ByClient = %+v %v %v, want %+v", got, ok, err, m)
	}
	if _, ok, err := b.Get("carrier-b", "abc123"); ok || err != nil {
		t.Fatalf("other upstream's id found: %v %v", ok, err)
	}
	// An expired mapping is gone even before Redis drops the key.
	old := m
	old.UpstreamID, old.ClientID, old.Expires = "dead", "dead", time.Now().Add(-time.Second)
	storetest.PutSync(t, a, old)
	if _, ok, err := b.Get("carrier-a", "dead"); ok || err != nil {
		t.Fatalf("expired mapping found: %v %v", ok, err)
	}
}

func TestRedisInstanceIDIsExclusive(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	a := openRedis(t, r.Addr, 5, func(c *Config) { c.LeaseTTL = 300 * time.Millisecond })
	_, err := Open(Config{Addrs: []string{r.Addr}, Instance: 5, LeaseTTL: 300 * time.Millisecond})
	if !errors.Is(err, ErrInstanceInUse) {
		t.Fatalf("second open of instance 5: %v, want ErrInstanceInUse", err)
	}
	// Closing gives the id up at once.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	openRedis(t, r.Addr, 5, func(c *Config) { c.LeaseTTL = 300 * time.Millisecond })
}

func TestRedisOutboxStreamAndLease(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	a := openRedis(t, r.Addr, 1, func(c *Config) { c.MaxItems = 3 })
	b := openRedis(t, r.Addr, 2, nil)
	var seqs []uint64
	for _, s := range []string{"one", "two", "three"} {
		it, err := storetest.AddSync(t, a, "shop", s)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, it.Seq)
	}
	if _, err := storetest.AddSync(t, a, "shop", "four"); !errors.Is(err, dlr.ErrOutboxFull) {
		t.Fatalf("fourth item in an outbox of 3: %v, want dlr.ErrOutboxFull", err)
	}
	items, err := b.Pending("shop", 0, 10)
	if err != nil || len(items) != 3 {
		t.Fatalf("Pending = %d items, %v", len(items), err)
	}
	for i, it := range items {
		if it.Seq != seqs[i] || it.Origin != 3 || string(it.Raw[pdu.HeaderLen:]) != []string{"one", "two", "three"}[i] {
			t.Fatalf("item %d = seq %d origin %d %q", i, it.Seq, it.Origin, it.Raw[pdu.HeaderLen:])
		}
	}
	if n, oldest, err := b.OutboxLen("shop"); n != 3 || err != nil || oldest.IsZero() || time.Since(oldest) > time.Minute {
		t.Fatalf("OutboxLen = %d %v %v", n, oldest, err)
	}
	if n, oldest, err := b.OutboxLen("nobody"); n != 0 || err != nil || !oldest.IsZero() {
		t.Fatalf("OutboxLen of an empty outbox = %d %v %v", n, oldest, err)
	}
	if rest, _ := b.Pending("shop", seqs[0], 10); len(rest) != 2 || rest[0].Seq != seqs[1] {
		t.Fatalf("Pending after the first = %d items", len(rest))
	}
	// One lease holder at a time; a release hands it over.
	if g, err := a.Lease("shop"); !g.Ours() || err != nil {
		t.Fatalf("a.Lease = %v %v", g, err)
	}
	if g, err := b.Lease("shop"); g.Ours() || err != nil {
		t.Fatalf("b.Lease while a holds it = %v %v", g, err)
	}
	if g, _ := a.Lease("shop"); g != dlr.LeaseKept {
		t.Fatal("a could not renew its lease")
	}
	if err := a.DeleteOutbox("shop", seqs[0]); err != nil {
		t.Fatal(err)
	}
	a.Release("shop")
	// The release is written after the delete; wait for its event.
	events := make(chan string, 8)
	b.Watch(func(id string) { events <- id })
	deadline := time.After(10 * time.Second)
	for {
		if g, _ := b.Lease("shop"); g.Ours() {
			break
		}
		select {
		case <-events:
		case <-deadline:
			t.Fatal("b never got the lease a released")
		}
	}
	if rest, _ := b.Pending("shop", 0, 10); len(rest) != 2 {
		t.Fatalf("after the delete Pending = %d items, want 2", len(rest))
	}
}

// TestRedisSharedOutboxes runs two outboxes on two instances of the same
// Redis: items added on A are delivered by B while the client is bound only
// to B, then by A once it moves, each exactly once and in order.
func TestRedisSharedOutboxes(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	sa := openRedis(t, r.Addr, 1, nil)
	sb := openRedis(t, r.Addr, 2, nil)
	delivered := make(chan string, 1000)
	var mu sync.Mutex
	boundA, boundB := false, true
	// A session that went away refuses deliveries, as a closed one does.
	isBound := func(b *bool) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			return *b
		}
	}
	recvA := &countingReceiver{id: 1, name: "A:", got: delivered, bound: isBound(&boundA)}
	recvB := &countingReceiver{id: 2, name: "B:", got: delivered, bound: isBound(&boundB)}
	receivers := func(bound *bool, rc *countingReceiver) func(string) []dlr.Receiver {
		return func(string) []dlr.Receiver {
			mu.Lock()
			defer mu.Unlock()
			if *bound {
				return []dlr.Receiver{rc}
			}
			return nil
		}
	}
	oa := dlr.NewOutbox(dlr.OutboxConfig{Store: sa, Receivers: receivers(&boundA, recvA)})
	defer oa.Close()
	ob := dlr.NewOutbox(dlr.OutboxConfig{Store: sb, Receivers: receivers(&boundB, recvB)})
	defer ob.Close()
	ob.Wake("shop") // a session of shop binds on B

	enqueue := func(o *dlr.Outbox, text string) {
		errc := make(chan error, 1)
		o.Enqueue("shop", &dlr.Item{Raw: pdu.Request(pdu.DeliverSM, 0, []byte(text))}, func(err error) { errc <- err })
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	expect := func(prefix string, from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			select {
			case got := <-delivered:
				if want := fmt.Sprintf("%s%04d", prefix, i); got != want {
					t.Fatalf("delivered %s, want %s", got, want)
				}
			case <-time.After(15 * time.Second):
				t.Fatalf("item %d never delivered", i)
			}
		}
	}
	for i := range 200 {
		enqueue(oa, fmt.Sprintf("%04d", i))
	}
	expect("B:", 0, 200)

	// The client leaves B and binds on A.
	mu.Lock()
	boundB, boundA = false, true
	mu.Unlock()
	ob.Wake("shop")
	oa.Wake("shop")
	for i := 200; i < 400; i++ {
		enqueue(ob, fmt.Sprintf("%04d", i))
	}
	expect("A:", 200, 400)
	select {
	case extra := <-delivered:
		t.Fatalf("delivered %s more than once or out of turn", extra)
	default:
	}
	if n := recvA.count() + recvB.count(); n != 400 {
		t.Fatalf("%d deliveries for 400 items", n)
	}
}

// TestRedisSharedOutboxRefusals: on a shared outbox, an item the client
// refuses for good becomes a dead letter while the others are delivered
// once each; an item refused and set aside by one instance stays in the
// stream, and the instance that takes the lease over delivers it.
func TestRedisSharedOutboxRefusals(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	sa := openRedis(t, r.Addr, 1, nil)
	sb := openRedis(t, r.Addr, 2, nil)
	got := make(chan string, 100)
	var mu sync.Mutex
	onA := false
	recvA := &storetest.JudgingReceiver{Window: 5, Got: got, Judge: func(int, string) (pdu.Status, error) { return pdu.StatusOK, nil }}
	recvB := &storetest.JudgingReceiver{Window: 5, Got: got, Judge: func(_ int, body string) (pdu.Status, error) {
		switch body {
		case "0003":
			return 0x65, nil // ESME_RX_P_APPN: never
		case "0007":
			return pdu.StatusXTAppn, nil
		}
		return pdu.StatusOK, nil
	}}
	receivers := func(a bool, rc dlr.Receiver) func(string) []dlr.Receiver {
		return func(string) []dlr.Receiver {
			mu.Lock()
			defer mu.Unlock()
			if onA == a {
				return []dlr.Receiver{rc}
			}
			return nil
		}
	}
	dead := make(chan *dlr.DeadLetter, 10)
	oa := dlr.NewOutbox(dlr.OutboxConfig{Store: sa, Receivers: receivers(true, recvA)})
	defer oa.Close()
	// B would retry 0007 in an hour.
	ob := dlr.NewOutbox(dlr.OutboxConfig{Store: sb, Receivers: receivers(false, recvB), RetryMin: time.Hour,
		OnDeadLetter: func(_ string, d *dlr.DeadLetter) { dead <- d }})
	defer ob.Close()
	ob.Wake("shop")
	storetest.EnqueueAll(t, oa, "shop", 10)
	deadline := time.After(15 * time.Second)
	seen := map[string]int{}
	for len(seen) < 8 {
		select {
		case body := <-got:
			seen[body]++
		case <-deadline:
			t.Fatalf("delivered by B: %v", seen)
		}
	}
	select {
	case d := <-dead:
		if string(d.Raw[pdu.HeaderLen:]) != "0003" || d.Refusals != 1 || d.Reason != dlr.ReasonNever {
			t.Fatalf("dead letter %q after %d refusals", d.Raw[pdu.HeaderLen:], d.Refusals)
		}
	case <-deadline:
		t.Fatal("0003 never became a dead letter")
	}
	if list, err := sa.DeadLetters("shop", 0, 10); err != nil || len(list) != 1 {
		t.Fatalf("dead letters seen from A: %d, %v", len(list), err)
	}

	// The client moves to A: 0007, set aside on B, is A's to deliver.
	mu.Lock()
	onA = true
	mu.Unlock()
	ob.Wake("shop")
	oa.Wake("shop")
	select {
	case body := <-got:
		if body != "0007" {
			t.Fatalf("A delivered %s, want 0007", body)
		}
		seen[body]++
	case <-deadline:
		t.Fatal("0007 never delivered after the lease moved")
	}
	for body, n := range seen {
		if n != 1 {
			t.Errorf("%s accepted %d times", body, n)
		}
	}
	if _, ok := seen["0003"]; ok || len(seen) != 9 {
		t.Errorf("accepted %v, want all but 0003", seen)
	}
}

// countingReceiver accepts every delivery and reports it, named, on got in
// the order it was handed out.
type countingReceiver struct {
	id    uint64
	name  string
	got   chan<- string
	bound func() bool
	mu    sync.Mutex
	n     int
}

var errGone = errors.New("session closed")

func (r *countingReceiver) ID() uint64             { return r.id }
func (r *countingReceiver) DeliverWindowFree() int { return 1 }
func (r *countingReceiver) Deliver(b []byte, done func(pdu.Frame, error)) error {
	if !r.bound() {
		return errGone
	}
	r.mu.Lock()
	r.n++
	r.got <- r.name + string(b[pdu.HeaderLen:])
	r.mu.Unlock()
	go done(pdu.Frame{Header: pdu.Header{ID: pdu.DeliverSMResp, Status: pdu.StatusOK}}, nil)
	return nil
}

func (r *countingReceiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}
