// Package storetest is the conformance suite of dlr's stores: every
// implementation of dlr.Store (the memory, Pebble and Redis stores) runs
// Run from its own tests, so that they all keep the promises of
// dlr.MappingStore and dlr.OutboxStore alike. What only one backend does
// (a Pebble store's disk faults, a Redis store's leases and outages) is
// tested beside it, with the helpers exported here.
//
// It starts no goroutines of its own beyond those of the stores it tests.
package storetest

import (
	"testing"
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/pdu"
)

// Option changes what Run expects of a store.
type Option func(*suite)

// Volatile says the store keeps no outbox items, only their numbers and
// marks: the Outbox holds the items in memory (memstore).
func Volatile() Option { return func(s *suite) { s.volatile = true } }

type suite struct {
	volatile bool
}

// Run runs the conformance suite, each part on a new store from newStore,
// which closes it when the test ends (t.Cleanup).
func Run(t *testing.T, newStore func(t *testing.T) dlr.Store, opts ...Option) {
	var su suite
	for _, o := range opts {
		o(&su)
	}
	now := time.Now()
	t.Run("Health", func(t *testing.T) {
		if err := newStore(t).Health(); err != nil {
			t.Fatalf("Health of a new store: %v", err)
		}
	})
	t.Run("Mappings", func(t *testing.T) { CheckMappings(t, newStore(t), now) })
	t.Run("IDs", func(t *testing.T) {
		s := newStore(t)
		PutIDs(t, s, now)
		CheckIDs(t, s)
		CheckIDGivenAgain(t, s, s, now)
	})
	t.Run("Marks", func(t *testing.T) { CheckMarks(t, newStore(t), now) })
	t.Run("PutMark", func(t *testing.T) { CheckPutMark(t, newStore(t), now) })
	t.Run("Outbox", func(t *testing.T) { su.checkOutbox(t, newStore(t)) })
	t.Run("DeadLetters", func(t *testing.T) {
		s := newStore(t)
		if sh, ok := s.(dlr.SharedStore); ok {
			// Only the holder of a shared outbox's lease moves its items.
			if g, err := sh.Lease("shop"); !g.Ours() || err != nil {
				t.Fatalf("Lease = %v, %v", g, err)
			}
		}
		CheckDeadLetters(t, s, su.lister(s))
	})
	t.Run("Waiting", func(t *testing.T) { CheckWaiting(t, newStore(t), now) })
	if _, ok := newStore(t).(dlr.QueueStore); ok {
		t.Run("Queue", func(t *testing.T) { CheckQueue(t, newStore(t).(dlr.QueueStore), now) })
		t.Run("QueueSettles", func(t *testing.T) {
			s := newStore(t)
			if sh, ok := s.(dlr.SharedStore); ok {
				if g, err := sh.Lease("a"); !g.Ours() || err != nil {
					t.Fatalf("Lease = %v, %v", g, err)
				}
			}
			CheckQueueSettles(t, s, now)
		})
	}
}

// Wait runs f with a callback and fails the test unless the callback is
// given nil.
func Wait(t testing.TB, f func(done func(error))) {
	t.Helper()
	errc := make(chan error, 1)
	f(func(err error) { errc <- err })
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// PutMapping writes m and returns the outcome its callback was given.
func PutMapping(s dlr.MappingStore, m dlr.Mapping) error {
	errc := make(chan error, 1)
	s.PutMapping(m, func(err error) { errc <- err })
	return <-errc
}

// PutSync writes m and fails the test unless the write succeeded.
func PutSync(t testing.TB, s dlr.MappingStore, m dlr.Mapping) {
	t.Helper()
	if err := PutMapping(s, m); err != nil {
		t.Fatal(err)
	}
}

// AddSync adds to systemID's outbox an item of text from session 3 and
// returns it with the outcome of the write.
func AddSync(t testing.TB, s dlr.OutboxStore, systemID, text string) (*dlr.Item, error) {
	t.Helper()
	it := &dlr.Item{Raw: pdu.Request(pdu.DeliverSM, 0, []byte(text)), Origin: 3, At: time.Now()}
	errc := make(chan error, 1)
	s.AddOutbox(systemID, it, func(err error) { errc <- err })
	return it, <-errc
}

// Bodies returns the PDU bodies of items.
func Bodies(items []*dlr.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = string(it.Raw[pdu.HeaderLen:])
	}
	return out
}

// CheckMappings checks a store's mapping round trip; the mapping expires
// an hour after now.
func CheckMappings(t *testing.T, s dlr.MappingStore, now time.Time) {
	t.Helper()
	m := dlr.Mapping{Upstream: "a", UpstreamID: "1", Origin: dlr.Origin{SystemID: "shop", ClientID: "x", Session: 7}, Expires: now.Add(time.Hour)}
	PutSync(t, s, m)
	if r, ok, err := s.Get("a", "1"); err != nil || !ok || r != m.Origin {
		t.Fatalf("Get = %+v, %v, %v", r, ok, err)
	}
	if _, ok, _ := s.Get("b", "1"); ok {
		t.Fatal("mapping leaked across upstreams")
	}
	got, ok, err := s.ByClient("shop", "x")
	if err != nil || !ok || got.Upstream != "a" || got.UpstreamID != "1" || got.Origin != m.Origin {
		t.Fatalf("ByClient = %+v, %v, %v", got, ok, err)
	}
	if _, ok, _ := s.ByClient("bank", "x"); ok {
		t.Fatal("mapping leaked across clients")
	}
}
