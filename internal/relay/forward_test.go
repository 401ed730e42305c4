package relay

import (
	"sync"
	"testing"
	"time"

	"github.com/smppmux/smppmux/balancer"
	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/pebblestore"
	"github.com/smppmux/smppmux/dlr/storetest"
	"github.com/smppmux/smppmux/internal/forward"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/smppserver"
)

// dyingStore is a Pebble store whose process dies as soon as a write that
// records what became of a queued message (its mapping, its receipt) is
// durable: every write asked for after that is dropped, never made
// durable, as after a kill -9.
type dyingStore struct {
	*pebblestore.Store
	mu   sync.Mutex
	dead chan struct{} // closed at the death
}

// write runs w unless the process died, and lets it die once w is durable
// when final.
func (s *dyingStore) write(final bool, w func(done func(error)), done func(error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.dead:
		return
	default:
	}
	w(func(err error) {
		if final && err == nil {
			s.mu.Lock()
			select {
			case <-s.dead:
			default:
				close(s.dead)
			}
			s.mu.Unlock()
		}
		done(err)
	})
}

func (s *dyingStore) PutMapping(m dlr.Mapping, done func(error)) {
	s.write(true, func(d func(error)) { s.Store.PutMapping(m, d) }, done)
}

func (s *dyingStore) SettleSent(q *dlr.Queued, m dlr.Mapping, done func(error)) {
	s.write(true, func(d func(error)) { s.Store.SettleSent(q, m, d) }, done)
}

func (s *dyingStore) AddOutbox(systemID string, it *dlr.Item, done func(error)) {
	s.write(true, func(d func(error)) { s.Store.AddOutbox(systemID, it, d) }, done)
}

func (s *dyingStore) Settle(q *dlr.Queued, done func(error)) {
	s.write(false, func(d func(error)) { s.Store.Settle(q, d) }, done)
}

// TestSettleQueuedInOneWrite: a queued message's outcome is recorded in
// the write that removes it from its queue. Killed right after the write
// of its mapping (sent) or of its receipt (expired), the process leaves
// no orphan behind: an orphan would get an UNKNOWN receipt at the next
// start, besides the SMSC's receipt or the EXPIRED one (once the SMSC's
// receipt was relayed and its mapping forgotten, nothing tells that it
// was sent).
func TestSettleQueuedInOneWrite(t *testing.T) {
	for _, o := range []forward.Outcome{forward.Sent, forward.Expired} {
		t.Run(o.String(), func(t *testing.T) {
			dir := t.TempDir()
			ps, err := pebblestore.Open(pebblestore.Config{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			s := &dyingStore{Store: ps, dead: make(chan struct{})}
			now := time.Now()
			m := storetest.Queued("g", "shop", "c1", now, time.Time{})
			m.Raw = pdu.Request(pdu.SubmitSM, 0, pdu.AppendSM(nil, &pdu.SM{DestAddr: []byte("4477"), SourceAddr: []byte("Shop"),
				RegisteredDelivery: 1, ShortMessage: []byte("hi")}))
			storetest.EnqueueSync(t, ps, m)
			if taken := storetest.TakeAll(t, ps, "g", 1); len(taken) != 1 {
				t.Fatal("nothing taken")
			}
			r := New(Config{Registry: smppserver.NewRegistry(), Store: s, IDs: dlr.NewIDs(now)})
			raw := pdu.MessageIDResp(pdu.SubmitSMResp, pdu.StatusOK, 1, "X1")
			res := balancer.Result{Member: "carrier", Resp: pdu.Frame{Header: pdu.ParseHeader(raw), Raw: raw}}
			if o != forward.Sent {
				res = balancer.Result{}
			}
			r.settleQueued(s, Queue{MaxAge: time.Hour}, m, o, res, func(error) {})
			select {
			case <-s.dead:
			case <-time.After(10 * time.Second):
				t.Fatal("nothing written")
			}
			r.Close()
			s.mu.Lock() // no write starts from here on
			if err := ps.Close(); err != nil {
				t.Fatal(err)
			}
			s.mu.Unlock()

			ps, err = pebblestore.Open(pebblestore.Config{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			defer ps.Close()
			if orphans, err := ps.Orphans("g"); err != nil || len(orphans) != 0 {
				t.Fatalf("after the kill: orphans %v, %v; want none: the next start would send an UNKNOWN receipt besides", storetest.QueuedIDs(orphans), err)
			}
			var items int
			if err := ps.LoadOutbox(func(string, *dlr.Item) { items++ }); err != nil {
				t.Fatal(err)
			}
			_, mapped, err := ps.ByClient("shop", "c1")
			if err != nil {
				t.Fatal(err)
			}
			if o == forward.Sent && !mapped || o == forward.Expired && items != 1 {
				t.Fatalf("after the kill: mapping %v, %d outbox items", mapped, items)
			}
		})
	}
}
