package daemon

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/redistest"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// tagMarker is a vendor TLV the tests put in pushed receipts to tell
// them apart once delivered; smppmux relays it untouched.
const tagMarker = 0x1400

// idsSMSC is a fake SMSC issuing ids in turn, answering each submit
// without a receipt of its own unless before is set (then it sends the
// receipt, TLV and text, ahead of the submit_sm_resp).
func idsSMSC(t *testing.T, ids []string, before bool) *smsctest.Server {
	t.Helper()
	cfg := smsctest.Config{IDFormat: func(n uint64) string { return ids[(n-1)%uint64(len(ids))] }}
	if before {
		cfg.ReceiptBeforeResp = true
	} else {
		cfg.Submit = func(*smsctest.SubmitRequest) smsctest.Reply { return smsctest.Reply{NoReceipt: true} }
	}
	return smsctest.Start(t, cfg)
}

// startIDs runs smppmux with one upstream "a" of the given id_format in
// front of s, its mappings in store ("pebble" or "redis"), receipts
// waiting wait for their mapping, and binds a transceiver of shop.
func startIDs(t *testing.T, s *smsctest.Server, idFormat, store string, wait time.Duration) (*env, *esmetest.Client) {
	t.Helper()
	storeYAML := ""
	if store == "redis" {
		storeYAML = fmt.Sprintf("store: {kind: redis, instance: 1, redis: {addrs: [%q], lease_ttl: 1s}}\n", redistest.Start(t).Addr)
	}
	e := startYAML(t, fmt.Sprintf(`
listen: {smpp: "127.0.0.1:0"}
%sreceipts: {wait_for_mapping: %s}
clients: [{system_id: shop, password: secret}]
upstreams: [{name: a, addr: "{{0}}", system_id: mux, id_format: %s}]
groups: [{name: g, members: [{upstream: a}]}]
routes: [{group: g}]
`, storeYAML, wait, idFormat), s)
	return e, e.dial(t, "shop", "secret", pdu.BindTransceiver, 10)
}

// submitEach submits n messages one after the other, the i-th with the
// text "m<i>", and returns the client's ids in order.
func submitEach(t *testing.T, c *esmetest.Client, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		r, err := c.Submit(deadline(t), esmetest.SubmitBody("Shop", "447700900001", []byte(fmt.Sprint("m", i)), 1, nil))
		if err != nil || r.Status != pdu.StatusOK {
			t.Fatalf("submit %d: %+v %v", i, r.Status, err)
		}
		ids = append(ids, r.MessageID)
	}
	return ids
}

// pushReceipt sends a receipt naming tlvID in receipted_message_id and
// textID in the text (each left out when empty), carrying marker k.
// Several receipts of one message in a test are each a receipt of their
// own, not one the carrier sends again: they say no message state, so that
// none is taken for a repeat of another (TestReceiptSentAgain tests that).
func pushReceipt(t *testing.T, s *smsctest.Server, tlvID, textID string, k int) {
	t.Helper()
	tlvs := pdu.AppendTLV(nil, tagMarker, []byte(fmt.Sprint(k)))
	if tlvID != "" {
		tlvs = pdu.AppendTLV(tlvs, pdu.TagReceiptedMessageID, append([]byte(tlvID), 0))
	}
	text := "sub:001 dlvrd:001 err:000"
	if textID != "" {
		text = "id:" + textID + " " + text
	}
	body := pdu.AppendSM(nil, &pdu.SM{SourceAddr: []byte("447700900001"), DestAddr: []byte("Shop"), ESMClass: 0x04,
		ShortMessage: []byte(text), TLVs: tlvs})
	if err := s.Push(pdu.Request(pdu.DeliverSM, 1, body)); err != nil {
		t.Fatal(err)
	}
}

// marked reads the next delivery and returns its marker and receipt id.
func marked(t *testing.T, c *esmetest.Client) (int, string) {
	t.Helper()
	select {
	case d := <-c.Deliveries():
		v, ok := pdu.FindTLV(d.SM.TLVs, tagMarker)
		var k int
		if _, err := fmt.Sscan(string(v), &k); !ok || err != nil {
			t.Fatalf("delivery without a marker: %x", d.Frame.Raw)
		}
		if s, e, ok := dlr.TextID(d.SM.ShortMessage); ok && string(d.SM.ShortMessage[s:e]) != d.ReceiptID {
			t.Fatalf("receipt %d: TLV says %q, text %q", k, d.ReceiptID, d.SM.ShortMessage)
		}
		return k, d.ReceiptID
	case <-deadline(t).Done():
		t.Fatal("a receipt was never delivered")
	}
	return 0, ""
}

