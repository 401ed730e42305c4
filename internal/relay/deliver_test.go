package relay

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/memstore"
	"github.com/smppmux/smppmux/dlr/pebblestore"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
	"github.com/smppmux/smppmux/smppserver"
	"github.com/smppmux/smppmux/upstream"
)

// receipt is a deliver_sm receipt, DELIVRD, of the message id.
func receipt(id string) pdu.Frame {
	sub := &pdu.SM{SourceAddr: []byte("Shop"), DestAddr: []byte("447700900001"), ShortMessage: []byte("x"), RegisteredDelivery: 1}
	raw := pdu.Request(pdu.DeliverSM, 7, smsctest.Receipt(id, sub, "DELIVRD", time.Now()))
	return pdu.Frame{Header: pdu.ParseHeader(raw), Raw: raw}
}

// openPebble opens a Pebble store in a directory of t's, closed when t
// is over.
func openPebble(t *testing.T) *pebblestore.Store {
	t.Helper()
	store, err := pebblestore.Open(pebblestore.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return store
}

// TestParkedReceiptAtClose: a receipt waiting for its mapping when the
// relay closes, and the Pebble store after it, is answered
// ESME_RX_T_APPN, and its wait never ends in a lookup in the closed store
// (which panics: "pebble: closed"). Nor does a receipt that arrives
// after Close touch the store.
func TestParkedReceiptAtClose(t *testing.T) {
	t.Parallel()
	// The store's goroutines live outside the bubble: only the relay's
	// timers run on its clock.
	store := openPebble(t)
	synctest.Test(t, func(t *testing.T) {
		const wait = time.Minute
		r := New(Config{Registry: smppserver.NewRegistry(), Store: store, IDs: dlr.NewIDs(time.Now()), ParkTimeout: wait})
		u := upstream.New(upstream.Config{Name: "carrier", Addr: "127.0.0.1:1"}, r, nil)
		var acks []pdu.Status
		r.HandleDeliver(u, receipt("abc1"), func(st pdu.Status) { acks = append(acks, st) })
		if len(acks) != 0 || r.parking.Len() != 1 {
			t.Fatalf("receipt of an unknown message answered %v, %d parked: want it parked", acks, r.parking.Len())
		}
		r.Close()
		if err := store.Close(); err != nil {
			t.Fatal(err)
		}
		// Past the wait: no expiry runs, no lookup.
		time.Sleep(2 * wait)
		synctest.Wait()
		if len(acks) != 1 || acks[0] != pdu.StatusXTAppn {
			t.Fatalf("parked receipt answered %v, want ESME_RX_T_APPN once, at close", acks)
		}
		r.HandleDeliver(u, receipt("abc2"), func(st pdu.Status) { acks = append(acks, st) })
		if len(acks) != 2 || acks[1] != pdu.StatusXTAppn {
			t.Fatalf("receipt after close answered %v, want ESME_RX_T_APPN", acks[1:])
		}
	})
}

// TestDataSMReceipt: a data_sm receipt takes the path of a deliver_sm
// one: matched by its receipted_message_id, queued for the client with
// the client's id in the TLV and in the text of its message_payload, and
// its SMSC answered ESME_ROK once it is queued.
func TestDataSMReceipt(t *testing.T) {
	t.Parallel()
	store := memstore.New(time.Now)
	put := make(chan error, 1)
	store.PutMapping(dlr.Mapping{Upstream: "carrier", UpstreamID: "up-7",
		Origin: dlr.Origin{SystemID: "shop", ClientID: "00c1"}, Expires: time.Now().Add(time.Hour)},
		func(err error) { put <- err })
	if err := <-put; err != nil {
		t.Fatal(err)
	}
	r := New(Config{Registry: smppserver.NewRegistry(), Store: store, IDs: dlr.NewIDs(time.Now())})
	t.Cleanup(r.Close)
	u := upstream.New(upstream.Config{Name: "carrier", Addr: "127.0.0.1:1"}, r, nil)
	tlvs := pdu.AppendTLV(pdu.AppendTLV(pdu.AppendTLV(nil,
		pdu.TagReceiptedMessageID, []byte("up-7\x00")),
		pdu.TagMessageState, []byte{2}),
		pdu.TagMessagePayload, []byte("id:up-7 stat:DELIVRD"))
	raw := pdu.Request(pdu.DataSM, 7, pdu.AppendSM(nil, &pdu.SM{DataSM: true,
		SourceAddr: []byte("447700900001"), DestAddr: []byte("Shop"), ESMClass: 0x04, TLVs: tlvs}))
	acks := make(chan pdu.Status, 1)
	r.HandleDeliver(u, pdu.Frame{Header: pdu.ParseHeader(raw), Raw: raw}, func(st pdu.Status) { acks <- st })
	select {
	case st := <-acks:
		if st != pdu.StatusOK {
			t.Fatalf("SMSC answered %s", pdu.StatusText(st))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SMSC not answered")
	}
	items, err := r.Outbox().Items("shop", 0, 10, true)
	if err != nil || len(items) != 1 {
		t.Fatalf("outbox holds %d items, %v", len(items), err)
	}
	it := items[0]
	if it.Command != "data_sm" || !it.Receipt || it.MessageID != "00c1" || it.State != "DELIVRD" || string(it.Text) != "id:00c1 stat:DELIVRD" {
		t.Fatalf("queued %+v, text %q", it.DeadLetterSummary, it.Text)
	}
}

// TestHoldEndsWhenRelayed: a receipt that waited for its mapping and was
// relayed before its hold was over leaves no hold timer to fire.
func TestHoldEndsWhenRelayed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := memstore.New(time.Now)
		r := New(Config{Registry: smppserver.NewRegistry(), Store: store, IDs: dlr.NewIDs(time.Now()),
			Hold: 250 * time.Millisecond})
		defer r.Close()
		var holds int
		testHookHoldOver = func(*parked) { holds++ }
		defer func() { testHookHoldOver = nil }()
		u := upstream.New(upstream.Config{Name: "carrier", Addr: "127.0.0.1:1"}, r, nil)
		var acks []pdu.Status
		r.HandleDeliver(u, receipt("abc1"), func(st pdu.Status) { acks = append(acks, st) })
		if r.parking.Len() != 1 {
			t.Fatal("receipt not parked")
		}
		m := dlr.Mapping{Upstream: "carrier", UpstreamID: "abc1",
			Origin: dlr.Origin{SystemID: "shop", ClientID: "00c1"}, Expires: time.Now().Add(time.Hour)}
		r.record(m, func(bool) { r.landed(m) })
		synctest.Wait()
		if len(acks) != 1 || acks[0] != pdu.StatusOK {
			t.Fatalf("SMSC answered %v, want ESME_ROK once the receipt is queued", acks)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if holds != 0 {
			t.Fatalf("the hold of a relayed receipt ended %d times, want its timer stopped", holds)
		}
	})
}
