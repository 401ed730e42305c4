package dlr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/redistest"
)

func openRedis(t testing.TB, addr string, instance int, mod func(*RedisConfig)) *RedisStore {
	t.Helper()
	cfg := RedisConfig{Addrs: []string{addr}, Instance: instance, LeaseTTL: time.Second}
	if mod != nil {
		mod(&cfg)
	}
	s, err := OpenRedis(cfg)
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
	m := Mapping{Upstream: "carrier-a", UpstreamID: "abc123",
		Origin: Origin{SystemID: "shop", ClientID: "00ff", Session: 7, Submitted: 42}, Expires: time.Now().Add(time.Hour)}
	putSync(t, a, m)
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
	putSync(t, a, old)
	if _, ok, err := b.Get("carrier-a", "dead"); ok || err != nil {
		t.Fatalf("expired mapping found: %v %v", ok, err)
	}
}

func TestRedisInstanceIDIsExclusive(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	a := openRedis(t, r.Addr, 5, func(c *RedisConfig) { c.LeaseTTL = 300 * time.Millisecond })
	_, err := OpenRedis(RedisConfig{Addrs: []string{r.Addr}, Instance: 5, LeaseTTL: 300 * time.Millisecond})
	if !errors.Is(err, ErrInstanceInUse) {
		t.Fatalf("second open of instance 5: %v, want ErrInstanceInUse", err)
	}
	// Closing gives the id up at once.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	openRedis(t, r.Addr, 5, func(c *RedisConfig) { c.LeaseTTL = 300 * time.Millisecond })
}

func addSync(t *testing.T, s Store, systemID, text string) (*Item, error) {
	t.Helper()
	it := &Item{Raw: pdu.Request(pdu.DeliverSM, 0, []byte(text)), Origin: 3, At: time.Now()}
	errc := make(chan error, 1)
	s.AddOutbox(systemID, it, func(err error) { errc <- err })
	return it, <-errc
}

