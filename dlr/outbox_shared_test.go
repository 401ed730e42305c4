package dlr_test

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/memstore"
	"github.com/smppmux/smppmux/internal/pdu"
)

// fakeShared is a SharedStore in memory for one instance: it records the
// deletes and lease releases in the order they take effect, and a delete
// waits for gate.
type fakeShared struct {
	*memstore.Store
	mu     sync.Mutex
	items  []*dlr.Item
	events []string
	gate   chan struct{}
}

func (f *fakeShared) AddOutbox(_ string, it *dlr.Item, done func(error)) {
	f.mu.Lock()
	it.Seq = uint64(len(f.items) + 1)
	f.items = append(f.items, it)
	f.mu.Unlock()
	done(nil)
}

func (f *fakeShared) Remove(_ string, _ []uint64, done func(error)) {
	go func() {
		<-f.gate
		f.mu.Lock()
		f.events = append(f.events, "delete")
		f.mu.Unlock()
		done(nil)
	}()
}

func (f *fakeShared) Lease(string) (dlr.LeaseGrant, error) { return dlr.LeaseKept, nil }

func (f *fakeShared) Release(string) {
	f.mu.Lock()
	f.events = append(f.events, "release")
	f.mu.Unlock()
}

func (f *fakeShared) Pending(_ string, after uint64, n int) ([]*dlr.Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*dlr.Item
	for _, it := range f.items {
		if it.Seq > after && len(out) < n {
			out = append(out, it)
		}
	}
	return out, nil
}

func (f *fakeShared) Watch(func(string))                       {}
func (f *fakeShared) LeaseTTL() time.Duration                  { return 3 * time.Second }
func (f *fakeShared) OutboxLen(string) (int, time.Time, error) { return 0, time.Time{}, nil }

// heldReceiver takes deliveries and lets the test answer them.
type heldReceiver struct{ answers chan func(pdu.Frame, error) }

func (r *heldReceiver) ID() uint64             { return 1 }
func (r *heldReceiver) DeliverWindowFree() int { return 1 }
func (r *heldReceiver) Deliver(_ []byte, done func(pdu.Frame, error)) error {
	r.answers <- done
	return nil
}

// TestSharedOutboxDeletesBeforeRelease: the client's last session goes
// while an item is in flight, and then answers it ESME_ROK. The lease is
// released only once the item's delete has taken effect: released first,
// another instance would take the lease and deliver the item again.
func TestSharedOutboxDeletesBeforeRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &fakeShared{Store: memstore.New(nil), gate: make(chan struct{})}
		recv := &heldReceiver{answers: make(chan func(pdu.Frame, error), 1)}
		var mu sync.Mutex
		bound := true
		o := dlr.NewOutbox(dlr.OutboxConfig{Store: store, Receivers: func(string) []dlr.Receiver {
			mu.Lock()
			defer mu.Unlock()
			if bound {
				return []dlr.Receiver{recv}
			}
			return nil
		}})
		defer o.Close()
		o.Wake("shop")
		errc := make(chan error, 1)
		o.Enqueue("shop", &dlr.Item{Raw: pdu.Request(pdu.DeliverSM, 0, []byte("r"))}, func(err error) { errc <- err })
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		done := <-recv.answers // delivered, not answered yet
		mu.Lock()
		bound = false
		mu.Unlock()
		go done(pdu.Frame{Header: pdu.Header{ID: pdu.DeliverSMResp, Status: pdu.StatusOK}}, nil)
		synctest.Wait() // the answer's delete waits for the gate
		o.Wake("shop")  // the dispatcher looks: no session, an item in flight
		synctest.Wait()
		close(store.gate)
		synctest.Wait()
		o.Wake("shop")
		synctest.Wait()
		store.mu.Lock()
		defer store.mu.Unlock()
		if len(store.events) != 2 || store.events[0] != "delete" || store.events[1] != "release" {
			t.Fatalf("events %q, want the delete, then the release", store.events)
		}
	})
}
