package dlr_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/memstore"
	"github.com/smppmux/smppmux/internal/pdu"
)

// outageStore is a SharedStore in memory for one instance whose store
// can fail: removals, leases, or its health.
type outageStore struct {
	*memstore.Store
	mu          sync.Mutex
	items       []*dlr.Item // the outbox, in order
	next        uint64
	failRemove  bool
	holdRemove  bool     // removals wait in held until released
	held        []func() // removals under way
	failLease   bool
	unhealthy   bool
	grant       dlr.LeaseGrant // what Lease answers when it does not fail
	removals    int            // removals that took effect
	releases    int
	reads       []uint64 // the after of each Pending
	failedCalls int
}

var errOutage = errors.New("store unreachable")

func newOutageStore() *outageStore {
	return &outageStore{Store: memstore.New(nil), grant: dlr.LeaseKept}
}

func (f *outageStore) set(fn func(f *outageStore)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *outageStore) AddOutbox(_ string, it *dlr.Item, done func(error)) {
	f.mu.Lock()
	f.next++
	it.Seq = f.next
	f.items = append(f.items, it)
	f.mu.Unlock()
	done(nil)
}

func (f *outageStore) Remove(systemID string, seqs []uint64, done func(error)) {
	f.mu.Lock()
	if f.holdRemove {
		f.held = append(f.held, func() { f.Remove(systemID, seqs, done) })
		f.mu.Unlock()
		return
	}
	if f.failRemove {
		f.failedCalls++
		f.mu.Unlock()
		done(errOutage)
		return
	}
	f.items = slices.DeleteFunc(f.items, func(it *dlr.Item) bool { return slices.Contains(seqs, it.Seq) })
	f.removals += len(seqs)
	f.mu.Unlock()
	done(nil)
}

func (f *outageStore) Lease(string) (dlr.LeaseGrant, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failLease {
		return dlr.LeaseOther, errOutage
	}
	g := f.grant
	if g == dlr.LeaseFree || g == dlr.LeaseLapsed {
		f.grant = dlr.LeaseKept // held from now on
	}
	return g, nil
}

func (f *outageStore) Release(string) {
	f.mu.Lock()
	f.releases++
	f.mu.Unlock()
}

func (f *outageStore) Pending(_ string, after uint64, n int) ([]*dlr.Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads = append(f.reads, after)
	var out []*dlr.Item
	for _, it := range f.items {
		if it.Seq > after && len(out) < n {
			cp := *it
			out = append(out, &cp)
		}
	}
	return out, nil
}

func (f *outageStore) Health() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unhealthy {
		return errOutage
	}
	return nil
}

func (f *outageStore) Watch(func(string))      {}
func (f *outageStore) LeaseTTL() time.Duration { return 3 * time.Second }

func (f *outageStore) OutboxLen(string) (int, time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.items), time.Time{}, nil
}

// answeringReceiver is one client session with a window of one: it
// records each delivery's text and answers ESME_ROK when the test says.
type answeringReceiver struct {
	mu      sync.Mutex
	got     []string
	pending func(pdu.Frame, error)
	bound   bool
}

func (r *answeringReceiver) ID() uint64 { return 1 }
func (r *answeringReceiver) DeliverWindowFree() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending != nil {
		return 0
	}
	return 1
}

func (r *answeringReceiver) Deliver(b []byte, done func(pdu.Frame, error)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending != nil || !r.bound {
		return errGone
	}
	r.got = append(r.got, string(b[pdu.HeaderLen:]))
	r.pending = done
	return nil
}

// accept answers the delivery under way ESME_ROK.
func (r *answeringReceiver) accept(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	done := r.pending
	r.pending = nil
	r.mu.Unlock()
	if done == nil {
		t.Fatal("no delivery to answer")
	}
	done(pdu.Frame{Header: pdu.Header{ID: pdu.DeliverSMResp, Status: pdu.StatusOK}}, nil)
}

func (r *answeringReceiver) deliveries() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func (r *answeringReceiver) list(string) []dlr.Receiver {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bound {
		return []dlr.Receiver{r}
	}
	return nil
}

// outageOutbox queues items 0 to n-1 in a shared outbox over store, whose
// one session is recv. The session binds once all are queued, so that the
// outbox reads them in one go, whatever the order its dispatcher runs in.
func outageOutbox(t *testing.T, store *outageStore, recv *answeringReceiver, n int) *dlr.Outbox {
	t.Helper()
	recv.mu.Lock()
	bound := recv.bound
	recv.bound = false
	recv.mu.Unlock()
	o := dlr.NewOutbox(dlr.OutboxConfig{Store: store, Receivers: recv.list})
	for i := range n {
		errc := make(chan error, 1)
		o.Enqueue("shop", &dlr.Item{Raw: pdu.Request(pdu.DeliverSM, 0, fmt.Appendf(nil, "%d", i))}, func(err error) { errc <- err })
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	synctest.Wait()
	recv.mu.Lock()
	recv.bound = bound
	recv.mu.Unlock()
	o.Wake("shop")
	synctest.Wait()
	return o
}

// acceptDuring starts an outbox of n items over a store that fault then
// breaks, has the client accept item 0, and checks that nothing more went
// out d later.
func acceptDuring(t *testing.T, n int, d time.Duration, fault func(f *outageStore)) (*outageStore, *answeringReceiver, *dlr.Outbox) {
	t.Helper()
	store := newOutageStore()
	recv := &answeringReceiver{bound: true}
	o := outageOutbox(t, store, recv, n)
	wantDeliveries(t, recv, "0")
	store.set(fault)
	recv.accept(t)
	synctest.Wait()
	pass(d)
	wantDeliveries(t, recv, "0")
	return store, recv, o
}

// pass lets d go by on the bubble's clock and waits for what it set off.
func pass(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func wantDeliveries(t *testing.T, recv *answeringReceiver, want ...string) {
	t.Helper()
	if got := recv.deliveries(); !slices.Equal(got, want) {
		t.Fatalf("deliveries %q, want %q", got, want)
	}
}

// TestSharedOutboxFailedRemovalHoldsDeliveries: the client accepts an
// item whose removal fails. Nothing else goes out until a removal tried
// again lands, then delivery goes on; the item is never delivered again.
func TestSharedOutboxFailedRemovalHoldsDeliveries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The poll renews the lease meanwhile.
		store, recv, o := acceptDuring(t, 3, 10*time.Second, func(f *outageStore) { f.failRemove = true })
		defer o.Close()
		store.set(func(f *outageStore) {
			if f.failedCalls < 2 {
				t.Errorf("the removal was tried %d times in 10 s", f.failedCalls)
			}
			f.failRemove = false
		})
		pass(dlr.RemoveRetry)
		wantDeliveries(t, recv, "0", "1")
		recv.accept(t)
		synctest.Wait()
		recv.accept(t)
		synctest.Wait()
		wantDeliveries(t, recv, "0", "1", "2")
		store.set(func(f *outageStore) {
			if len(f.items) != 0 || f.removals != 3 {
				t.Errorf("%d items left, %d removed", len(f.items), f.removals)
			}
		})
	})
}

