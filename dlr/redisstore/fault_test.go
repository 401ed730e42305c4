package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/storetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/redistest"
)

// Outages of Redis while a shared outbox delivers: each receipt goes out
// once, none is lost, and delivery goes on by itself once Redis is back.

// storetest.ReceiptPDU is the receipt numbered n, as an SMSC writes one.
// receiptNumber is the id a storetest.ReceiptPDU carries.
func receiptNumber(raw []byte) string {
	var sm pdu.SM
	if err := pdu.ParseSM(raw[pdu.HeaderLen:], &sm); err != nil {
		return "unreadable"
	}
	id, _, _ := strings.Cut(strings.TrimPrefix(string(sm.ShortMessage), "id:"), " ")
	return id
}

// tallyReceiver is a client session that counts what it is given, by
// receipt id, and answers each delivery ESME_ROK, at once or, while
// holding, when the test releases it.
type tallyReceiver struct {
	id     uint64
	window int
	events chan string // the id of each delivery

	mu       sync.Mutex
	bound    bool
	holding  bool
	inflight int
	held     []func(pdu.Frame, error)
	got      map[string]int
}

func newTallyReceiver(id uint64, window int, holding bool) *tallyReceiver {
	return &tallyReceiver{id: id, window: window, events: make(chan string, 10000), bound: true, holding: holding,
		got: make(map[string]int)}
}

func (r *tallyReceiver) ID() uint64 { return r.id }

func (r *tallyReceiver) DeliverWindowFree() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.window - r.inflight
}

func (r *tallyReceiver) Deliver(b []byte, done func(pdu.Frame, error)) error {
	r.mu.Lock()
	if !r.bound || r.inflight >= r.window {
		r.mu.Unlock()
		return errGone
	}
	id := receiptNumber(b)
	r.got[id]++
	r.inflight++
	hold := r.holding
	if hold {
		r.held = append(r.held, done)
	}
	r.mu.Unlock()
	r.events <- id
	if !hold {
		go r.answer(done)
	}
	return nil
}

func (r *tallyReceiver) answer(done func(pdu.Frame, error)) {
	r.mu.Lock()
	r.inflight--
	r.mu.Unlock()
	done(pdu.Frame{Header: pdu.Header{ID: pdu.DeliverSMResp, Status: pdu.StatusOK}}, nil)
}

// release answers what is held and stops holding; unbind also makes the
// session go away, as a client that leaves after answering.
func (r *tallyReceiver) release(unbind bool) {
	r.mu.Lock()
	held := r.held
	r.held, r.holding = nil, false
	if unbind {
		r.bound = false
	}
	r.mu.Unlock()
	for _, done := range held {
		r.answer(done)
	}
}

// list is the Receivers of an outbox whose client has this one session.
func (r *tallyReceiver) list(string) []dlr.Receiver {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bound {
		return []dlr.Receiver{r}
	}
	return nil
}

// await waits for n more deliveries.
func (r *tallyReceiver) await(t *testing.T, n int, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for i := 0; i < n; i++ {
		select {
		case <-r.events:
		case <-deadline:
			t.Fatalf("%d of %d deliveries in %s", i, n, d)
		}
	}
}

// counts is how many times each id was delivered, by any of rs.
func counts(rs ...*tallyReceiver) map[string]int {
	all := make(map[string]int)
	for _, r := range rs {
		r.mu.Lock()
		for id, n := range r.got {
			all[id] += n
		}
		r.mu.Unlock()
	}
	return all
}

// enqueueReceipts queues the receipts numbered from to to-1 in o.
func enqueueReceipts(t *testing.T, o *dlr.Outbox, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		errc := make(chan error, 1)
		o.Enqueue("shop", &dlr.Item{Raw: storetest.ReceiptPDU(i)}, func(err error) { errc <- err })
		if err := <-errc; err != nil {
			t.Fatalf("receipt %d: %v", i, err)
		}
	}
}

// awaitOnce waits until the receipts numbered 0 to n-1 were each
// delivered by rs and the outbox is empty, then checks that none was
// delivered twice.
func awaitOnce(t *testing.T, s *Store, n int, d time.Duration, rs ...*tallyReceiver) {
	t.Helper()
	var got map[string]int
	var left int
	var err error
	if !poll(20*time.Millisecond, d, func() bool {
		got = counts(rs...)
		left, _, err = s.OutboxLen("shop")
		return len(got) >= n && err == nil && left == 0
	}) {
		t.Fatalf("after %s: %d of %d receipts delivered, %d items left in the outbox (%v)", d, len(got), n, left, err)
	}
	got = counts(rs...)
	var twice []string
	for i := range n {
		id := fmt.Sprintf("%06d", i)
		switch got[id] {
		case 0:
			t.Errorf("receipt %s never delivered", id)
		case 1:
		default:
			twice = append(twice, fmt.Sprintf("%s×%d", id, got[id]))
		}
	}
	if len(got) != n {
		t.Errorf("%d ids delivered for %d receipts: %v", len(got), n, got)
	}
	if len(twice) > 0 {
		t.Errorf("delivered more than once: %s", strings.Join(twice, " "))
	}
}

