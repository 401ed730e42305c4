package dlr_test

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/memstore"
	"github.com/smppmux/smppmux/dlr/storetest"
	"github.com/smppmux/smppmux/internal/pdu"
)

// panickingReceiver is a session whose Deliver panics: a bug of its own.
type panickingReceiver struct{ calls atomic.Int32 }

func (*panickingReceiver) ID() uint64             { return 7 }
func (*panickingReceiver) DeliverWindowFree() int { return 1 }
func (r *panickingReceiver) Deliver([]byte, func(pdu.Frame, error)) error {
	r.calls.Add(1)
	panic("session bug")
}

// TestOutboxDeliverPanic: a session whose Deliver panics is reported to
// OnPanic (which closes it) and the dispatcher goes on: the item it was
// given goes to the other session, as does every later one, each once and
// in order, and the process lives.
func TestOutboxDeliverPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bad := &panickingReceiver{}
		good := &storetest.JudgingReceiver{Window: 10, Judge: func(int, string) (pdu.Status, error) { return pdu.StatusOK, nil }}
		var mu sync.Mutex
		var closed []dlr.Receiver
		var reasons []string
		o := dlr.NewOutbox(dlr.OutboxConfig{
			Store: memstore.New(nil),
			Receivers: func(string) []dlr.Receiver {
				mu.Lock()
				defer mu.Unlock()
				if slices.Contains(closed, dlr.Receiver(bad)) {
					return []dlr.Receiver{good}
				}
				return []dlr.Receiver{bad, good}
			},
			OnPanic: func(r dlr.Receiver, err error) {
				mu.Lock()
				closed = append(closed, r)
				reasons = append(reasons, err.Error())
				mu.Unlock()
			},
		})
		defer o.Close()
		const n = 20
		storetest.EnqueueAll(t, o, "shop", n)
		synctest.Wait()
		if bad.calls.Load() != 1 {
			t.Fatalf("the panicking session got %d deliveries, want 1", bad.calls.Load())
		}
		mu.Lock()
		if len(closed) != 1 || closed[0] != dlr.Receiver(bad) || reasons[0] != "panic delivering to session 7: session bug" {
			t.Fatalf("OnPanic got %v %q, want the panicking session once", closed, reasons)
		}
		mu.Unlock()
		attempts, accepted, _ := good.Results()
		var want []string
		for i := range n {
			want = append(want, fmt.Sprintf("%04d", i))
		}
		// Delivered in order; answered from goroutines, in any.
		if !slices.Equal(attempts, want) {
			t.Fatalf("the other session got %q, want %q", attempts, want)
		}
		slices.Sort(accepted)
		if !slices.Equal(accepted, want) {
			t.Fatalf("the other session accepted %q, want each once", accepted)
		}
		if d := o.Depth("shop"); d != 0 {
			t.Fatalf("depth %d after every item was accepted", d)
		}
	})
}
