package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/pdu"
)

// JudgingReceiver is a client session that answers each delivery as
// Judge says, from a goroutine
// of its own, with at most Window deliveries unanswered. It records
// every attempt and every acceptance, in order, with the time of each,
// and tells Got, if not nil, of each acceptance.
type JudgingReceiver struct {
	Judge  func(n int, body string) (pdu.Status, error) // n counts deliveries from 0
	Window int
	Got    chan<- string

	mu       sync.Mutex
	inflight int
	attempts []string
	accepted []string
	at       []time.Time // of each acceptance
}

// ID implements dlr.Receiver: 1.
func (r *JudgingReceiver) ID() uint64 { return 1 }

// DeliverWindowFree implements dlr.Receiver.
func (r *JudgingReceiver) DeliverWindowFree() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.Window - r.inflight
}

// Deliver implements dlr.Receiver.
func (r *JudgingReceiver) Deliver(b []byte, done func(pdu.Frame, error)) error {
	body := string(b[pdu.HeaderLen:])
	r.mu.Lock()
	r.inflight++
	st, err := r.Judge(len(r.attempts), body)
	r.attempts = append(r.attempts, body)
	r.mu.Unlock()
	go func() {
		r.mu.Lock()
		r.inflight--
		ok := err == nil && st == pdu.StatusOK
		if ok {
			r.accepted = append(r.accepted, body)
			r.at = append(r.at, time.Now())
		}
		r.mu.Unlock()
		done(pdu.Frame{Header: pdu.Header{ID: pdu.DeliverSMResp, Status: st}}, err)
		if ok && r.Got != nil {
			r.Got <- body
		}
	}()
	return nil
}

// Results returns the bodies tried and accepted, in order, and the time
// of each acceptance.
func (r *JudgingReceiver) Results() (attempts, accepted []string, at []time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.attempts), slices.Clone(r.accepted), slices.Clone(r.at)
}

// EnqueueAll queues items named 0000, 0001... in systemID's outbox.
func EnqueueAll(t *testing.T, o *dlr.Outbox, systemID string, n int) {
	t.Helper()
	for i := range n {
		errc := make(chan error, 1)
		o.Enqueue(systemID, &dlr.Item{Raw: pdu.Request(pdu.DeliverSM, 0, fmt.Appendf(nil, "%04d", i))}, func(err error) { errc <- err })
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}
