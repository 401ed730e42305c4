package dlr_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/memstore"
	"github.com/smppmux/smppmux/internal/pdu"
)

// fakeReceiver answers each delivery with the next status of its script,
// ESME_ROK once the script is used up. With a gate, answers wait until it
// is closed; sent, if not nil, hears of each delivery as it is made.
type fakeReceiver struct {
	mu       sync.Mutex
	script   []pdu.Status
	got      [][]byte // accepted
	attempts []string // every delivery, accepted or not
	seen     chan struct{}
	gate     chan struct{}
	sent     chan struct{}
}

func (r *fakeReceiver) ID() uint64             { return 1 }
func (r *fakeReceiver) DeliverWindowFree() int { return 1 }
func (r *fakeReceiver) Deliver(b []byte, done func(pdu.Frame, error)) error {
	r.mu.Lock()
	st := pdu.StatusOK
	if len(r.script) > 0 {
		st, r.script = r.script[0], r.script[1:]
	}
	r.attempts = append(r.attempts, string(b[pdu.HeaderLen:]))
	if st == pdu.StatusOK {
		r.got = append(r.got, b[pdu.HeaderLen:])
	}
	r.mu.Unlock()
	if r.sent != nil {
		r.sent <- struct{}{}
	}
	go func() {
		if r.gate != nil {
			<-r.gate
		}
		done(pdu.Frame{Header: pdu.Header{ID: pdu.DeliverSMResp, Status: st}}, nil)
		r.seen <- struct{}{}
	}()
	return nil
}

// waitDeliveries waits for n signals on c, each within 10 s.
func waitDeliveries(t *testing.T, c <-chan struct{}, n int) {
	t.Helper()
	for range n {
		select {
		case <-c:
		case <-time.After(10 * time.Second):
			t.Fatal("deliveries stalled")
		}
	}
}

func TestOutboxOrderRetryAndAge(t *testing.T) {
	t.Parallel()
	// The client answers once a, b and c are all in flight, so that a's
	// quick retry comes after them whatever the scheduling.
	recv := &fakeReceiver{script: []pdu.Status{pdu.StatusXTAppn}, seen: make(chan struct{}, 100),
		gate: make(chan struct{}), sent: make(chan struct{}, 100)}
	expired := make(chan *dlr.Item, 1)
	// The client binds once everything is queued.
	var bound atomic.Bool
	o := dlr.NewOutbox(dlr.OutboxConfig{
		Store: memstore.New(nil),
		Receivers: func(string) []dlr.Receiver {
			if !bound.Load() {
				return nil
			}
			return []dlr.Receiver{recv}
		},
		RetryMin: time.Millisecond, RetryMax: time.Millisecond,
		MaxAge:    time.Hour,
		OnExpired: func(_ string, it *dlr.Item) { expired <- it },
	})
	defer o.Close()
	old := &dlr.Item{Raw: pdu.Request(pdu.DeliverSM, 0, []byte("old")), At: time.Now().Add(-2 * time.Hour)}
	enqueue := func(it *dlr.Item) {
		errc := make(chan error, 1)
		o.Enqueue("shop", it, func(err error) { errc <- err })
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	enqueue(old)
	for _, s := range []string{"a", "b", "c"} {
		enqueue(&dlr.Item{Raw: pdu.Request(pdu.DeliverSM, 0, []byte(s))})
	}
	bound.Store(true)
	o.Wake("shop")
	select {
	case it := <-expired:
		if it != old {
			t.Fatalf("expired %q", it.Raw)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("old item never expired")
	}
	waitDeliveries(t, recv.sent, 3)
	close(recv.gate)
	// a is refused once and sent again after its backoff. Items go out in
	// order; one refused comes back after those already in flight.
	waitDeliveries(t, recv.seen, 4)
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(recv.attempts) != 4 || recv.attempts[0] != "a" || recv.attempts[1] != "b" || recv.attempts[2] != "c" || recv.attempts[3] != "a" {
		t.Fatalf("attempts %q, want a b c, then a again", recv.attempts)
	}
	if len(recv.got) != 3 {
		t.Fatalf("accepted %q", recv.got)
	}
}

// TestOutboxRefusalsLogOncePerInterval: a client refusing every delivery
// of three items, each tried again and again, writes one line, not one
// per item per try.
func TestOutboxRefusalsLogOncePerInterval(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.InfoLevel)
	script := make([]pdu.Status, 12)
	for i := range script {
		script[i] = pdu.StatusXTAppn
	}
	recv := &fakeReceiver{script: script, seen: make(chan struct{}, 100)}
	var mu sync.Mutex
	retries := 0
	o := dlr.NewOutbox(dlr.OutboxConfig{
		Store:       memstore.New(nil),
		Receivers:   func(string) []dlr.Receiver { return []dlr.Receiver{recv} },
		RetryMin:    time.Millisecond,
		RetryMax:    time.Millisecond,
		MaxAttempts: 100,
		Logger:      zap.New(core),
		OnRetry:     func(string, *dlr.Item) { mu.Lock(); retries++; mu.Unlock() },
	})
	defer o.Close()
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		o.Enqueue("shop", &dlr.Item{Raw: pdu.Request(pdu.DeliverSM, 0, fmt.Appendf(nil, "%04d", i))}, func(err error) {
			if err != nil {
				t.Error(err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	o.Wake("shop")
	// 12 refusals, then the three accepted.
	waitDeliveries(t, recv.seen, 15)
	mu.Lock()
	defer mu.Unlock()
	if retries != 12 {
		t.Fatalf("%d retries, want 12", retries)
	}
	if n := logs.FilterMessage("delivery to client failed, will retry").Len(); n != 1 {
		t.Errorf("%d lines for 12 refusals within the interval, want 1", n)
	}
}

// TestNewOutboxRequiresStore: an Outbox without a store is refused at
// once, not at its first Enqueue.
func TestNewOutboxRequiresStore(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("NewOutbox without a Store did not panic")
		}
	}()
	o := dlr.NewOutbox(dlr.OutboxConfig{Receivers: func(string) []dlr.Receiver { return nil }})
	o.Close()
}