// waitLog waits for a log line whose message contains text.
func waitLog(t *testing.T, logs *observer.ObservedLogs, text string, d time.Duration) {
	t.Helper()
	if !poll(10*time.Millisecond, d, func() bool { return logs.FilterMessageSnippet(text).Len() > 0 }) {
		t.Fatalf("no log line %q in %s", text, d)
	}
}

// poll calls cond every every until it holds, and reports whether it
// held within d.
func poll(every, d time.Duration, cond func() bool) bool {
	tick := time.NewTicker(every)
	defer tick.Stop()
	deadline := time.After(d)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			return false
		}
	}
	return true
}

// handOver starts an outbox on a with n receipts for "shop", whose client
// holds the first 10 unanswered (released as recvA.release says), then an
// outbox on b, whose client is bound there.
func handOver(t *testing.T, a, b *Store, n int) (recvA, recvB *tallyReceiver) {
	t.Helper()
	recvA = newTallyReceiver(1, 10, true)
	recvB = newTallyReceiver(2, 10, false)
	oa := dlr.NewOutbox(dlr.OutboxConfig{Store: a, Receivers: recvA.list})
	t.Cleanup(oa.Close)
	oa.Wake("shop")
	enqueueReceipts(t, oa, 0, n)
	recvA.await(t, 10, 10*time.Second)
	ob := dlr.NewOutbox(dlr.OutboxConfig{Store: b, Receivers: recvB.list})
	t.Cleanup(ob.Close)
	ob.Wake("shop")
	return recvA, recvB
}

// TestRedisOutboxKilledMidDelivery: Redis dies while the client holds
// deliveries unanswered; it answers them ESME_ROK, so their removals fail,
// and Redis comes back on its data after the lease lapsed. The outbox goes
// on by itself and every receipt is delivered once: the delivered items
// are removed, not delivered again.
func TestRedisOutboxKilledMidDelivery(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	core, logs := observer.New(zap.InfoLevel)
	s := openRedis(t, r.Addr, 1, func(c *Config) { c.Logger = zap.New(core) })
	recv := newTallyReceiver(1, 10, true)
	o := dlr.NewOutbox(dlr.OutboxConfig{Store: s, Receivers: recv.list, Logger: zap.New(core)})
	defer o.Close()
	o.Wake("shop")
	const n = 40
	enqueueReceipts(t, o, 0, n)
	recv.await(t, 10, 10*time.Second) // a window's worth, unanswered
	r.Kill()
	recv.release(false)
	waitLog(t, logs, "removing", 10*time.Second)
	// Down longer than a lease lives (1s).
	<-time.After(1500 * time.Millisecond)
	r.Restart()
	awaitOnce(t, s, n, 30*time.Second, recv)
}

// TestRedisReceiptAddedOnceWhenAnswerLost: Redis hangs (SIGSTOP) while a
// receipt is being added: the add fails for want of an answer, yet Redis
// carries it out when it resumes. The SMSC, told to send it again, does so
// until it is taken: the outbox holds it once.
func TestRedisReceiptAddedOnceWhenAnswerLost(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	s := openRedis(t, r.Addr, 1, nil)
	add := func(n int) error {
		errc := make(chan error, 1)
		s.AddOutbox("shop", &dlr.Item{Raw: storetest.ReceiptPDU(n), At: time.Now()}, func(err error) { errc <- err })
		return <-errc
	}
	if err := add(0); err != nil { // the writer's connection is open
		t.Fatal(err)
	}
	r.Pause()
	err := add(1)
	r.Resume()
	if err == nil {
		t.Fatal("an add with Redis stopped was answered")
	}
	t.Logf("add while Redis was stopped: %v", err)
	tries := 1
	if !poll(50*time.Millisecond, 30*time.Second, func() bool {
		if add(1) == nil {
			return true
		}
		tries++
		return false
	}) {
		t.Fatalf("receipt 1 refused %d times", tries)
	}
	items, err := s.Pending("shop", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, it := range items {
		ids = append(ids, receiptNumber(it.Raw))
	}
	if len(ids) != 2 || ids[0] != "000000" || ids[1] != "000001" {
		t.Fatalf("outbox holds %v after %d sendings of receipt 1, want [000000 000001]", ids, tries+1)
	}
}

// TestRedisOutboxPausedMidDelivery: Redis hangs while deliveries are
// answered and receipts arrive; their writes go unanswered. Once it
// resumes, every receipt, those sent again by the SMSC included, is
// delivered once.
func TestRedisOutboxPausedMidDelivery(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	s := openRedis(t, r.Addr, 1, nil)
	recv := newTallyReceiver(1, 10, true)
	o := dlr.NewOutbox(dlr.OutboxConfig{Store: s, Receivers: recv.list})
	defer o.Close()
	o.Wake("shop")
	const n = 40
	enqueueReceipts(t, o, 0, 30)
	recv.await(t, 10, 10*time.Second)
	r.Pause()
	recv.release(false)
	// Receipts 30 to 39 arrive while Redis hangs; the SMSC sends each
	// again until it is taken, as after ESME_RX_T_APPN.
	var wg sync.WaitGroup
	failed := make(chan int, n)
	for i := 30; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				errc := make(chan error, 1)
				o.Enqueue("shop", &dlr.Item{Raw: storetest.ReceiptPDU(i)}, func(err error) { errc <- err })
				if <-errc == nil {
					return
				}
				failed <- i
				<-tick.C
			}
		}()
	}
	// Resumed once some sendings have failed.
	select {
	case <-failed:
	case <-time.After(20 * time.Second):
		t.Fatal("no write failed while Redis was stopped")
	}
	r.Resume()
	wg.Wait()
	awaitOnce(t, s, n, 30*time.Second, recv)
}

