package redisstore

import (
	"context"
	"errors"
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
	"github.com/smppmux/smppmux/internal/redistest"
)

// TestRedisQueueOrphans: a message taken before a restart of the instance
// is an orphan of the next process with its instance id, never taken
// again.
func TestRedisQueueOrphans(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	s := openRedis(t, r.Addr, 1, nil)
	storetest.CheckQueueOrphans(t, s, func() {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}, func() dlr.QueueStore {
		s = openRedis(t, r.Addr, 1, nil)
		return s
	}, time.Now())
}

// enqueueN queues n messages of group on s, of clients c0 to c4 in turn,
// with client ids prefix0, prefix1...
func enqueueN(t *testing.T, s *Store, group, prefix string, n int) {
	t.Helper()
	now := time.Now()
	for i := range n {
		m := storetest.Queued(group, fmt.Sprintf("c%d", i%5), fmt.Sprintf("%s%d", prefix, i), now, time.Time{})
		storetest.Wait(t, func(done func(error)) { s.Enqueue(m, 1<<20, done) })
	}
}

// TestRedisQueueSharedTake: two instances on one Redis take from one
// group's queue at the same time; every message is taken exactly once,
// and each instance takes each client's messages in their order.
func TestRedisQueueSharedTake(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	a := openRedis(t, r.Addr, 1, nil)
	b := openRedis(t, r.Addr, 2, nil)
	enqueueN(t, a, "g", "a", 1000)
	enqueueN(t, b, "g", "b", 1000)

	// Taken by one, not by the other.
	first := storetest.TakeAll(t, a, "g", 5)
	second := storetest.TakeAll(t, b, "g", 5)
	if len(first) != 5 || len(second) != 5 {
		t.Fatalf("took %d then %d, want 5 and 5", len(first), len(second))
	}
	for _, m := range second {
		if slices.ContainsFunc(first, func(f *dlr.Queued) bool { return f.Seq == m.Seq }) {
			t.Fatalf("%s taken by both instances", m.ClientID)
		}
	}

	start := make(chan struct{})
	var wg sync.WaitGroup
	taken := make([][]*dlr.Queued, 2)
	for i, s := range []*Store{a, b} {
		wg.Go(func() {
			<-start
			for {
				ms, err := s.Take("g", 16)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ms) == 0 {
					return
				}
				taken[i] = append(taken[i], ms...)
			}
		})
	}
	close(start)
	wg.Wait()
	taken[0] = append(first, taken[0]...)
	taken[1] = append(second, taken[1]...)
	t.Logf("instance 1 took %d, instance 2 took %d", len(taken[0]), len(taken[1]))
	seen := make(map[string]int)
	for _, ms := range taken {
		last := make(map[string]uint64)
		for _, m := range ms {
			seen[m.ClientID]++
			if m.Seq <= last[m.SystemID] {
				t.Fatalf("%s of %s (seq %d) taken after seq %d by the same instance", m.ClientID, m.SystemID, m.Seq, last[m.SystemID])
			}
			last[m.SystemID] = m.Seq
		}
	}
	for _, prefix := range []string{"a", "b"} {
		for i := range 1000 {
			if id := fmt.Sprintf("%s%d", prefix, i); seen[id] != 1 {
				t.Fatalf("%s taken %d times", id, seen[id])
			}
		}
	}
	if len(seen) != 2000 {
		t.Fatalf("%d messages taken, want 2000", len(seen))
	}
	if n, _, err := a.QueueLen("g"); n != 2000 || err != nil {
		t.Fatalf("QueueLen = %d, %v; want 2000, all taken", n, err)
	}
}