func TestRedisOutboxStreamAndLease(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	a := openRedis(t, r.Addr, 1, func(c *RedisConfig) { c.MaxItems = 3 })
	b := openRedis(t, r.Addr, 2, nil)
	var seqs []uint64
	for _, s := range []string{"one", "two", "three"} {
		it, err := addSync(t, a, "shop", s)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, it.Seq)
	}
	if _, err := addSync(t, a, "shop", "four"); !errors.Is(err, ErrOutboxFull) {
		t.Fatalf("fourth item in an outbox of 3: %v, want ErrOutboxFull", err)
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
	if g, _ := a.Lease("shop"); g != LeaseKept {
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
	receivers := func(bound *bool, rc *countingReceiver) func(string) []Receiver {
		return func(string) []Receiver {
			mu.Lock()
			defer mu.Unlock()
			if *bound {
				return []Receiver{rc}
			}
			return nil
		}
	}
	oa := NewOutbox(OutboxConfig{Store: sa, Receivers: receivers(&boundA, recvA)})
	defer oa.Close()
	ob := NewOutbox(OutboxConfig{Store: sb, Receivers: receivers(&boundB, recvB)})
	defer ob.Close()
	ob.Wake("shop") // a session of shop binds on B

	enqueue := func(o *Outbox, text string) {
		errc := make(chan error, 1)
		o.Enqueue("shop", &Item{Raw: pdu.Request(pdu.DeliverSM, 0, []byte(text))}, func(err error) { errc <- err })
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
	recvA := &judgingReceiver{window: 5, got: got, judge: func(int, string) (pdu.Status, error) { return pdu.StatusOK, nil }}
	recvB := &judgingReceiver{window: 5, got: got, judge: func(_ int, body string) (pdu.Status, error) {
		switch body {
		case "0003":
			return pdu.StatusXPAppn, nil // never
		case "0007":
			return pdu.StatusXTAppn, nil
		}
		return pdu.StatusOK, nil
	}}
	receivers := func(a bool, rc Receiver) func(string) []Receiver {
		return func(string) []Receiver {
			mu.Lock()
			defer mu.Unlock()
			if onA == a {
				return []Receiver{rc}
			}
			return nil
		}
	}
	dead := make(chan *DeadLetter, 10)
	oa := NewOutbox(OutboxConfig{Store: sa, Receivers: receivers(true, recvA)})
	defer oa.Close()
	// B would retry 0007 in an hour.
	ob := NewOutbox(OutboxConfig{Store: sb, Receivers: receivers(false, recvB), RetryMin: time.Hour,
		OnDeadLetter: func(_ string, d *DeadLetter) { dead <- d }})
	defer ob.Close()
	ob.Wake("shop")
	enqueueAll(t, oa, "shop", 10)
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
		if string(d.Raw[pdu.HeaderLen:]) != "0003" || d.Refusals != 1 || d.Reason != ReasonNever {
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

// TestRedisSentinel finds the master through a Sentinel.
func TestRedisSentinel(t *testing.T) {
	t.Parallel()
	master := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, "smppmux-test", master)
	s := openRedis(t, sentinel.Addr, 1, func(c *RedisConfig) { c.MasterName = "smppmux-test" })
	m := Mapping{Upstream: "u", UpstreamID: "1", Origin: Origin{SystemID: "shop", ClientID: "a"}, Expires: time.Now().Add(time.Hour)}
	putSync(t, s, m)
	// Straight from the master: the write went there.
	direct := openRedis(t, master.Addr, 2, nil)
	if route, ok, err := direct.Get("u", "1"); !ok || err != nil || route != m.Origin {
		t.Fatalf("Get on the master = %+v %v %v", route, ok, err)
	}
}

// TestRedisSentinelFailover: a master with two replicas dies and the
// Sentinel promotes one of them. A mapping written with wait_replicas 2
// before the master died is on both replicas, so on the promoted one
// whichever it is. Writes fail while the new master has fewer replicas
// than wait_replicas, and work again once a new replica follows it,
// without reopening the store.
//
// This test once lost its mapping, with wait_replicas 1 and the
// Sentinel's down-after-milliseconds at 300. Its events showed why: the
// Sentinel lost its link to the replica it had just promoted for more
// than 300 ms, failed over again, and again, each time promoting the
// other replica, which may be in the middle of a full resync, its data
// not yet loaded. And with wait_replicas 1 of 2, a write is certain only
// on one replica: the Sentinel picks the replica to promote by the
// replication offsets it last saw, best effort.
func TestRedisSentinelFailover(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	set := startSentinelSet(t, ctx)
	viaSentinel := set.via(2)
	s := openRedis(t, set.sentinel.Addr, 1, viaSentinel)
	before := Mapping{Upstream: "u", UpstreamID: "before", Origin: Origin{SystemID: "shop", ClientID: "b"}, Expires: time.Now().Add(time.Hour)}
	putSync(t, s, before)

	set.master.Kill()
	promoted := set.awaitSwitch(t, ctx)

	// The new master has one replica, the other: a write is refused.
	after := Mapping{Upstream: "u", UpstreamID: "after", Origin: Origin{SystemID: "shop", ClientID: "a"}, Expires: time.Now().Add(time.Hour)}
	if err := putMapping(s, after); err == nil {
		t.Fatal("a write was acknowledged by one replica when wait_replicas asks for two")
	}
	// A second replica follows the new master: writes work again once
	// the store's client has followed the switch and the replica has the
	// data. A write is tried again until it lands, as a client sends
	// again a submit it had no answer for.
	redistest.StartReplica(t, promoted)
	retry := time.NewTicker(50 * time.Millisecond)
	defer retry.Stop()
	var failed int
	for {
		err := putMapping(s, after)
		if err == nil {
			break
		}
		failed++
		select {
		case <-retry.C:
		case <-ctx.Done():
			t.Fatalf("writes still failing after the failover (%d tries): %v", failed, err)
		}
	}
	t.Logf("%d writes failed before the store followed the switch", failed)
	// A second instance, opened after the failover, reads both from the
	// promoted replica, not from a memory of what it wrote.
	other := openRedis(t, set.sentinel.Addr, 2, viaSentinel)
	for _, m := range []Mapping{before, after} {
		if route, ok, err := other.Get(m.Upstream, m.UpstreamID); !ok || err != nil || route != m.Origin {
			t.Fatalf("Get %s after the failover = %+v %v %v", m.UpstreamID, route, ok, err)
		}
	}
}

// sentinelSet is a master with two replicas and a Sentinel watching it
// under name.
type sentinelSet struct {
	name     string
	master   *redistest.Server
	replicas []*redistest.Server
	sentinel *redistest.Server
	switched <-chan *redis.Message // the Sentinel's +switch-master
}

// startSentinelSet starts a sentinelSet whose Sentinel calls the master
// down after a second of silence: a shorter delay made it fail over
// again, and again, right after a failover (see TestRedisSentinelFailover).
func startSentinelSet(t *testing.T, ctx context.Context) *sentinelSet {
	t.Helper()
	set := &sentinelSet{name: "smppmux-failover", master: redistest.Start(t)}
	// Either may become the master: it sends its data to a new replica
	// at once, not after the 5 s Redis waits by default for others.
	host, port, _ := net.SplitHostPort(set.master.Addr)
	for range 2 {
		set.replicas = append(set.replicas, redistest.Start(t, "--replicaof", host, port, "--repl-diskless-sync-delay", "0"))
	}
	// The Sentinel learns of the replicas from the master's INFO when it
	// connects: they must be attached first.
	mc := redis.NewClient(&redis.Options{Addr: set.master.Addr})
	defer mc.Close()
	if err := mc.Set(ctx, "attached", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := mc.Do(ctx, "WAIT", 2, 20000).Int(); err != nil || n != 2 {
		t.Fatalf("replicas not attached: WAIT = %d, %v", n, err)
	}
	set.sentinel = redistest.StartSentinel(t, set.name, set.master, "down-after-milliseconds 1000", "failover-timeout 5000")
	sc := redis.NewClient(&redis.Options{Addr: set.sentinel.Addr})
	t.Cleanup(func() { sc.Close() })
	sub := sc.Subscribe(ctx, "+switch-master")
	t.Cleanup(func() { sub.Close() })
	if _, err := sub.Receive(ctx); err != nil { // the subscription's confirmation
		t.Fatal(err)
	}
	set.switched = sub.Channel()
	return set
}

// via makes a store find the master through the Sentinel, every write
// waiting for replicas.
func (set *sentinelSet) via(replicas int) func(*RedisConfig) {
	return func(c *RedisConfig) {
		c.MasterName = set.name
		c.WaitReplicas, c.WaitTimeout = replicas, time.Second
	}
}

// awaitSwitch waits for the Sentinel to promote a replica and returns it.
func (set *sentinelSet) awaitSwitch(t *testing.T, ctx context.Context) *redistest.Server {
	t.Helper()
	select {
	case msg := <-set.switched:
		// "<name> <old ip> <old port> <new ip> <new port>"
		f := strings.Fields(msg.Payload)
		if len(f) != 5 || f[0] != set.name {
			t.Fatalf("+switch-master %q", msg.Payload)
		}
		to := net.JoinHostPort(f[3], f[4])
		for _, r := range set.replicas {
			if r.Addr == to {
				return r
			}
		}
		t.Fatalf("switched to %s, not to a replica (%s, %s)", to, set.replicas[0].Addr, set.replicas[1].Addr)
	case <-ctx.Done():
		t.Fatal("no +switch-master from the Sentinel")
	}
	return nil
}

// BenchmarkRedisPutMapping64 writes mappings from 64 concurrent writers,
// each waiting for its write, as client sessions do.
func BenchmarkRedisPutMapping64(b *testing.B) {
	benchRedisPutMapping64(b, func(i int) string { return strconv.FormatInt(int64(i), 16) })
}

// BenchmarkRedisPutMappingUpper64 is BenchmarkRedisPutMapping64 with ids
// in upper case, as many SMSCs write them: each is also listed under its
// folded form.
func BenchmarkRedisPutMappingUpper64(b *testing.B) {
	benchRedisPutMapping64(b, func(i int) string { return strings.ToUpper(strconv.FormatInt(int64(i)+0xA000, 16)) })
}

func benchRedisPutMapping64(b *testing.B, upstreamID func(int) string) {
	s := openRedis(b, redistest.Start(b).Addr, 1, nil)
	exp := time.Now().Add(time.Hour)
	start := time.Now()
	writers64(b, func(i int, put func(error), wait func()) {
		id := upstreamID(i)
		s.PutMapping(Mapping{Upstream: "carrier-a", UpstreamID: id,
			Origin: Origin{SystemID: "shop", ClientID: id, Session: 1}, Expires: exp}, put)
		wait()
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "puts/s")
}

// BenchmarkRedisMessage does what the store does for one relayed message
// and its receipt: mapping write, lookup, outbox add, outbox delete, from
// 64 concurrent writers. The outbox item is 180 zero octets, which the
// store does not take for a receipt.
func BenchmarkRedisMessage(b *testing.B) {
	benchRedisMessage(b, func(int) []byte { return make([]byte, 180) })
}

// BenchmarkRedisMessageReceipt is BenchmarkRedisMessage with a receipt as
// the outbox item, which the store keys by its content and adds behind a
// fence (redis_limbo.go).
func BenchmarkRedisMessageReceipt(b *testing.B) {
	benchRedisMessage(b, receiptPDU)
}

func benchRedisMessage(b *testing.B, item func(int) []byte) {
	s := openRedis(b, redistest.Start(b).Addr, 1, nil)
	exp := time.Now().Add(time.Hour)
	start, cpu0 := time.Now(), cpuTime()
	writers64(b, func(i int, put func(error), wait func()) {
		id := strconv.FormatInt(int64(i), 16)
		s.PutMapping(Mapping{Upstream: "carrier-a", UpstreamID: id,
			Origin: Origin{SystemID: "shop", ClientID: id, Session: 1}, Expires: exp}, put)
		wait()
		if _, ok, err := s.Get("carrier-a", id); !ok || err != nil {
			b.Error("mapping not found", err)
		}
		it := &Item{Raw: item(i), At: time.Now()}
		s.AddOutbox("shop", it, put)
		wait()
		if err := s.DeleteOutbox("shop", it.Seq); err != nil {
			b.Error(err)
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
}

// TestRedisRestart: while Redis is down writes fail (the callers answer
// with an error status, so the SMSC sends again) instead of hanging; once
// a new, empty Redis is up on the same address the store works again, its
// scripts loaded again and its instance number claimed again.
func TestRedisRestart(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	s := openRedis(t, r.Addr, 1, nil)
	if _, err := addSync(t, s, "shop", "before"); err != nil {
		t.Fatal(err)
	}
	r.Kill()
	if _, err := addSync(t, s, "shop", "while down"); err == nil {
		t.Fatal("an outbox write succeeded with Redis down")
	}
	r.Revive()
	if _, err := addSync(t, s, "shop", "after"); err != nil {
		t.Fatalf("outbox write after the restart: %v", err)
	}
	m := Mapping{Upstream: "u", UpstreamID: "9", Origin: Origin{SystemID: "shop", ClientID: "x"}, Expires: time.Now().Add(time.Hour)}
	putSync(t, s, m)
	if _, ok, err := s.Get("u", "9"); !ok || err != nil {
		t.Fatalf("Get after the restart = %v %v", ok, err)
	}
	if items, err := s.Pending("shop", 0, 10); err != nil || len(items) != 1 || string(items[0].Raw[pdu.HeaderLen:]) != "after" {
		t.Fatalf("Pending after the restart = %d items, %v", len(items), err)
	}
	// The keeper claims the instance number again (a Redis that lost its
	// data does not remember it); then a second process with it is refused.
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if v, _ := s.c.Get(t.Context(), s.instanceKey()).Result(); v == s.token {
			break
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("the instance number was never claimed again")
		}
	}
	other, err := OpenRedis(RedisConfig{Addrs: []string{r.Addr}, Instance: 1, LeaseTTL: time.Second})
	if err == nil {
		other.Close()
	}
	if !errors.Is(err, ErrInstanceInUse) {
		t.Fatalf("second process with instance 1 after the restart: %v, want ErrInstanceInUse", err)
	}
}

// TestRedisCluster runs the store on a three-master Redis Cluster: the
// scripts that touch a client's outbox and lease find their keys on one
// slot thanks to the {system_id} hash tag.
func TestRedisCluster(t *testing.T) {
	t.Parallel()
	addrs := redistest.StartCluster(t, 3)
	open := func(instance int) *RedisStore {
		s, err := OpenRedis(RedisConfig{Addrs: addrs, Instance: instance, LeaseTTL: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	a, b := open(1), open(2)
	for i := range 50 {
		m := Mapping{Upstream: "carrier", UpstreamID: strconv.Itoa(i), Origin: Origin{SystemID: "shop", ClientID: "c" + strconv.Itoa(i)},
			Expires: time.Now().Add(time.Hour)}
		putSync(t, a, m)
		if got, ok, err := b.ByClient("shop", m.ClientID); !ok || err != nil || got.UpstreamID != m.UpstreamID {
			t.Fatalf("ByClient %s = %+v %v %v", m.ClientID, got, ok, err)
		}
	}
	events := make(chan string, 100)
	b.Watch(func(id string) { events <- id })
	for _, client := range []string{"shop", "bank", "news"} {
		it, err := addSync(t, a, client, "hello "+client)
		if err != nil {
			t.Fatalf("AddOutbox %s: %v", client, err)
		}
		if items, err := b.Pending(client, 0, 10); err != nil || len(items) != 1 {
			t.Fatalf("Pending %s = %d items, %v", client, len(items), err)
		}
		if g, err := a.Lease(client); !g.Ours() || err != nil {
			t.Fatalf("Lease %s = %v %v", client, g, err)
		}
		if g, _ := b.Lease(client); g.Ours() {
			t.Fatalf("two leases on %s", client)
		}
		// The dead letter scripts touch the outbox, the lease and the
		// dead letters of the client: one slot.
		if _, err := bury(a, client, it, ReasonRefused); err != nil {
			t.Fatalf("dead letter of %s: %v", client, err)
		}
		if back, err := b.RequeueDeadLetters(client, 10); err != nil || len(back) != 1 {
			t.Fatalf("RequeueDeadLetters %s = %d, %v", client, len(back), err)
		}
		a.Release(client)
	}
	// The release of each lease reaches b as an event.
	seen := make(map[string]bool)
	for len(seen) < 3 {
		select {
		case id := <-events:
			if g, _ := b.Lease(id); g.Ours() {
				seen[id] = true
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("leases released and taken over: %v", seen)
		}
	}
}