// TestRedisOutboxLeaseTakenFromCutOffInstance: instance A, cut off from
// Redis (its packets held), has delivered items its client accepted and
// cannot remove them; the client moves to B. B takes the lease once A's
// lapses, and waits a grace before reading: A's removals, through as soon
// as its network heals within the grace, land first. Each receipt is
// delivered once, by A or by B.
func TestRedisOutboxLeaseTakenFromCutOffInstance(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	px := redistest.NewProxy(t, r.Addr)
	ttl := func(c *Config) { c.LeaseTTL = 3 * time.Second }
	sa := openRedis(t, px.Addr, 1, ttl)
	sb := openRedis(t, r.Addr, 2, ttl)
	const n = 40
	recvA, recvB := handOver(t, sa, sb, n)

	px.Block()
	recvA.release(true) // accepted; the client leaves A for B
	// A's network heals once B holds the lease A could not renew.
	if !poll(10*time.Millisecond, 20*time.Second, func() bool {
		v, _ := sb.c.Get(context.Background(), sb.leaseKey("shop")).Result()
		return v == sb.token
	}) {
		t.Fatal("B never took the lease A let lapse")
	}
	px.Unblock()
	awaitOnce(t, sb, n, 30*time.Second, recvA, recvB)
}

// TestRedisLeaseGrants: how a lease was had tells whether what was read
// under an earlier holding is still valid and whether a lapsed holder may
// still be removing what it delivered.
func TestRedisLeaseGrants(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	a := openRedis(t, r.Addr, 1, nil)
	b := openRedis(t, r.Addr, 2, nil)
	ctx := context.Background()
	lease := func(s *Store, want dlr.LeaseGrant) {
		t.Helper()
		if g, err := s.Lease("shop"); g != want || err != nil {
			t.Fatalf("Lease = %v, %v; want %v", g, err, want)
		}
	}
	lapse := func() { // as when Redis was unreachable longer than the lease lives
		t.Helper()
		if err := a.c.Del(ctx, a.leaseKey("shop")).Err(); err != nil {
			t.Fatal(err)
		}
	}
	released := func(s *Store) {
		t.Helper()
		s.Release("shop")
		if !poll(10*time.Millisecond, 10*time.Second, func() bool {
			return s.c.Exists(ctx, s.leaseKey("shop"), s.holderKey("shop")).Val() == 0
		}) {
			t.Fatal("the release never took effect")
		}
	}
	lease(a, dlr.LeaseFree)
	lease(a, dlr.LeaseKept)
	lease(b, dlr.LeaseOther)
	lapse()
	lease(a, dlr.LeaseKept) // nobody held it in between
	lapse()
	lease(b, dlr.LeaseLapsed) // A may still be removing what it delivered
	lease(a, dlr.LeaseOther)
	released(b)
	lease(a, dlr.LeaseFree)
	// A lease that lapsed, then released by its holder (its removals
	// done), is free for the next.
	lapse()
	released(a)
	lease(b, dlr.LeaseFree)
}

