package dlr_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/memstore"
	"github.com/smppmux/smppmux/internal/pdu"
)

// windowReceiver is a session with a window whose deliveries the test answers: each
// Deliver's callback goes to calls.
type windowReceiver struct {
	window atomic.Int32
	calls  chan func(pdu.Frame, error)
}

func newWindowReceiver() *windowReceiver {
	r := &windowReceiver{calls: make(chan func(pdu.Frame, error), 16)}
	r.window.Store(10)
	return r
}

func (r *windowReceiver) ID() uint64             { return 7 }
func (r *windowReceiver) DeliverWindowFree() int { return int(r.window.Load()) }
func (r *windowReceiver) Deliver(_ []byte, done func(pdu.Frame, error)) error {
	r.calls <- done
	return nil
}

// next returns the callback of the next delivery.
func (r *windowReceiver) next(t *testing.T) func(pdu.Frame, error) {
	t.Helper()
	select {
	case done := <-r.calls:
		return done
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
		return nil
	}
}

func answer(st pdu.Status) pdu.Frame {
	return pdu.Frame{Header: pdu.Header{ID: pdu.DeliverSMResp, Status: st}}
}

// countingStore counts the outbox writes of a memstore.Store; with gate
// set, AddOutbox waits for it to be closed.
type countingStore struct {
	*memstore.Store
	adds, deletes atomic.Int32
	gate          chan struct{}
	fail          error
}

func (s *countingStore) AddOutbox(systemID string, it *dlr.Item, done func(error)) {
	s.adds.Add(1)
	if s.fail != nil {
		done(s.fail)
		return
	}
	if s.gate == nil {
		s.Store.AddOutbox(systemID, it, done)
		return
	}
	go func() {
		<-s.gate
		s.Store.AddOutbox(systemID, it, done)
	}()
}

func (s *countingStore) DeleteOutbox(systemID string, seq uint64) error {
	s.deletes.Add(1)
	return s.Store.DeleteOutbox(systemID, seq)
}

// offered is the outcome Offer passed to done.
type offered struct {
	straight bool
	err      error
}

func newStraightOutbox(st dlr.OutboxStore, recv dlr.Receiver) (*dlr.Outbox, *atomic.Int32) {
	var delivered atomic.Int32
	o := dlr.NewOutbox(dlr.OutboxConfig{
		Store:       st,
		Receivers:   func(string) []dlr.Receiver { return []dlr.Receiver{recv} },
		RetryMin:    time.Second,
		RetryMax:    time.Second,
		OnDelivered: func(string, *dlr.Item) { delivered.Add(1) },
	})
	return o, &delivered
}

func offer(o *dlr.Outbox, hold time.Duration, text string) chan offered {
	c := make(chan offered, 1)
	o.Offer("shop", &dlr.Item{Raw: pdu.Request(pdu.DeliverSM, 0, []byte(text))}, hold,
		func(straight bool, err error) { c <- offered{straight, err} })
	return c
}

func outcome(t *testing.T, c chan offered) offered {
	t.Helper()
	select {
	case o := <-c:
		return o
	case <-time.After(10 * time.Second):
		t.Fatal("Offer never called done")
		return offered{}
	}
}

// wantStored fails t unless c says the item was stored.
func wantStored(t *testing.T, c chan offered) {
	t.Helper()
	if got := outcome(t, c); got.straight || got.err != nil {
		t.Fatalf("done(%v, %v), want stored", got.straight, got.err)
	}
}

// A client that can take an item and accepts it gets it without a write to
// the store.
func TestOfferStraight(t *testing.T) {
	t.Parallel()
	st := &countingStore{Store: memstore.New(nil)}
	recv := newWindowReceiver()
	o, delivered := newStraightOutbox(st, recv)
	defer o.Close()
	c := offer(o, time.Hour, "a")
	select {
	case got := <-c:
		t.Fatalf("done before the client answered: %+v", got)
	default:
	}
	recv.next(t)(answer(pdu.StatusOK), nil)
	if got := outcome(t, c); !got.straight || got.err != nil {
		t.Fatalf("done(%v, %v), want straight", got.straight, got.err)
	}
	if n := st.adds.Load(); n != 0 {
		t.Fatalf("%d items stored, want none", n)
	}
	if n := delivered.Load(); n != 1 {
		t.Fatalf("OnDelivered called %d times", n)
	}
	if d := o.Depth("shop"); d != 0 {
		t.Fatalf("depth %d", d)
	}
}

// An item offered while others wait in the outbox is stored behind them:
// it never overtakes them.
func TestOfferBehindWaitingItems(t *testing.T) {
	t.Parallel()
	st := &countingStore{Store: memstore.New(nil)}
	recv := newWindowReceiver()
	var bound atomic.Bool
	o := dlr.NewOutbox(dlr.OutboxConfig{Store: st, Receivers: func(string) []dlr.Receiver {
		if !bound.Load() {
			return nil
		}
		return []dlr.Receiver{recv}
	}})
	defer o.Close()
	errc := make(chan error, 1)
	o.Enqueue("shop", &dlr.Item{Raw: pdu.Request(pdu.DeliverSM, 0, []byte("a"))}, func(err error) { errc <- err })
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	bound.Store(true)
	wantStored(t, offer(o, time.Hour, "b"))
	if n := st.adds.Load(); n != 2 {
		t.Fatalf("%d items stored, want 2", n)
	}
	o.Wake("shop")
	recv.next(t)(answer(pdu.StatusOK), nil)
	recv.next(t)(answer(pdu.StatusOK), nil)
	if n := st.deletes.Load(); n != 2 {
		t.Fatalf("%d items removed from the store, want 2", n)
	}
}

