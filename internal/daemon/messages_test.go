package daemon

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// TestReceiptIDForms: the SMSC writes the id of the receipt in another
// case and zero-padded, in both the TLV and the text. With id_format same
// it still matches; with auto, which folds nothing until a receipt shows
// it, it does not, and is answered and counted as unmatched.
func TestReceiptIDForms(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"same", "auto"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			s := smsctest.Start(t, smsctest.Config{
				IDFormat: func(n uint64) string { return fmt.Sprintf("abc%x", n) },
				Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
					return smsctest.Reply{NoReceipt: true}
				},
			})
			e, c := startIDs(t, s, format, "pebble", 100*time.Millisecond)
			ctx := deadline(t)
			sub := &pdu.SM{SourceAddr: []byte("Shop"), DestAddr: []byte("447700900001"), ShortMessage: []byte("x"), RegisteredDelivery: 1}
			r, err := c.Submit(ctx, pdu.AppendSM(nil, sub))
			if err != nil || r.Status != pdu.StatusOK {
				t.Fatalf("submit: %+v %v", r, err)
			}
			upstreamID := s.Records()[0].MessageID
			odd := "000" + strings.ToUpper(upstreamID)
			if err := s.Push(pdu.Request(pdu.DeliverSM, 1, smsctest.Receipt(odd, sub, "DELIVRD", time.Now()))); err != nil {
				t.Fatal(err)
			}
			if format == "auto" {
				if err := s.WaitPushesAcked(ctx, 1); err != nil {
					t.Fatal(err)
				}
				if m, u := e.d.Relay.Stats.ReceiptsMatched.Load(), e.d.Relay.Stats.ReceiptsUnmatched.Load(); m != 0 || u != 1 {
					t.Fatalf("receipts matched %d, unmatched %d; want 0, 1", m, u)
				}
				return
			}
			select {
			case d := <-c.Deliveries():
				if d.ReceiptID != r.MessageID {
					t.Fatalf("receipt id %q, want the client's %q", d.ReceiptID, r.MessageID)
				}
				if !strings.HasPrefix(string(d.SM.ShortMessage), "id:"+r.MessageID+" ") {
					t.Fatalf("receipt text %q", d.SM.ShortMessage)
				}
			case <-ctx.Done():
				t.Fatal("receipt never delivered")
			}
			if err := s.WaitPushesAcked(ctx, 1); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestMobileOriginated: an MO deliver_sm goes, as it came, to the client
// its MO route names, once that client binds; one no MO route matches is
// refused with a temporary error, so the SMSC keeps it.
func TestMobileOriginated(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{})
	e := startYAML(t, `
listen: {smpp: "127.0.0.1:0"}
clients: [{system_id: shop, password: secret}, {system_id: bank, password: secret2}]
upstreams: [{name: a, addr: "{{0}}", system_id: mux}]
groups: [{name: g, members: [{upstream: a}]}]
routes: [{group: g}]
mo_routes:
  - {destination_prefix: ["123"], client: shop}
  - {destination_prefix: ["12399"], client: bank}
`, s)
	ctx := deadline(t)
	push := func(dest, text string) []byte {
		body := pdu.AppendSM(nil, &pdu.SM{SourceAddr: []byte("447700900001"), DestAddr: []byte(dest), ShortMessage: []byte(text),
			TLVs: pdu.AppendTLV(nil, 0x1501, []byte("x"))})
		if err := s.Push(pdu.Request(pdu.DeliverSM, 1, body)); err != nil {
			t.Fatal(err)
		}
		return body
	}
	stop := push("12345", "STOP")
	otp := push("12399", "PIN")
	push("555", "lost")
	if err := s.WaitPushesAnswered(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if got := s.PushStatuses(); got[pdu.StatusOK] != 2 || got[pdu.StatusXTAppn] != 1 {
		t.Fatalf("MO answered %v, want two ESME_ROK and one ESME_RX_T_APPN", got)
	}
	for _, c := range []struct {
		systemID, password string
		body               []byte
	}{{"shop", "secret", stop}, {"bank", "secret2", otp}} {
		rx := e.dial(t, c.systemID, c.password, pdu.BindReceiver, 1)
		select {
		case d := <-rx.Deliveries():
			if !bytes.Equal(d.Frame.Body(), c.body) {
				t.Fatalf("%s got %x, want the MO as sent %x", c.systemID, d.Frame.Body(), c.body)
			}
		case <-ctx.Done():
			t.Fatalf("%s never got its MO", c.systemID)
		}
	}
}