// TestRedisReceiptLandingLateIsRefused: a receipt's add is held back by
// the network and fails for want of an answer; the network heals for new
// connections, the store looks for the receipt and does not find it, and
// the SMSC's copy is added. Then the held add reaches Redis, late, as TCP
// sends again what a dropped network lost: it is refused, and the outbox
// holds the receipt once.
func TestRedisReceiptLandingLateIsRefused(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	px := redistest.NewProxy(t, r.Addr)
	s := openRedis(t, px.Addr, 1, nil)
	add := func(n int) error {
		errc := make(chan error, 1)
		s.AddOutbox("shop", &dlr.Item{Raw: storetest.ReceiptPDU(n), At: time.Now()}, func(err error) { errc <- err })
		return <-errc
	}
	if err := add(0); err != nil {
		t.Fatal(err)
	}
	px.Block()
	if err := add(1); err == nil {
		t.Fatal("an add held back by the network was answered")
	}
	px.UnblockNew()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for add(1) != nil {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("the copy of receipt 1 was never taken")
		}
	}
	direct := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer direct.Close()
	px.Unblock()
	// The late add reaches Redis: refused (Redis counts the error), or
	// taken, a third item.
	var ids []string
	for {
		info, err := direct.Info(context.Background(), "errorstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		items, err := s.Pending("shop", 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		ids = ids[:0]
		for _, it := range items {
			ids = append(ids, receiptNumber(it.Raw))
		}
		if strings.Contains(info, "errorstat_FENCED:count=1") || len(ids) > 2 {
			break
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("the held add never reached Redis: outbox %v, %q", ids, info)
		}
	}
	if !slices.Equal(ids, []string{"000000", "000001"}) {
		t.Fatalf("outbox holds %v, want [000000 000001]", ids)
	}
}

// sendUntilTaken queues receipts from to to-1 in o, each sent again after
// a refusal until the outbox takes it, as an SMSC sends again a receipt
// answered ESME_RX_T_APPN.
func sendUntilTaken(o *dlr.Outbox, from, to int, d time.Duration) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(d)
	for i := from; i < to; i++ {
		for {
			errc := make(chan error, 1)
			o.Enqueue("shop", &dlr.Item{Raw: storetest.ReceiptPDU(i)}, func(err error) { errc <- err })
			if <-errc == nil {
				break
			}
			select {
			case <-tick.C:
			case <-deadline:
				return fmt.Errorf("receipt %d never taken in %s", i, d)
			}
		}
	}
	return nil
}

// TestRedisOutboxAfterEmptyRestart: Redis dies and comes back empty (no
// persistence). The outbox takes the lease again by itself and delivers
// what arrives from then on, once each.
func TestRedisOutboxAfterEmptyRestart(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	s := openRedis(t, r.Addr, 1, nil)
	recv := newTallyReceiver(1, 10, false)
	o := dlr.NewOutbox(dlr.OutboxConfig{Store: s, Receivers: recv.list})
	defer o.Close()
	o.Wake("shop")
	enqueueReceipts(t, o, 0, 20)
	recv.await(t, 20, 10*time.Second)
	r.Kill()
	r.Revive()
	if err := sendUntilTaken(o, 20, 40, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	awaitOnce(t, s, 40, 30*time.Second, recv)
}

// TestRedisSharedOutboxSentinelFailover: the master dies while the outbox
// delivers and receipts keep coming; the Sentinel promotes a replica.
// With wait_replicas 2 of 2, what was written and removed before is on
// the promoted replica; writes wait for a second replica to follow it.
// Every receipt is delivered once.
func TestRedisSharedOutboxSentinelFailover(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	set := startSentinelSet(t, ctx)
	s := openRedis(t, set.sentinel.Addr, 1, set.via(2))
	recv := newTallyReceiver(1, 10, false)
	o := dlr.NewOutbox(dlr.OutboxConfig{Store: s, Receivers: recv.list})
	defer o.Close()
	o.Wake("shop")
	const n = 200
	enqueueReceipts(t, o, 0, 100)
	recv.await(t, 50, 10*time.Second)
	set.master.Kill()
	sent := make(chan error, 1)
	go func() { sent <- sendUntilTaken(o, 100, n, 60*time.Second) }()
	redistest.StartReplica(t, set.awaitSwitch(t, ctx))
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	awaitOnce(t, s, n, 60*time.Second, recv)
}

// TestRedisSharedOutboxesKilledMidDelivery: two instances with sessions of
// the client share Redis; A holds the lease and its client has accepted
// deliveries when Redis dies, so A cannot remove them. Redis comes back
// on its data after the lease lapsed: A and B both reach for the lease.
// Whichever gets it, each receipt is delivered once: A going on where it
// was, or B after a grace in which A removes what it delivered.
func TestRedisSharedOutboxesKilledMidDelivery(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	ttl := func(c *Config) { c.LeaseTTL = 3 * time.Second }
	sa, sb := openRedis(t, r.Addr, 1, ttl), openRedis(t, r.Addr, 2, ttl)
	const n = 40
	recvA, recvB := handOver(t, sa, sb, n)
	r.Kill()
	recvA.release(false)
	// Down longer than the lease lives.
	<-time.After(4 * time.Second)
	r.Restart()
	awaitOnce(t, sa, n, 30*time.Second, recvA, recvB)
}