// A client with no window gets the item from the outbox, stored first.
func TestOfferNoWindow(t *testing.T) {
	t.Parallel()
	st := &countingStore{Store: memstore.New(nil)}
	recv := newWindowReceiver()
	recv.window.Store(0)
	o, _ := newStraightOutbox(st, recv)
	defer o.Close()
	wantStored(t, offer(o, time.Hour, "a"))
	recv.window.Store(1)
	o.Wake("shop")
	recv.next(t)(answer(pdu.StatusOK), nil)
	if n := st.adds.Load(); n != 1 {
		t.Fatalf("%d items stored, want 1", n)
	}
}

// An item the client refuses, or whose session closes before answering,
// is stored before done, then tried again from the outbox after its
// backoff.
func TestOfferNotAccepted(t *testing.T) {
	t.Parallel()
	for name, fail := range map[string]struct {
		f   pdu.Frame
		err error
	}{
		"refused": {f: answer(pdu.StatusXTAppn)},
		"closed":  {err: errors.New("connection closed")},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := &countingStore{Store: memstore.New(nil)}
				recv := newWindowReceiver()
				o, delivered := newStraightOutbox(st, recv)
				defer o.Close()
				c := offer(o, time.Hour, "a")
				recv.next(t)(fail.f, fail.err)
				wantStored(t, c)
				if d := o.Depth("shop"); d != 1 {
					t.Fatalf("depth %d, want the item set aside", d)
				}
				// Tried again after RetryMin.
				recv.next(t)(answer(pdu.StatusOK), nil)
				wantSettled(t, o, st, delivered)
			})
		})
	}
}

// wantSettled waits for o to settle and fails t unless the one item went
// into the store, out of it and to the client, once.
func wantSettled(t *testing.T, o *dlr.Outbox, st *countingStore, delivered *atomic.Int32) {
	t.Helper()
	synctest.Wait()
	if a, n, d := st.adds.Load(), st.deletes.Load(), delivered.Load(); a != 1 || n != 1 || d != 1 {
		t.Fatalf("%d stored, %d removed from the store, %d delivered; want 1, 1 and 1", a, n, d)
	}
	if d := o.Depth("shop"); d != 0 {
		t.Fatalf("depth %d", d)
	}
}

// An item the client leaves unanswered for the hold is stored, done is
// called, and the client's later answer settles it as an outbox item.
func TestOfferHold(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := &countingStore{Store: memstore.New(nil)}
		recv := newWindowReceiver()
		o, delivered := newStraightOutbox(st, recv)
		defer o.Close()
		start := time.Now()
		c := offer(o, 200*time.Millisecond, "a")
		respond := recv.next(t)
		wantStored(t, c)
		if d := time.Since(start); d != 200*time.Millisecond {
			t.Fatalf("stored after %v, want the hold, 200ms", d)
		}
		respond(answer(pdu.StatusOK), nil)
		wantSettled(t, o, st, delivered)
	})
}

// An answer that comes while the held item is being stored settles it
// once it is stored.
func TestOfferAnsweredWhileStoring(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := &countingStore{Store: memstore.New(nil), gate: make(chan struct{})}
		recv := newWindowReceiver()
		o, delivered := newStraightOutbox(st, recv)
		defer o.Close()
		c := offer(o, 200*time.Millisecond, "a")
		respond := recv.next(t)
		time.Sleep(200 * time.Millisecond)
		synctest.Wait() // the hold passed: the write waits for the gate
		if n := st.adds.Load(); n != 1 {
			t.Fatalf("%d writes, want 1 under way", n)
		}
		respond(answer(pdu.StatusOK), nil)
		synctest.Wait()
		if n := delivered.Load(); n != 0 {
			t.Fatal("settled before it was stored")
		}
		close(st.gate)
		wantStored(t, c)
		wantSettled(t, o, st, delivered)
	})
}

// A refused item the store cannot take is left to the caller: done gets
// the store's error and the outbox holds nothing.
func TestOfferRefusedStoreDown(t *testing.T) {
	t.Parallel()
	down := errors.New("disk full")
	st := &countingStore{Store: memstore.New(nil), fail: down}
	recv := newWindowReceiver()
	o, _ := newStraightOutbox(st, recv)
	defer o.Close()
	c := offer(o, time.Hour, "a")
	recv.next(t)(answer(pdu.StatusXTAppn), nil)
	if got := outcome(t, c); got.straight || !errors.Is(got.err, down) {
		t.Fatalf("done(%v, %v), want the store's error", got.straight, got.err)
	}
	if d := o.Depth("shop"); d != 0 {
		t.Fatalf("depth %d, want 0", d)
	}
}

// Many items offered at once to a client that answers each: none stored,
// each done once.
func TestOfferMany(t *testing.T) {
	t.Parallel()
	st := &countingStore{Store: memstore.New(nil)}
	recv := newWindowReceiver()
	recv.window.Store(1 << 20)
	recv.calls = make(chan func(pdu.Frame, error), 1000)
	o, delivered := newStraightOutbox(st, recv)
	defer o.Close()
	var wg sync.WaitGroup
	var straight atomic.Int32
	for range 1000 {
		wg.Add(1)
		o.Offer("shop", &dlr.Item{Raw: pdu.Request(pdu.DeliverSM, 0, nil)}, time.Hour, func(s bool, err error) {
			if s && err == nil {
				straight.Add(1)
			}
			wg.Done()
		})
	}
	for range 1000 {
		recv.next(t)(answer(pdu.StatusOK), nil)
	}
	wg.Wait()
	if n, s, d := st.adds.Load(), straight.Load(), delivered.Load(); n != 0 || s != 1000 || d != 1000 {
		t.Fatalf("%d stored, %d straight, %d delivered; want 0, 1000, 1000", n, s, d)
	}
}
