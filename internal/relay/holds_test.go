package relay

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/memstore"
	"github.com/smppmux/smppmux/internal/lifecycle"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/smppserver"
	"github.com/smppmux/smppmux/upstream"
)

// holdRelay is a relay whose receipts hold for a second, none of them
// ever finding a mapping.
func holdRelay(t *testing.T) (*Relay, *upstream.Upstream) {
	t.Helper()
	r := New(Config{Registry: smppserver.NewRegistry(), Store: memstore.New(nil), IDs: dlr.NewIDs(time.Now()),
		ParkTimeout: time.Hour, Hold: time.Second, Lifecycle: lifecycle.New(nil)})
	t.Cleanup(r.Close)
	return r, upstream.New(upstream.Config{Name: "carrier", Addr: "127.0.0.1:1"}, r, nil)
}

// TestHoldsEndInTurn: receipts arriving at different times, each without
// its mapping, are kept waiting and answered ESME_ROK each a hold after
// its own arrival, on the one timer of the holds, which then has nothing
// left queued.
func TestHoldsEndInTurn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, u := holdRelay(t)
		start := time.Now()
		answered := make([]time.Duration, 3)
		for i, id := range []string{"abc1", "abc2", "abc3"} {
			r.HandleDeliver(u, receipt(id), func(st pdu.Status) {
				if st != pdu.StatusOK {
					t.Errorf("receipt %s answered %v, want ESME_ROK once kept waiting", id, st)
				}
				answered[i] = time.Since(start)
			})
			time.Sleep(300 * time.Millisecond)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		for i, want := range []time.Duration{time.Second, 1300 * time.Millisecond, 1600 * time.Millisecond} {
			if answered[i] != want {
				t.Errorf("receipt %d answered at +%v, want +%v (its arrival and a hold)", i+1, answered[i], want)
			}
		}
		if n, armed := r.holds.Len(), r.holds.Armed(); n != 0 || armed {
			t.Errorf("%d holds queued (armed %v) once all ended, want none", n, armed)
		}
	})
}

// TestHoldsDroppedWhenEnded: receipts ended before their hold (handed back
// at shutdown here) leave the queue at once, and their hold's end does
// nothing more: each is answered once.
func TestHoldsDroppedWhenEnded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, u := holdRelay(t)
		var acks []pdu.Status
		for _, id := range []string{"abc1", "abc2"} {
			r.HandleDeliver(u, receipt(id), func(st pdu.Status) { acks = append(acks, st) })
		}
		if queued := r.holds.Len(); queued != 2 {
			t.Fatalf("%d holds queued, want 2", queued)
		}
		r.ReleaseParked()
		if queued := r.holds.Len(); queued != 0 {
			t.Errorf("%d holds queued once their receipts ended, want none", queued)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if len(acks) != 2 || acks[0] != pdu.StatusXTAppn || acks[1] != pdu.StatusXTAppn {
			t.Errorf("answers %v, want ESME_RX_T_APPN twice, nothing at the holds' end", acks)
		}
	})
}
