package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/redistest"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// writeSharedQueueConfig writes writeQueueConfig's configuration for
// instance n of smppmux sharing the Redis at redisAddr.
func writeSharedQueueConfig(t *testing.T, dir, smsc, redisAddr string, n int) {
	t.Helper()
	writeQueueConfig(t, dir, smsc)
	path := filepath.Join(dir, "config.yaml")
	store := fmt.Sprintf("store: {kind: redis, instance: %d, redis: {addrs: [%q], lease_ttl: 1s}}\nclients:", n, redisAddr)
	cfg := strings.Replace(readFile(t, path), "clients:", store, 1)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// queuePair is two smppmux instances sharing a Redis and a store-and-forward
// queue, both bound to one SMSC, which holds receipts until a bind of
// either takes them and answers each message 20 ms late.
type queuePair struct {
	ctx   context.Context
	redis *redis.Client
	smsc  *smsctest.Server
	a, b  *proc
	dirA  string

	mu    sync.Mutex
	sessA *smsctest.Session // A's bind to the SMSC
	byA   map[int]bool      // the messages the SMSC got from A
}

func startQueuePair(t *testing.T) *queuePair {
	t.Helper()
	r := redistest.Start(t)
	q := &queuePair{byA: make(map[int]bool)}
	q.smsc = smsctest.Start(t, smsctest.Config{HoldReceipts: true, Submit: func(req *smsctest.SubmitRequest) smsctest.Reply {
		q.mu.Lock()
		if req.Session == q.sessA {
			var i int
			if _, err := fmt.Sscanf(string(req.SM.ShortMessage), "m%d", &i); err == nil {
				q.byA[i] = true
			}
		}
		q.mu.Unlock()
		return smsctest.Reply{Delay: 20 * time.Millisecond}
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	q.ctx = ctx
	q.redis = redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { q.redis.Close() })
	q.dirA = t.TempDir()
	dirB := t.TempDir()
	writeSharedQueueConfig(t, q.dirA, q.smsc.Addr(), r.Addr, 1)
	writeSharedQueueConfig(t, dirB, q.smsc.Addr(), r.Addr, 2)
	q.a = startProc(t, q.dirA)
	if err := q.smsc.WaitBinds(ctx, 1); err != nil {
		t.Fatal(err)
	}
	q.mu.Lock()
	q.sessA = q.smsc.Sessions()[0]
	q.mu.Unlock()
	q.b = startProc(t, dirB)
	if err := q.smsc.WaitBinds(ctx, 2); err != nil {
		t.Fatal(err)
	}
	return q
}

// sentByA returns how many messages the SMSC got from A.
func (q *queuePair) sentByA() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.byA)
}

// waitQueueEmpty waits until the group's queue in Redis holds no message,
// taken ones included, failing the test at ctx's end.
func (q *queuePair) waitQueueEmpty(t *testing.T, ctx context.Context) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		n, err := q.redis.ZCard(ctx, "smppmux:q:{main}:a").Result()
		if err == nil && n == 0 {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("the queue still holds %d messages (%v)", n, err)
		}
	}
}

// TestQueueSharedByTwoInstances: two smppmux processes on one Redis,
// bound to one SMSC. A burst accepted by the first is drained by both,
// each taking a share; no message reaches the SMSC twice, every receipt
// reaches the client once, and the queue ends empty.
func TestQueueSharedByTwoInstances(t *testing.T) {
	q := startQueuePair(t)
	c := dial(t, q.ctx, q.a.addr, pdu.BindTransceiver)
	const n = 2000
	ids := submitNumbered(t, c, n)
	got := make(map[string]bool, n)
	for len(got) < n {
		select {
		case d := <-c.Deliveries():
			if _, ok := ids[d.ReceiptID]; !ok || got[d.ReceiptID] {
				t.Fatalf("receipt for %q: never given, or a second", d.ReceiptID)
			}
			if stat := receiptStat(t, d); stat != "DELIVRD" {
				t.Fatalf("receipt for %q: stat %s", d.ReceiptID, stat)
			}
			got[d.ReceiptID] = true
		case <-q.ctx.Done():
			t.Fatalf("%d of %d receipts (SMSC accepted %d); logs in %s and the second's", len(got), n, q.smsc.Accepted(), q.dirA)
		}
	}
	at, _ := atSMSC(t, q.smsc)
	for _, i := range ids {
		if at[i] != 1 {
			t.Errorf("message %d reached the SMSC %d times", i, at[i])
		}
	}
	byA := q.sentByA()
	t.Logf("%d messages accepted by A: A sent %d, B sent %d", n, byA, n-byA)
	if byA == 0 || byA == n {
		t.Errorf("A sent %d of %d: one instance did not drain", byA, n)
	}
	q.waitQueueEmpty(t, q.ctx)
	select {
	case d := <-c.Deliveries():
		t.Fatalf("an extra receipt for %q", d.ReceiptID)
	default:
	}
}