// eachStore runs test, in parallel subtests for the Pebble and the Redis
// store, on smppmux (id_format auto) in front of a fake SMSC issuing the
// ids issued in turn and sending no receipt of its own, after the client
// submitted one message per id; clients are the ids it was given.
func eachStore(t *testing.T, issued []string, test func(t *testing.T, s *smsctest.Server, e *env, c *esmetest.Client, clients []string)) {
	for _, store := range []string{"pebble", "redis"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			s := idsSMSC(t, issued, false)
			e, c := startIDs(t, s, "auto", store, 30*time.Second)
			test(t, s, e, c, submitEach(t, c, len(issued)))
		})
	}
}

// TestReceiptsReachTheirOwnMessage: an SMSC issues aB1, Ab1, 07 and 7,
// four messages whose ids fold alike in pairs, and writes its receipts
// with the ids as issued, in the TLV and the text, the text only or the
// TLV only; each receipt reaches its own message, with either store, and
// also when it comes before the submit_sm_resp.
func TestReceiptsReachTheirOwnMessage(t *testing.T) {
	t.Parallel()
	issued := []string{"aB1", "Ab1", "07", "7"}
	eachStore(t, issued, func(t *testing.T, s *smsctest.Server, e *env, c *esmetest.Client, clients []string) {
		type receipt struct{ tlv, text string }
		var sent []receipt
		for _, id := range issued {
			sent = append(sent, receipt{id, id}, receipt{"", id}, receipt{id, ""})
		}
		for k, r := range sent {
			pushReceipt(t, s, r.tlv, r.text, k)
		}
		for range sent {
			k, got := marked(t, c)
			if want := clients[k/3]; got != want {
				t.Errorf("receipt for %q (TLV %q, text %q) delivered as %q, want %q", issued[k/3], sent[k].tlv, sent[k].text, got, want)
			}
		}
		if err := s.WaitPushesAcked(deadline(t), len(sent)); err != nil {
			t.Fatal(err)
		}
		if n := e.d.Relay.Stats.ReceiptsMatched.Load(); n != uint64(len(sent)) {
			t.Fatalf("%d receipts matched, want %d", n, len(sent))
		}
	})
	t.Run("before the response", func(t *testing.T) {
		t.Parallel()
		s := idsSMSC(t, issued, true)
		e, c := startIDs(t, s, "auto", "pebble", 30*time.Second)
		clients := submitEach(t, c, len(issued))
		for range issued {
			select {
			case d := <-c.Deliveries():
				i := bytes.Index(d.SM.ShortMessage, []byte("text:m"))
				var n int
				if _, err := fmt.Sscan(string(d.SM.ShortMessage[i+6:]), &n); i < 0 || err != nil || n >= len(clients) {
					t.Fatalf("receipt text %q", d.SM.ShortMessage)
				}
				if d.ReceiptID != clients[n] {
					t.Errorf("receipt for %q delivered as %q, want %q", issued[n], d.ReceiptID, clients[n])
				}
			case <-deadline(t).Done():
				t.Fatal("receipts missing")
			}
		}
		if n := e.d.Relay.Stats.ReceiptsUnmatched.Load(); n != 0 {
			t.Fatalf("%d receipts unmatched", n)
		}
	})
}

// TestOperationsCarryTheSMSCsID: query_sm, cancel_sm and replace_sm reach
// the SMSC with its own id octet for octet (case and leading zeros kept),
// with either store, and query_sm_resp comes back with the client's id.
func TestOperationsCarryTheSMSCsID(t *testing.T) {
	t.Parallel()
	issued := []string{"Aa357dbcb0e40", "0007"}
	eachStore(t, issued, func(t *testing.T, s *smsctest.Server, _ *env, c *esmetest.Client, clients []string) {
		ctx := deadline(t)
		for _, id := range clients {
			operateOn(ctx, t, c, id)
		}
		ops := s.Ops()
		if len(ops) != 3*len(issued) {
			t.Fatalf("SMSC saw %d operations, want %d", len(ops), 3*len(issued))
		}
		for i, op := range ops {
			if want := issued[i/3]; op.MessageID != want {
				t.Errorf("%s reached the SMSC with id %q, want %q", pdu.IDName(op.ID), op.MessageID, want)
			}
		}
	})
}

