package dlr

import (
	"errors"
	"testing"

	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/redistest"
)

// bury makes the outbox item it a dead letter of systemID.
func bury(s Store, systemID string, it *Item, reason DeadReason) (*DeadLetter, error) {
	d := &DeadLetter{SystemID: systemID, Raw: it.Raw, Origin: it.Origin, Arrived: it.At,
		Attempts: 4, Refusals: 3, LastStatus: pdu.StatusXTAppn, Reason: reason}
	errc := make(chan error, 1)
	s.PutDeadLetter(d, it.Seq, func(err error) { errc <- err })
	return d, <-errc
}

func bodies(items []*Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = string(it.Raw[pdu.HeaderLen:])
	}
	return out
}

// TestRedisDeadLetterNeedsLease: an instance that does not hold the
// client's lease cannot move its items: the holder may be delivering
// them.
func TestRedisDeadLetterNeedsLease(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	a := openRedis(t, r.Addr, 1, nil)
	b := openRedis(t, r.Addr, 2, nil)
	it, err := addSync(t, a, "shop", "a")
	if err != nil {
		t.Fatal(err)
	}
	if g, err := b.Lease("shop"); !g.Ours() || err != nil {
		t.Fatalf("b.Lease = %v, %v", g, err)
	}
	if _, err := bury(a, "shop", it, ReasonRefused); !errors.Is(err, ErrNotLeased) {
		t.Fatalf("dead letter without the lease: %v, want ErrNotLeased", err)
	}
	if items, _ := a.Pending("shop", 0, 10); len(items) != 1 {
		t.Fatalf("outbox holds %d items, want the one", len(items))
	}
	if list, _ := a.DeadLetters("shop", 0, 10); len(list) != 0 {
		t.Fatalf("%d dead letters written without the lease", len(list))
	}
	if _, err := bury(b, "shop", it, ReasonRefused); err != nil {
		t.Fatalf("dead letter by the lease holder: %v", err)
	}
}