// TestReceiptIDFormats: an SMSC answering submit_sm_resp in hexadecimal
// and writing receipt texts in decimal, configured or learnt.
func TestReceiptIDFormats(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, format string
		learn        bool // send one receipt with both TLV and text first
	}{
		{"configured hex-decimal", "hex-decimal", false},
		{"learnt", "auto", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := smsctest.Start(t, smsctest.Config{
				IDFormat: func(n uint64) string { return fmt.Sprintf("%X", 0xA000+n) },
				Submit:   func(*smsctest.SubmitRequest) smsctest.Reply { return smsctest.Reply{NoReceipt: true} },
			})
			e := startYAML(t, fmt.Sprintf(`
listen: {smpp: "127.0.0.1:0"}
clients: [{system_id: shop, password: secret}]
upstreams: [{name: a, addr: "{{0}}", system_id: mux, id_format: %s}]
groups: [{name: g, members: [{upstream: a}]}]
routes: [{group: g}]
`, tt.format), s)
			c := e.dial(t, "shop", "secret", pdu.BindTransceiver, 1)
			ctx := deadline(t)
			sub := &pdu.SM{SourceAddr: []byte("Shop"), DestAddr: []byte("447700900001"), ShortMessage: []byte("x"), RegisteredDelivery: 1}
			var client []string
			for range 2 {
				r, err := c.Submit(ctx, pdu.AppendSM(nil, sub))
				if err != nil || r.Status != pdu.StatusOK {
					t.Fatalf("submit: %+v %v", r.Status, err)
				}
				client = append(client, r.MessageID)
			}
			recs := s.Records()
			decimal := func(hexID string) string {
				n, err := strconv.ParseUint(hexID, 16, 64)
				if err != nil {
					t.Fatal(err)
				}
				return strconv.FormatUint(n, 10)
			}
			push := func(text string, tlvID string) {
				var tlvs []byte
				if tlvID != "" {
					tlvs = pdu.AppendTLV(nil, pdu.TagReceiptedMessageID, append([]byte(tlvID), 0))
				}
				body := pdu.AppendSM(nil, &pdu.SM{SourceAddr: sub.DestAddr, DestAddr: sub.SourceAddr, ESMClass: 0x04,
					ShortMessage: []byte(text), TLVs: tlvs})
				if err := s.Push(pdu.Request(pdu.DeliverSM, 1, body)); err != nil {
					t.Fatal(err)
				}
			}
			first := 0
			if tt.learn {
				push("id:"+decimal(recs[0].MessageID)+" stat:DELIVRD", recs[0].MessageID)
				first = 1
			}
			for i := first; i < 2; i++ {
				push("id:"+decimal(recs[i].MessageID)+" stat:DELIVRD", "")
			}
			// Both receipts come back, each under its own client id.
			var got []string
			for range 2 {
				select {
				case d := <-c.Deliveries():
					got = append(got, d.ReceiptID)
				case <-ctx.Done():
					t.Fatalf("receipts delivered: %v", got)
				}
			}
			slices.Sort(got)
			slices.Sort(client)
			if !slices.Equal(got, client) {
				t.Fatalf("receipts for %v, want %v", got, client)
			}
		})
	}
}

