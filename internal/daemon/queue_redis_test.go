package daemon

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/redistest"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// startQueuedRedis runs instance n of smppmux on the Redis at addr with
// the queued group over s.
func startQueuedRedis(t *testing.T, s *smsctest.Server, n int, addr string) *env {
	t.Helper()
	store := fmt.Sprintf("store: {kind: redis, instance: %d, redis: {addrs: [%q], lease_ttl: 1s}}\nclients:", n, addr)
	return startYAML(t, strings.Replace(fmt.Sprintf(queued, 100000, "1h"), "clients:", store, 1), s)
}

// TestQueueSharedOnRedis: two instances on one Redis, each with its own
// SMSC. In each round a burst is accepted by the first, while the second
// is idle: the second takes a share at once, woken by the store, not at
// its next timer (a second apart). Every message reaches one SMSC once,
// every receipt reaches the client once, and the queue ends empty.
//
// The first instance's SMSC answers 200 ms late, so that it alone, 10 in
// flight, drains a round's 30 messages in 600 ms. A second instance that
// only took messages on its timer would join a round at a time spread
// evenly over its second: within the 500 ms bound half the time, so in
// every one of 10 rounds about once in a thousand runs. Woken through
// Redis it joins in a few milliseconds.
func TestQueueSharedOnRedis(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	// One carrier, reached by each instance through its own SMSC: its
	// ids are unique across both, as the instances share one upstream
	// name.
	s0 := smsctest.Start(t, smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
		return smsctest.Reply{Delay: 200 * time.Millisecond}
	}})
	s1 := smsctest.Start(t, smsctest.Config{
		IDFormat: func(n uint64) string { return fmt.Sprintf("z%x", n) },
		Submit:   func(*smsctest.SubmitRequest) smsctest.Reply { return smsctest.Reply{Delay: 20 * time.Millisecond} },
	})
	a := startQueuedRedis(t, s0, 1, r.Addr)
	b := startQueuedRedis(t, s1, 2, r.Addr)
	qs := a.d.store.(dlr.QueueStore)
	shop := a.dial(t, "shop", "secret", pdu.BindTransceiver, 100)
	ctx := deadline(t)
	const rounds, burst = 10, 30
	const joinWithin = 500 * time.Millisecond
	dest := func(i int) string { return fmt.Sprintf("4411%05d", i) }
	for k := range rounds {
		// The second instance idle: nothing queued, nothing in flight.
		waitUntil(t, ctx, "the queue empty and the second instance idle", func() bool {
			n, _, err := qs.QueueLen("main")
			_, _, inflight, _ := b.d.Relay.QueueStatus("main")
			return n == 0 && err == nil && inflight == 0
		})
		first, before := k*burst, len(s1.Records())
		start := time.Now()
		ids := acceptedIDs(t, submitAll(t, shop, burst, func(i int) []byte {
			return esmetest.SubmitBody("Shop", dest(first+i), []byte("otp"), 1, nil)
		}))
		want := make(map[string]bool, burst)
		for _, id := range ids {
			want[id] = true
		}
		for len(want) > 0 {
			select {
			case d := <-shop.Deliveries():
				if !want[d.ReceiptID] {
					t.Fatalf("round %d: receipt for %q: not one of this round's ids, or a second", k, d.ReceiptID)
				}
				delete(want, d.ReceiptID)
			case <-ctx.Done():
				t.Fatalf("round %d: %d receipts missing", k, len(want))
			}
		}
		recs := s1.Records()[before:]
		if len(recs) == 0 {
			t.Fatalf("round %d: the second instance sent none of %d messages", k, burst)
		}
		joined := recs[0].At.Sub(start)
		t.Logf("round %d: the second instance sent %d of %d, the first after %v", k, len(recs), burst, joined)
		if joined > joinWithin {
			t.Errorf("round %d: the second instance sent its first message %v after the burst began: not woken, it waited for its timer", k, joined)
		}
	}
	seen := make(map[string]int)
	for _, s := range []*smsctest.Server{s0, s1} {
		for _, rec := range s.Records() {
			var sm pdu.SM
			if err := pdu.ParseSM(rec.Body, &sm); err != nil {
				t.Fatal(err)
			}
			seen[string(sm.DestAddr)]++
		}
	}
	for i := range rounds * burst {
		if seen[dest(i)] != 1 {
			t.Errorf("%s reached the SMSCs %d times", dest(i), seen[dest(i)])
		}
	}
	t.Logf("instance 1 sent %d, instance 2 sent %d", s0.Accepted(), s1.Accepted())
	waitUntil(t, ctx, "the queue empty after the drain", func() bool {
		n, _, err := qs.QueueLen("main")
		return n == 0 && err == nil
	})
	select {
	case d := <-shop.Deliveries():
		t.Fatalf("an extra receipt for %q", d.ReceiptID)
	default:
	}
}