// operateOn sends a query_sm, a cancel_sm and a replace_sm (short
// message "hi") for the message the client knows as id, and checks that
// each is answered ESME_ROK, the query_sm_resp with id.
func operateOn(ctx context.Context, t *testing.T, c *esmetest.Client, id string) {
	t.Helper()
	f, err := c.Send(ctx, pdu.QuerySM, esmetest.QueryBody(id, "Shop"))
	if err != nil || f.ID != pdu.QuerySMResp || f.Status != pdu.StatusOK {
		t.Fatalf("query_sm %s: %s 0x%x %v", id, pdu.IDName(f.ID), uint32(f.Status), err)
	}
	if want := append(pdu.AppendCString(nil, id), 0, 2, 0); !bytes.Equal(f.Body(), want) {
		t.Fatalf("query_sm_resp body %q, want %q", f.Body(), want)
	}
	if f, err := c.Send(ctx, pdu.CancelSM, esmetest.CancelBody(id, "Shop", "447700900001")); err != nil || f.Status != pdu.StatusOK || f.ID != pdu.CancelSMResp {
		t.Fatalf("cancel_sm %s: %s 0x%x %v", id, pdu.IDName(f.ID), uint32(f.Status), err)
	}
	replace := append(pdu.AppendCString(nil, id), 5, 0)
	replace = pdu.AppendCString(replace, "Shop")
	replace = append(replace, 0, 0, 0, 0, 2, 'h', 'i')
	if f, err := c.Send(ctx, pdu.ReplaceSM, replace); err != nil || f.Status != pdu.StatusOK || f.ID != pdu.ReplaceSMResp {
		t.Fatalf("replace_sm %s: %s 0x%x %v", id, pdu.IDName(f.ID), uint32(f.Status), err)
	}
}

// metricsBody returns what the admin listener's /metrics serves.
func metricsBody(t *testing.T, e *env) string {
	t.Helper()
	_, b := adminDo(t, e.d, "", "GET", "/metrics", "")
	return b
}

// TestAmbiguousReceipt: with id_format same, a receipt whose id matches
// no message as written and two up to case (aB1 and Ab1 for AB1) is
// delivered to neither: it is counted as ambiguous and answered like an
// unmatched one. A receipt whose folded id only one message has (XY9 for
// Xy9) is delivered to it, and one naming aB1 as written to aB1; with
// either store.
func TestAmbiguousReceipt(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"pebble", "redis"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			testAmbiguousReceipt(t, store)
		})
	}
}