// TestOperationsOnEarlierMessages: query_sm, cancel_sm and replace_sm
// name the message by the client's id; smppmux sends them to the upstream
// that took it, under the upstream's id, and answers with the client's.
func TestOperationsOnEarlierMessages(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{IDFormat: func(n uint64) string { return fmt.Sprintf("up-%d", n) }})
	e := start(t, "active-active", "trx", s)
	c := e.dial(t, "shop", "secret", pdu.BindTransceiver, 10)
	ctx := deadline(t)
	r, err := c.Submit(ctx, esmetest.SubmitBody("Shop", "447700900001", []byte("x"), 0, nil))
	if err != nil || r.Status != pdu.StatusOK {
		t.Fatalf("submit: %+v %v", r.Status, err)
	}
	operateOn(ctx, t, c, r.MessageID)

	ops := s.Ops()
	if len(ops) != 3 {
		t.Fatalf("SMSC saw %d operations", len(ops))
	}
	upstreamID := s.Records()[0].MessageID
	for _, op := range ops {
		if op.MessageID != upstreamID {
			t.Fatalf("%s reached the SMSC with id %q, want its own %q", pdu.IDName(op.ID), op.MessageID, upstreamID)
		}
	}
	// The rest of the replace_sm is untouched.
	if !bytes.HasSuffix(ops[2].Raw, []byte{0, 0, 0, 0, 2, 'h', 'i'}) {
		t.Fatalf("replace_sm changed on the way: %x", ops[2].Raw)
	}

	unknown := append(pdu.AppendCString(nil, "nope"), 5, 0)
	unknown = pdu.AppendCString(unknown, "Shop")
	if f, err := c.Send(ctx, pdu.QuerySM, unknown); err != nil || f.Status != pdu.StatusInvMsgID || len(f.Body()) != 0 {
		t.Fatalf("query_sm for an unknown id: 0x%x %v", uint32(f.Status), err)
	}
}

// TestClientLimits: sender ids, the per-destination cap and the TPS cap
// of a client, over the wire.
func TestClientLimits(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{})
	e := startYAML(t, `
listen: {smpp: "127.0.0.1:0"}
clients:
  - system_id: shop
    password: secret
    allowed_sources: ["Shop", "4477*"]
    destination_limit: {count: 3, per: 1h}
  - {system_id: fast, password: secret, tps: 5}
upstreams: [{name: a, addr: "{{0}}", system_id: mux}]
groups: [{name: g, members: [{upstream: a}]}]
routes: [{group: g}]
`, s)
	ctx := deadline(t)
	c := e.dial(t, "shop", "secret", pdu.BindTransmitter, 1)
	send := func(c *esmetest.Client, src, dst string) pdu.Status {
		r, err := c.Submit(ctx, esmetest.SubmitBody(src, dst, []byte("otp 1234"), 0, nil))
		if err != nil {
			t.Fatal(err)
		}
		return r.Status
	}
	if st := send(c, "Spoof", "447700900001"); st != pdu.StatusInvSrcAdr {
		t.Fatalf("unlisted sender: 0x%x, want ESME_RINVSRCADR", uint32(st))
	}
	for i, want := range []pdu.Status{pdu.StatusOK, pdu.StatusOK, pdu.StatusOK, pdu.StatusThrottled} {
		if st := send(c, "447700111111", "447700900001"); st != want {
			t.Fatalf("message %d to one destination: 0x%x, want 0x%x", i+1, uint32(st), uint32(want))
		}
	}
	if st := send(c, "Shop", "447700900002"); st != pdu.StatusOK {
		t.Fatalf("another destination: 0x%x", uint32(st))
	}
	// tps 5 allows a burst of 1: of 20 submits at once most are refused.
	f := e.dial(t, "fast", "secret", pdu.BindTransmitter, 20)
	var mu sync.Mutex
	counts := map[pdu.Status]int{}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		if err := f.SubmitAsync(esmetest.SubmitBody("Fast", fmt.Sprintf("4477%08d", i), []byte("x"), 0, nil), func(r esmetest.Resp, err error) {
			defer wg.Done()
			mu.Lock()
			counts[r.Status]++
			mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if counts[pdu.StatusThrottled] == 0 || counts[pdu.StatusOK] == 0 || counts[pdu.StatusOK]+counts[pdu.StatusThrottled] != 20 {
		t.Fatalf("20 submits at once under tps 5: %v", counts)
	}
}