// TestQueueSharedInstanceKilled: two smppmux processes on one Redis drain
// a burst the second accepted; the first is killed with SIGKILL in the
// middle of the drain and never started again. The second settles the
// messages the first had taken and not sent as UNKNOWN receipts, once the
// first's instance id lapsed; it sends the rest. Every accepted message
// gets one receipt, none reaches the SMSC twice, and the queue ends
// empty.
func TestQueueSharedInstanceKilled(t *testing.T) {
	q := startQueuePair(t)
	c := dial(t, q.ctx, q.b.addr, pdu.BindTransceiver)
	const n = 3000
	ids := submitNumbered(t, c, n)
	if err := q.smsc.WaitAccepted(q.ctx, n/3); err != nil {
		t.Fatal(err)
	}
	q.a.kill(t)
	killed := time.Now()
	// The rest of the drain takes seconds, the UNKNOWN receipts come once
	// A's instance id lapsed (lease_ttl, 1 s) and B looked for orphans
	// (every lease_ttl): a minute is a bound for a loaded machine, not a
	// measure. Without the look, they never come.
	after, cancel := context.WithTimeout(q.ctx, time.Minute)
	defer cancel()
	atKill, byA := q.smsc.Accepted(), q.sentByA()
	if atKill >= n || byA == 0 {
		t.Fatalf("at the kill the SMSC had %d of %d, %d from A: not in the middle of a drain by both", atKill, n, byA)
	}
	stats := make(map[string]string, n) // client id -> stat
	var lastUnknown time.Duration
	for len(stats) < n {
		select {
		case d := <-c.Deliveries():
			if _, ok := ids[d.ReceiptID]; !ok {
				t.Fatalf("receipt for %q, never given", d.ReceiptID)
			}
			if prev, ok := stats[d.ReceiptID]; ok {
				t.Fatalf("a second receipt for %q: %s, then %s", d.ReceiptID, prev, receiptStat(t, d))
			}
			stats[d.ReceiptID] = receiptStat(t, d)
			if stats[d.ReceiptID] == "UNKNOWN" {
				lastUnknown = time.Since(killed)
			}
		case <-after.Done():
			t.Fatalf("a minute after the kill, %d of %d accepted messages got a receipt (SMSC accepted %d, %d at the kill); log in %s",
				len(stats), n, q.smsc.Accepted(), atKill, q.dirA)
		}
	}
	at, _ := atSMSC(t, q.smsc)
	unknown := 0
	for id, stat := range stats {
		i := ids[id]
		switch stat {
		case "DELIVRD":
			if at[i] != 1 {
				t.Errorf("message %d: a DELIVRD receipt, and the SMSC has it %d times", i, at[i])
			}
		case "UNKNOWN":
			// Taken by A: sent or not when it died.
			unknown++
			q.mu.Lock()
			byA := q.byA[i]
			q.mu.Unlock()
			if at[i] > 0 && !byA {
				t.Errorf("message %d: an UNKNOWN receipt, and B sent it", i)
			}
		default:
			t.Errorf("message %d: receipt stat %s", i, stat)
		}
	}
	t.Logf("SMSC accepted %d at the kill (%d from A), %d in all (%d from A); %d UNKNOWN receipts, the last %v after the kill",
		atKill, byA, q.smsc.Accepted(), q.sentByA(), unknown, lastUnknown)
	if unknown > 10 {
		t.Errorf("%d UNKNOWN receipts: more than the 10 A had in flight", unknown)
	}
	q.waitQueueEmpty(t, after)
}