func testAmbiguousReceipt(t *testing.T, store string) {
	issued := []string{"aB1", "Ab1", "Xy9"}
	s := idsSMSC(t, issued, false)
	e, c := startIDs(t, s, "same", store, 100*time.Millisecond)
	clients := submitEach(t, c, len(issued))
	ctx := deadline(t)
	pushReceipt(t, s, "AB1", "AB1", 0)
	if err := s.WaitPushesAnswered(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if st := s.PushStatuses(); st[pdu.StatusOK] != 1 {
		t.Fatalf("the ambiguous receipt was answered %v, want ESME_ROK as an unmatched one", st)
	}
	// Had the first been delivered, it would have been queued for the
	// client, before these.
	pushReceipt(t, s, "", "000XY9", 1)
	pushReceipt(t, s, "aB1", "aB1", 2)
	want := map[int]string{1: clients[2], 2: clients[0]}
	for range want {
		if k, got := marked(t, c); got != want[k] {
			t.Fatalf("delivered receipt %d as %q, want receipts 1 and 2 as %v", k, got, want)
		}
	}
	if err := s.WaitPushesAcked(ctx, 3); err != nil {
		t.Fatal(err)
	}
	st := &e.d.Relay.Stats
	if a, m, u := st.ReceiptsAmbiguous.Load(), st.ReceiptsMatched.Load(), st.ReceiptsUnmatched.Load(); a != 1 || m != 2 || u != 0 {
		t.Fatalf("receipts ambiguous %d, matched %d, unmatched %d; want 1, 2, 0", a, m, u)
	}
	body := metricsBody(t, e)
	for _, want := range []string{
		`smppmux_receipts_total{result="ambiguous",upstream="a"} 1`,
		`smppmux_receipts_total{result="matched",upstream="a"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestReceiptsNeverStray is a property test over the wire: for several
// seeds, an SMSC issues ids drawn so that many fold alike (case and
// leading zeros), and sends receipts for them in random forms: as issued
// (id_format auto or exact), or in any case and zero-padded (same).
// Every receipt reaches its own message or, when its id matches no
// message as written and several up to folding, none; never another.
func TestReceiptsNeverStray(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"auto", "exact", "same"} {
		for seed := range uint64(3) {
			t.Run(fmt.Sprint(mode, seed), func(t *testing.T) {
				t.Parallel()
				testReceiptsNeverStray(t, mode, seed)
			})
		}
	}
}

func testReceiptsNeverStray(t *testing.T, mode string, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	bases := []string{"ab1", "7", "c0d", "e2f3"}
	seen := map[string]bool{}
	var issued []string
	for len(issued) < 12 {
		id := variant(rng, bases[rng.IntN(len(bases))])
		if !seen[id] {
			seen[id] = true
			issued = append(issued, id)
		}
	}
	s := idsSMSC(t, issued, false)
	e, c := startIDs(t, s, mode, "pebble", 100*time.Millisecond)
	clients := submitEach(t, c, len(issued))
	group := map[string]int{}
	for _, id := range issued {
		group[dlr.FoldID(id)]++
	}
	want := map[int]string{} // marker -> the client id it must reach
	owner := map[int]string{}
	ambiguous, pushed := 0, 0
	for k := range 36 {
		own := rng.IntN(len(issued))
		id := issued[own]
		tlv, text := id, id
		if mode == "same" {
			tlv, text = variant(rng, id), variant(rng, id)
		}
		switch rng.IntN(3) {
		case 1:
			tlv = ""
		case 2:
			text = ""
		}
		read := tlv
		if read == "" {
			read = text
		}
		switch {
		case read == id:
			want[k] = clients[own]
		case seen[read]:
			// Another message's id as written: no reader can tell.
			continue
		case group[dlr.FoldID(read)] == 1:
			want[k] = clients[own]
		default:
			ambiguous++
		}
		owner[k] = id
		pushReceipt(t, s, tlv, text, k)
		pushed++
	}
	for range want {
		k, got := marked(t, c)
		if w, ok := want[k]; !ok || got != w {
			t.Errorf("receipt %d for %q of %v delivered as %q, want %q", k, owner[k], issued, got, w)
		}
	}
	if err := s.WaitPushesAcked(deadline(t), pushed); err != nil {
		t.Fatal(err)
	}
	st := &e.d.Relay.Stats
	if m, a := st.ReceiptsMatched.Load(), st.ReceiptsAmbiguous.Load(); m != uint64(len(want)) || a != uint64(ambiguous) {
		t.Fatalf("%d receipts matched and %d ambiguous, want %d and %d", m, a, len(want), ambiguous)
	}
}

// variant writes id with random letters in upper case and up to two
// leading zeros.
func variant(rng *rand.Rand, id string) string {
	b := []byte(strings.Repeat("0", rng.IntN(3)) + id)
	for i, ch := range b {
		if 'a' <= ch && ch <= 'z' && rng.IntN(2) == 0 {
			b[i] = ch - 'a' + 'A'
		}
	}
	return string(b)
}

// TestFoldedReceiptBeforeResponse: with id_format same, a receipt naming
// its message in another case and zero-padded, before the SMSC's
// submit_sm_resp, waits; the mapping's write claims it by its folded id
// and, as the only message of that form, it is delivered; with either
// store.
func TestFoldedReceiptBeforeResponse(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"pebble", "redis"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			testFoldedReceiptBeforeResponse(t, store)
		})
	}
}

func testFoldedReceiptBeforeResponse(t *testing.T, store string) {
	arrived, release := make(chan struct{}), make(chan struct{})
	s := smsctest.Start(t, smsctest.Config{
		IDFormat: func(uint64) string { return "Xy9" },
		Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
			// Holds the response back until the receipt is parked.
			close(arrived)
			select {
			case <-release:
			case <-time.After(time.Minute):
			}
			return smsctest.Reply{NoReceipt: true}
		},
	})
	// Longer than the test's deadline: only the claim can deliver it.
	e, c := startIDs(t, s, "same", store, 10*time.Minute)
	ctx := deadline(t)
	resp := make(chan esmetest.Resp, 1)
	if err := c.SubmitAsync(esmetest.SubmitBody("Shop", "447700900001", []byte("x"), 1, nil), func(r esmetest.Resp, err error) {
		if err != nil {
			t.Error(err)
		}
		resp <- r
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-arrived:
	case <-ctx.Done():
		t.Fatal("the submit never reached the SMSC")
	}
	pushReceipt(t, s, "", "000XY9", 0)
	e.waitRelay(t, ctx, "the receipt parked", func() bool { return e.d.Relay.Stats.ReceiptsParked.Load() != 0 })
	close(release)
	r := <-resp
	if r.Status != pdu.StatusOK {
		t.Fatalf("submit: 0x%x", uint32(r.Status))
	}
	if k, got := marked(t, c); k != 0 || got != r.MessageID {
		t.Fatalf("receipt %d delivered as %q, want %q", k, got, r.MessageID)
	}
	if err := s.WaitPushesAcked(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if m := e.d.Relay.Stats.ReceiptsMatched.Load(); m != 1 {
		t.Fatalf("%d receipts matched", m)
	}
}
