package dlr

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

func TestOutboxOrderRetryAndAge(t *testing.T) {
	t.Parallel()
	// The client answers once a, b and c are all in flight, so that a's
	// quick retry comes after them whatever the scheduling.
	recv := &fakeReceiver{script: []pdu.Status{pdu.StatusXTAppn}, seen: make(chan struct{}, 100),
		gate: make(chan struct{}), sent: make(chan struct{}, 100)}
	expired := make(chan *Item, 1)
	// The client binds once everything is queued.
	var bound atomic.Bool
	o := NewOutbox(OutboxConfig{
		Receivers: func(string) []Receiver {
			if !bound.Load() {
				return nil
			}
			return []Receiver{recv}
		},
		RetryMin: time.Millisecond, RetryMax: time.Millisecond,
		MaxAge:    time.Hour,
		OnExpired: func(_ string, it *Item) { expired <- it },
	})
	defer o.Close()
	old := &Item{Raw: pdu.Request(pdu.DeliverSM, 0, []byte("old")), At: time.Now().Add(-2 * time.Hour)}
	enqueue := func(it *Item) {
		errc := make(chan error, 1)
		o.Enqueue("shop", it, func(err error) { errc <- err })
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	enqueue(old)
	for _, s := range []string{"a", "b", "c"} {
		enqueue(&Item{Raw: pdu.Request(pdu.DeliverSM, 0, []byte(s))})
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
	for range 3 {
		select {
		case <-recv.sent:
		case <-time.After(10 * time.Second):
			t.Fatal("deliveries stalled")
		}
	}
	close(recv.gate)
	// a is refused once and sent again after its backoff. Items go out in
	// order; one refused comes back after those already in flight.
	for range 4 {
		select {
		case <-recv.seen:
		case <-time.After(10 * time.Second):
			t.Fatal("deliveries stalled")
		}
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(recv.attempts) != 4 || recv.attempts[0] != "a" || recv.attempts[1] != "b" || recv.attempts[2] != "c" || recv.attempts[3] != "a" {
		t.Fatalf("attempts %q, want a b c, then a again", recv.attempts)
	}
	if len(recv.got) != 3 {
		t.Fatalf("accepted %q", recv.got)
	}
}
