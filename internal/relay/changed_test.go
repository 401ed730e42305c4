package relay

import (
	"testing"
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/smppserver"
	"github.com/smppmux/smppmux/upstream"
)

// TestChangedOnParking: a receipt that finds no mapping is parked, and
// the channel taken from Changed before it arrived is closed once
// Stats.ReceiptsParked counts it; a channel taken after is not.
func TestChangedOnParking(t *testing.T) {
	t.Parallel()
	r := New(Config{Registry: smppserver.NewRegistry(), Store: openPebble(t), IDs: dlr.NewIDs(time.Now()), ParkTimeout: time.Hour})
	t.Cleanup(r.Close)
	u := upstream.New(upstream.Config{Name: "carrier", Addr: "127.0.0.1:1"}, r, nil)
	before := r.Changed()
	r.HandleDeliver(u, receipt("abc1"), func(pdu.Status) {})
	select {
	case <-before:
	case <-time.After(20 * time.Second):
		t.Fatal("parking a receipt did not close the channel of Changed")
	}
	if n := r.Stats.ReceiptsParked.Load(); n != 1 {
		t.Fatalf("%d receipts parked when Changed fired, want 1", n)
	}
	select {
	case <-r.Changed():
		t.Fatal("a channel taken after the parking is closed already")
	default:
	}
}