// TestRedisQueueBoundShared: two instances enqueue at once into a group
// bounded to 150 messages: 150 are stored, the others refused.
func TestRedisQueueBoundShared(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	stores := []*Store{openRedis(t, r.Addr, 1, nil), openRedis(t, r.Addr, 2, nil)}
	var mu sync.Mutex
	var stored, full int
	var wg sync.WaitGroup
	now := time.Now()
	for i, s := range stores {
		for j := range 200 {
			wg.Add(1)
			s.Enqueue(storetest.Queued("g", "shop", fmt.Sprintf("%d-%d", i, j), now, time.Time{}), 150, func(err error) {
				defer wg.Done()
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					stored++
				case errors.Is(err, dlr.ErrQueueFull):
					full++
				default:
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	if stored != 150 || full != 250 {
		t.Fatalf("%d stored, %d refused as full; want 150 and 250", stored, full)
	}
	if n, _, err := stores[1].QueueLen("g"); n != 150 || err != nil {
		t.Fatalf("QueueLen = %d, %v", n, err)
	}
}

// TestRedisQueueOrphansOfClosedInstance: what an instance took and did
// not settle is, once it has closed, handed over to one other instance,
// once, and never taken.
func TestRedisQueueOrphansOfClosedInstance(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	a := openRedis(t, r.Addr, 1, nil)
	b := openRedis(t, r.Addr, 2, nil)
	c := openRedis(t, r.Addr, 3, nil)
	enqueueN(t, a, "g", "m", 5)
	took := storetest.TakeAll(t, a, "g", 3)
	if o, err := b.Orphans("g"); len(o) != 0 || err != nil {
		t.Fatalf("Orphans = %v, %v while the instance that took them runs", storetest.QueuedIDs(o), err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	orphans, err := b.Orphans("g")
	if err != nil || !slices.Equal(sortedIDs(orphans), sortedIDs(took)) {
		t.Fatalf("Orphans = %v, %v; want %v", storetest.QueuedIDs(orphans), err, storetest.QueuedIDs(took))
	}
	for _, m := range orphans {
		if !m.Taken || string(m.Raw) == "" {
			t.Fatalf("orphan %+v", m)
		}
	}
	for _, s := range []*Store{b, c} {
		if o, err := s.Orphans("g"); len(o) != 0 || err != nil {
			t.Fatalf("Orphans again = %v, %v; each is handed over once", storetest.QueuedIDs(o), err)
		}
	}
	rest := storetest.TakeAll(t, c, "g", 10)
	if len(rest) != 2 || slices.ContainsFunc(rest, func(m *dlr.Queued) bool { return slices.Contains(sortedIDs(took), m.ClientID) }) {
		t.Fatalf("took %v after the hand over, want the two never taken", storetest.QueuedIDs(rest))
	}
	for _, m := range orphans {
		storetest.SettleSync(t, b, m)
	}
	if n, _, _ := c.QueueLen("g"); n != 2 {
		t.Fatalf("QueueLen = %d, want 2", n)
	}
}

func sortedIDs(ms []*dlr.Queued) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ClientID
	}
	slices.Sort(out)
	return out
}

// TestRedisQueueOrphansOfLapsedInstance: an instance that took messages
// stops renewing its instance id (killed, or cut off from Redis); once
// its instance key has lapsed, another instance is handed its messages.
func TestRedisQueueOrphansOfLapsedInstance(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	px := redistest.NewProxy(t, r.Addr)
	a := openRedis(t, px.Addr, 1, nil)
	b := openRedis(t, r.Addr, 2, nil)
	enqueueN(t, a, "g", "m", 4)
	took := storetest.TakeAll(t, a, "g", 2)
	px.Block()
	defer px.Unblock()
	var orphans []*dlr.Queued
	if !poll(50*time.Millisecond, 20*time.Second, func() bool {
		o, err := b.Orphans("g")
		if err != nil {
			t.Fatal(err)
		}
		orphans = append(orphans, o...)
		return len(orphans) >= 2
	}) {
		t.Fatalf("orphans %v of the instance cut off", storetest.QueuedIDs(orphans))
	}
	if !slices.Equal(sortedIDs(orphans), sortedIDs(took)) {
		t.Fatalf("Orphans = %v, want %v", storetest.QueuedIDs(orphans), storetest.QueuedIDs(took))
	}
	if v, _ := b.c.Get(context.Background(), b.cfg.Prefix+"instance:1").Result(); v == a.token {
		t.Fatal("handed over while the instance key still held its token")
	}
	if rest := storetest.TakeAll(t, b, "g", 10); len(rest) != 2 {
		t.Fatalf("took %v, want the two never taken", storetest.QueuedIDs(rest))
	}
}

// observed opens a store whose logs the test reads.
func observed(t *testing.T, addr string, instance int) (*Store, *observer.ObservedLogs) {
	core, logs := observer.New(zap.InfoLevel)
	return openRedis(t, addr, instance, func(c *Config) { c.Logger = zap.New(core) }), logs
}

// awaitHealthy waits until s reports itself healthy.
func awaitHealthy(t *testing.T, s *Store) {
	t.Helper()
	if !poll(20*time.Millisecond, 30*time.Second, func() bool { return s.Health() == nil }) {
		t.Fatalf("store still unhealthy: %v", s.Health())
	}
}

// undone returns the fields of the last log line of an undo.
func undone(t *testing.T, logs *observer.ObservedLogs) map[string]any {
	t.Helper()
	l := logs.FilterMessageSnippet("queue writes that had no answer undone").All()
	if len(l) == 0 {
		t.Fatal("no undo logged")
	}
	return l[len(l)-1].ContextMap()
}

// takeAllOnce takes everything left in g and checks that it is ids, each
// once.
func takeAllOnce(t *testing.T, s *Store, ids ...string) {
	t.Helper()
	got := storetest.TakeAll(t, s, "g", 100)
	if !slices.Equal(sortedIDs(got), ids) {
		t.Fatalf("took %v, want %v", storetest.QueuedIDs(got), ids)
	}
}

// TestRedisQueueTakeAnswerLost: Redis hangs (SIGSTOP) while a take is
// sent; the take fails for want of an answer, and Redis carries it out
// when it resumes. The store puts its messages back: none is lost, none
// handed out twice.
func TestRedisQueueTakeAnswerLost(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	s, logs := observed(t, r.Addr, 1)
	enqueueN(t, s, "g", "m", 5)
	r.Pause()
	ms, err := s.Take("g", 3)
	r.Resume()
	if err == nil {
		t.Fatalf("a take with Redis stopped returned %v", storetest.QueuedIDs(ms))
	}
	t.Logf("take while Redis was stopped: %v", err)
	awaitHealthy(t, s)
	if f := undone(t, logs); f["put_back"] != int64(3) {
		t.Fatalf("undo %v, want the 3 messages of the lost take put back", f)
	}
	takeAllOnce(t, s, "m0", "m1", "m2", "m3", "m4")
}

// TestRedisQueueTakeLandingLate: a take is held back by the network and
// fails; the network heals for new connections and the store raises its
// fence; then the held take reaches Redis: it is refused, and every
// message is taken once.
func TestRedisQueueTakeLandingLate(t *testing.T) {
	t.Parallel()
	s := landLate(t, func(s *Store) error {
		ms, err := s.Take("g", 3)
		if err == nil {
			t.Logf("took %v", storetest.QueuedIDs(ms))
		}
		return err
	}, func(s *Store, c *redis.Client) bool {
		return c.HLen(context.Background(), s.queueKeys("g").taken).Val() > 0
	})
	takeAllOnce(t, s, "m0", "m1", "m2", "m3", "m4")
}

// landLate queues five messages on a store that reaches Redis through a
// proxy, then runs write with the proxy holding everything back, and
// fails unless it fails. It lets new connections through until the store
// is healthy again (its undo done), then the held write, and waits until
// Redis refuses it as fenced or landed says it was carried out.
func landLate(t *testing.T, write func(*Store) error, landed func(*Store, *redis.Client) bool) *Store {
	t.Helper()
	r := redistest.Start(t)
	px := redistest.NewProxy(t, r.Addr)
	s := openRedis(t, px.Addr, 1, nil)
	enqueueN(t, s, "g", "m", 5)
	px.Block()
	if err := write(s); err == nil {
		t.Fatal("a write held back by the network was answered")
	}
	px.UnblockNew()
	awaitHealthy(t, s)
	px.Unblock()
	awaitFenced(t, r.Addr, func(c *redis.Client) bool { return landed(s, c) })
	return s
}

// awaitFenced waits until Redis has refused a write as fenced, or until
// landed says the held write was carried out.
func awaitFenced(t *testing.T, addr string, landed func(*redis.Client) bool) {
	t.Helper()
	direct := redis.NewClient(&redis.Options{Addr: addr})
	defer direct.Close()
	var info string
	if !poll(20*time.Millisecond, 30*time.Second, func() bool {
		info, _ = direct.Info(context.Background(), "errorstats").Result()
		return strings.Contains(info, "errorstat_FENCED:count=1") || landed(direct)
	}) {
		t.Fatalf("the held write never reached Redis: %q", info)
	}
}

// TestRedisQueueEnqueueAnswerLost: Redis hangs while a message is being
// enqueued, and stores it when it resumes; the client was refused, and
// will send it again, so the store removes it.
func TestRedisQueueEnqueueAnswerLost(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	s, logs := observed(t, r.Addr, 1)
	enqueueN(t, s, "g", "m", 3)
	r.Pause()
	errc := make(chan error, 1)
	s.Enqueue(storetest.Queued("g", "c0", "lost", time.Now(), time.Time{}), 100, func(err error) { errc <- err })
	err := <-errc
	r.Resume()
	if err == nil {
		t.Fatal("an enqueue with Redis stopped was answered")
	}
	awaitHealthy(t, s)
	if f := undone(t, logs); f["removed"] != int64(1) {
		t.Fatalf("undo %v, want the message removed", f)
	}
	if _, ok, err := s.FindQueued("c0", "lost"); ok || err != nil {
		t.Fatalf("FindQueued of the refused message = %v, %v", ok, err)
	}
	takeAllOnce(t, s, "m0", "m1", "m2")
}

// TestRedisQueueEnqueueLandingLate: an enqueue held back by the network
// reaches Redis after the store raised its fence: it is refused.
func TestRedisQueueEnqueueLandingLate(t *testing.T) {
	t.Parallel()
	s := landLate(t, func(s *Store) error {
		errc := make(chan error, 1)
		s.Enqueue(storetest.Queued("g", "c0", "late", time.Now(), time.Time{}), 100, func(err error) { errc <- err })
		return <-errc
	}, func(s *Store, c *redis.Client) bool {
		return c.HExists(context.Background(), s.queueKeys("g").ids, queueField("c0", "late")).Val()
	})
	if _, ok, err := s.FindQueued("c0", "late"); ok || err != nil {
		t.Fatalf("FindQueued of the refused message = %v, %v", ok, err)
	}
	takeAllOnce(t, s, "m0", "m1", "m2", "m3", "m4")
}

// TestRedisQueueCluster runs the queue on a three-master Redis Cluster:
// each script finds a group's keys, the clients' sorted sets included, on
// one slot thanks to the {group} hash tag; lookups by client id look in
// every group, whichever slot it is on.
func TestRedisQueueCluster(t *testing.T) {
	t.Parallel()
	addrs := redistest.StartCluster(t, 3)
	a, b := openCluster(t, addrs, 1), openCluster(t, addrs, 2)
	storetest.CheckQueue(t, a, time.Now())
	for _, g := range []string{"main", "bulk", "otp"} {
		storetest.EnqueueSync(t, a, storetest.Queued(g, "shop", "id-"+g, time.Now(), time.Time{}))
	}
	for _, g := range []string{"main", "bulk", "otp"} {
		m, ok, err := b.FindQueued("shop", "id-"+g)
		if !ok || err != nil || m.Group != g {
			t.Fatalf("FindQueued id-%s = %+v, %v, %v", g, m, ok, err)
		}
	}
	took := storetest.TakeAll(t, b, "otp", 10)
	if len(took) != 1 || took[0].ClientID != "id-otp" {
		t.Fatalf("took %v", storetest.QueuedIDs(took))
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if o, err := a.Orphans("otp"); len(o) != 1 || err != nil {
		t.Fatalf("Orphans = %v, %v", storetest.QueuedIDs(o), err)
	}
	if m, ok, err := a.CancelQueued("shop", "id-bulk"); !ok || err != nil || m.Taken {
		t.Fatalf("CancelQueued = %+v, %v, %v", m, ok, err)
	}
}

// TestRedisQueuePutBackLandingLate: a put back is held back by the
// network and fails; once new connections go through, the store does it
// again. The messages are taken again, and then the held put back reaches
// Redis: it leaves them taken, as their stamps are no longer the ones it
// carries (else they would be handed out twice).
func TestRedisQueuePutBackLandingLate(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	px := redistest.NewProxy(t, r.Addr)
	s := openRedis(t, px.Addr, 1, nil)
	enqueueN(t, s, "g", "m", 5)
	took := storetest.TakeAll(t, s, "g", 3)
	px.Block()
	if err := s.PutBack(took); err == nil {
		t.Fatal("a put back held back by the network was answered")
	}
	px.UnblockNew()
	awaitHealthy(t, s)
	takeAllOnce(t, s, "m0", "m1", "m2", "m3", "m4")
	direct := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer direct.Close()
	calls := func() string {
		info, _ := direct.Info(context.Background(), "commandstats").Result()
		for l := range strings.SplitSeq(info, "\r\n") {
			if strings.HasPrefix(l, "cmdstat_evalsha:") {
				calls, _, _ := strings.Cut(strings.TrimPrefix(l, "cmdstat_evalsha:calls="), ",")
				return calls
			}
		}
		return ""
	}
	before := calls()
	px.Unblock()
	if !poll(20*time.Millisecond, 30*time.Second, func() bool { return calls() != before }) {
		t.Fatal("the held put back never reached Redis")
	}
	if again := storetest.TakeAll(t, s, "g", 10); len(again) != 0 {
		t.Fatalf("took %v again after the held put back landed", storetest.QueuedIDs(again))
	}
	if n := direct.HLen(context.Background(), s.queueKeys("g").taken).Val(); n != 5 {
		t.Fatalf("%d messages taken, want 5", n)
	}
}

// TestRedisQueueEvents: an instance hears when a group's queue, with
// nothing to take, gets a message to take on another instance, queued or
// put back; not for each message queued behind others.
func TestRedisQueueEvents(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	a := openRedis(t, r.Addr, 1, nil)
	b := openRedis(t, r.Addr, 2, nil)
	events := make(chan string, 10)
	a.WatchQueues(func(group string) { events <- group })
	next := func(want string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case g := <-events:
				if g == "probe" {
					continue // a late one of the subscription's check
				}
				if g != want {
					t.Fatalf("event for %q, want %q", g, want)
				}
				return
			case <-deadline:
				t.Fatalf("no event for %q", want)
			}
		}
	}
	// The subscription is live once an event comes through it.
	if !poll(20*time.Millisecond, 10*time.Second, func() bool {
		enqueueN(t, b, "probe", "p", 1)
		storetest.SettleSync(t, b, storetest.TakeAll(t, b, "probe", 1)[0])
		select {
		case <-events:
			return true
		default:
			return false
		}
	}) {
		t.Fatal("WatchQueues heard nothing")
	}
	enqueueN(t, b, "g", "m", 2) // the second is queued behind the first
	next("g")
	took := storetest.TakeAll(t, b, "g", 10)
	if err := b.PutBack(took); err != nil {
		t.Fatal(err)
	}
	next("g")
	storetest.TakeAll(t, b, "g", 10)
	enqueueN(t, b, "other", "o", 1)
	next("other") // had the second message or a put back into a queue with messages told, it would come first
	select {
	case g := <-events:
		if g != "probe" {
			t.Fatalf("extra event for %q", g)
		}
	default:
	}
}

// TestRedisQueueSettleAfterEmptyRestart: Redis restarts without its data
// while a message is taken, and numbers new messages from 1 again; the
// settling of the message taken before does not remove the new message
// that has its number.
func TestRedisQueueSettleAfterEmptyRestart(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	s := openRedis(t, r.Addr, 1, nil)
	enqueueN(t, s, "g", "old", 1)
	old := storetest.TakeAll(t, s, "g", 1)
	r.Kill()
	r.Revive()
	m := storetest.Queued("g", "c0", "new", time.Now(), time.Time{})
	if !poll(50*time.Millisecond, 10*time.Second, func() bool {
		errc := make(chan error, 1)
		s.Enqueue(m, 100, func(err error) { errc <- err })
		return <-errc == nil
	}) {
		t.Fatal("no enqueue after the restart")
	}
	if m.Seq != old[0].Seq {
		t.Fatalf("new message numbered %d, the old one %d: the test needs them alike", m.Seq, old[0].Seq)
	}
	storetest.SettleSync(t, s, old[0])
	if _, ok, err := s.FindQueued("c0", "new"); !ok || err != nil {
		t.Fatalf("the new message is gone after the old one was settled: %v, %v", ok, err)
	}
	takeAllOnce(t, s, "new")
}

// TestRedisQueueSettlesForgetStamps: a message settled by SettleSent or by
// its receipt's outbox item leaves no stamp behind in the process (a
// stamp is kept for each message taken until it leaves the queue).
func TestRedisQueueSettlesForgetStamps(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	s := openRedis(t, r.Addr, 1, nil)
	t.Cleanup(func() { s.Close() })
	now := time.Now()
	for _, id := range []string{"sent", "expired"} {
		storetest.EnqueueSync(t, s, storetest.Queued("g", "shop", id, now, time.Time{}))
	}
	taken := storetest.TakeAll(t, s, "g", 2)
	if len(taken) != 2 {
		t.Fatalf("took %v", storetest.QueuedIDs(taken))
	}
	stamps := func() int {
		s.queue.mu.Lock()
		defer s.queue.mu.Unlock()
		return len(s.queue.stamps)
	}
	if n := stamps(); n != 2 {
		t.Fatalf("%d stamps after the take, want 2", n)
	}
	storetest.Wait(t, func(done func(error)) {
		s.SettleSent(taken[0], dlr.Mapping{Upstream: "u", UpstreamID: "X1", Origin: taken[0].Origin, Expires: now.Add(time.Hour)}, done)
	})
	storetest.Wait(t, func(done func(error)) {
		s.AddOutbox("shop", &dlr.Item{Raw: storetest.ReceiptPDU(1), At: now, Settles: taken[1]}, done)
	})
	if n := stamps(); n != 0 {
		t.Fatalf("%d stamps once both left the queue, want 0", n)
	}
}
