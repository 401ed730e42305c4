package relay

import (
	"context"
	"testing"
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/pebblestore"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
	"github.com/smppmux/smppmux/smppserver"
	"github.com/smppmux/smppmux/upstream"
)

// TestChangedOnParking: a receipt that finds no mapping is parked, and
// the channel taken from Changed before it arrived is closed once
// Stats.ReceiptsParked counts it; a channel taken after is not.
func TestChangedOnParking(t *testing.T) {
	t.Parallel()
	store, err := pebblestore.Open(pebblestore.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	r := New(Config{Registry: smppserver.NewRegistry(), Store: store, IDs: dlr.NewIDs(time.Now()), ParkTimeout: time.Hour})
	t.Cleanup(r.Close)
	u := upstream.New(upstream.Config{Name: "carrier", Addr: "127.0.0.1:1"}, r, nil)
	sub := &pdu.SM{SourceAddr: []byte("Shop"), DestAddr: []byte("447700900001"), ShortMessage: []byte("x"), RegisteredDelivery: 1}
	raw := pdu.Request(pdu.DeliverSM, 7, smsctest.Receipt("abc1", sub, "DELIVRD", time.Now()))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	before := r.Changed()
	r.HandleDeliver(u, pdu.Frame{Header: pdu.ParseHeader(raw), Raw: raw}, func(pdu.Status) {})
	select {
	case <-before:
	case <-ctx.Done():
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