// TestSharedOutboxUnhealthyStorePausesDeliveries: while the store reports
// itself unhealthy nothing goes out; once healthy, delivery goes on from
// where it was, without reading the outbox again from its start.
func TestSharedOutboxUnhealthyStorePausesDeliveries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Longer than the lease lives.
		store, recv, o := acceptDuring(t, 3, 20*time.Second, func(f *outageStore) { f.unhealthy, f.failLease = true, true })
		defer o.Close()
		store.set(func(f *outageStore) { f.unhealthy, f.failLease = false, false })
		pass(time.Second)
		wantDeliveries(t, recv, "0", "1")
		store.set(func(f *outageStore) {
			if len(f.reads) == 0 || f.reads[0] != 0 || slices.Contains(f.reads[1:], 0) {
				t.Errorf("outbox read after %v, want once from the start", f.reads)
			}
		})
	})
}

// TestSharedOutboxRereadSkipsWhatWasDelivered: an item is accepted and
// its removal is under way when the lease, renewed, turns out to have
// been free meanwhile (another instance may have held it): the outbox is
// read again from its start, and the item, still there, is not delivered
// again.
func TestSharedOutboxRereadSkipsWhatWasDelivered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newOutageStore()
		recv := &answeringReceiver{bound: true}
		o := outageOutbox(t, store, recv, 3)
		defer o.Close()
		store.set(func(f *outageStore) { f.holdRemove, f.grant = true, dlr.LeaseFree })
		recv.accept(t)
		synctest.Wait()
		wantDeliveries(t, recv, "0", "1")
		pass(time.Second) // the lease is renewed: free
		store.set(func(f *outageStore) {
			if !slices.Equal(f.reads, []uint64{0, 0}) {
				t.Errorf("outbox read after %v, want twice from the start", f.reads)
			}
		})
		recv.accept(t)
		synctest.Wait()
		wantDeliveries(t, recv, "0", "1", "2")
		recv.accept(t)
		store.set(func(f *outageStore) { f.holdRemove = false })
		for _, remove := range store.held {
			remove()
		}
		synctest.Wait()
		store.set(func(f *outageStore) {
			if len(f.items) != 0 {
				t.Errorf("%d items left in the outbox", len(f.items))
			}
		})
	})
}

// TestSharedOutboxLapsedLeaseGrace: a lease taken from an instance that
// let it lapse is read only after half a lease lifetime.
func TestSharedOutboxLapsedLeaseGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newOutageStore()
		store.grant = dlr.LeaseLapsed
		recv := &answeringReceiver{bound: true}
		start := time.Now()
		o := outageOutbox(t, store, recv, 1)
		defer o.Close()
		wantDeliveries(t, recv)
		pass(store.LeaseTTL()/2 - time.Millisecond)
		wantDeliveries(t, recv)
		pass(time.Millisecond)
		wantDeliveries(t, recv, "0")
		if d := time.Since(start); d != store.LeaseTTL()/2 {
			t.Errorf("delivered %s after the lease was taken", d)
		}
	})
}

// TestSharedOutboxCloseReleasesOnlyOnceRemoved: Close releases the lease
// once what was delivered is removed; with a removal that keeps failing
// it leaves the lease to lapse.
func TestSharedOutboxCloseReleasesOnlyOnceRemoved(t *testing.T) {
	for _, heals := range []bool{true, false} {
		t.Run(fmt.Sprintf("heals=%v", heals), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := newOutageStore()
				recv := &answeringReceiver{bound: true}
				o := outageOutbox(t, store, recv, 1)
				store.set(func(f *outageStore) { f.failRemove = true })
				recv.accept(t)
				synctest.Wait()
				closed := make(chan struct{})
				go func() {
					o.Close()
					close(closed)
				}()
				if heals {
					time.Sleep(time.Second)
					store.set(func(f *outageStore) { f.failRemove = false })
				}
				<-closed
				store.set(func(f *outageStore) {
					if heals && (f.releases != 1 || f.removals != 1) {
						t.Errorf("removal healed: %d releases, %d removals; want the removal, then the release", f.releases, f.removals)
					}
					if !heals && (f.releases != 0 || f.removals != 0) {
						t.Errorf("removal failing: %d releases, %d removals; want the lease left to lapse", f.releases, f.removals)
					}
				})
			})
		})
	}
}

// errGone is what a receiver whose session closed answers.
var errGone = errors.New("session closed")
