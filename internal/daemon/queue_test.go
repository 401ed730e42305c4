package daemon

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// queued is a store-and-forward group over one bind of window 10 to {{0}}.
const queued = `
listen: {smpp: "127.0.0.1:0"}
clients:
  - {system_id: shop, password: secret, window: 200}
  - {system_id: bank, password: secret2, window: 200, message_id: {format: decimal, length: 20}}
upstreams:
  - {name: smsc0, addr: "{{0}}", system_id: mux, password: pw, bind: trx, binds: 1, window: 10, reconnect_min: 10ms, reconnect_max: 100ms}
groups:
  - name: main
    queue_timeout: 300ms
    members: [{upstream: smsc0}]
    queue: {mode: store-and-forward, max_items: %d, max_age: %s}
routes:
  - {group: main}
`

// startQueued runs smppmux with the queued group, max_items and max_age
// as given, over s.
func startQueued(t *testing.T, s *smsctest.Server, maxItems int, maxAge string) *env {
	t.Helper()
	return startYAML(t, fmt.Sprintf(queued, maxItems, maxAge), s)
}

// acceptedIDs returns the message ids of rs, failing the test unless
// each was answered ESME_ROK.
func acceptedIDs(t *testing.T, rs []esmetest.Resp) []string {
	t.Helper()
	ids := make([]string, len(rs))
	for i, r := range rs {
		if r.Status != pdu.StatusOK || r.MessageID == "" {
			t.Fatalf("submit %d answered 0x%08x %q", i, uint32(r.Status), r.MessageID)
		}
		ids[i] = r.MessageID
	}
	return ids
}

// TestQueueBurstDrainedInOrder: while the group's only member is stopped,
// a burst of two clients is answered ESME_ROK at once; once it starts,
// every message reaches the SMSC once, each client's in the order
// submitted, and each gets the receipts of its messages with its ids.
func TestQueueBurstDrainedInOrder(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{})
	e := startQueued(t, s, 100000, "1h")
	if _, err := e.d.StopUpstream("smsc0"); err != nil {
		t.Fatal(err)
	}
	shop := e.dial(t, "shop", "secret", pdu.BindTransceiver, 100)
	bank := e.dial(t, "bank", "secret2", pdu.BindTransceiver, 100)
	const n = 300
	bodies := func(prefix string) func(i int) []byte {
		return func(i int) []byte {
			return esmetest.SubmitBody("Shop", fmt.Sprintf("%s%05d", prefix, i), []byte("otp"), 1, nil)
		}
	}
	var shopIDs, bankIDs []string
	var wg sync.WaitGroup
	wg.Go(func() { shopIDs = acceptedIDs(t, submitAll(t, shop, n, bodies("4411"))) })
	wg.Go(func() { bankIDs = acceptedIDs(t, submitAll(t, bank, n, bodies("4422"))) })
	wg.Wait()
	if got := s.Accepted(); got != 0 {
		t.Fatalf("the SMSC took %d messages while its upstream was stopped", got)
	}
	if st := e.d.Relay.Stats.Queued.Load(); st != 2*n {
		t.Fatalf("queued %d, want %d", st, 2*n)
	}
	if _, err := e.d.StartUpstream("smsc0"); err != nil {
		t.Fatal(err)
	}
	ctx := deadline(t)
	if err := s.WaitAccepted(ctx, 2*n); err != nil {
		t.Fatalf("SMSC accepted %d of %d: %v", s.Accepted(), 2*n, err)
	}
	next := map[string]int{"4411": 0, "4422": 0}
	for _, r := range s.Records() {
		var sm pdu.SM
		if err := pdu.ParseSM(r.Body, &sm); err != nil {
			t.Fatal(err)
		}
		dst := string(sm.DestAddr)
		prefix, want := dst[:4], next[dst[:4]]
		if dst != fmt.Sprintf("%s%05d", prefix, want) {
			t.Fatalf("SMSC got %s, want %s%05d next: not in the order submitted", dst, prefix, want)
		}
		next[prefix]++
	}
	for _, c := range []struct {
		cl  *esmetest.Client
		ids []string
	}{{shop, shopIDs}, {bank, bankIDs}} {
		want := make(map[string]bool, n)
		for _, id := range c.ids {
			want[id] = true
		}
		for len(want) > 0 {
			select {
			case d := <-c.cl.Deliveries():
				if !want[d.ReceiptID] {
					t.Fatalf("receipt for %q: not one of this client's ids, or a second", d.ReceiptID)
				}
				delete(want, d.ReceiptID)
			case <-ctx.Done():
				t.Fatalf("%d receipts missing", len(want))
			}
		}
	}
	qs := e.d.store.(dlr.QueueStore)
	e.waitRelay(t, ctx, "the queue empty after the drain", func() bool {
		n, _, err := qs.QueueLen("main")
		return n == 0 && err == nil
	})
}

// nextReceipt returns c's next delivery, failing the test after ctx.
func nextReceipt(t *testing.T, ctx context.Context, c *esmetest.Client) esmetest.Delivery {
	t.Helper()
	select {
	case d := <-c.Deliveries():
		return d
	case <-ctx.Done():
		t.Fatal("no receipt came")
	}
	return esmetest.Delivery{}
}

// checkMadeReceipt checks a receipt smppmux made for message id: stat,
// err and its TLVs, its addresses those of the submit swapped.
func checkMadeReceipt(t *testing.T, d esmetest.Delivery, id, stat, errCode string, state byte) {
	t.Helper()
	text := string(d.SM.ShortMessage)
	if d.ReceiptID != id || !strings.HasPrefix(text, "id:"+id+" sub:001 dlvrd:000 submit date:") ||
		!strings.Contains(text, " stat:"+stat+" err:"+errCode+" text:") {
		t.Fatalf("receipt %q for %q, want stat %s err %s for %s", text, d.ReceiptID, stat, errCode, id)
	}
	if d.SM.ESMClass != 0x04 || string(d.SM.SourceAddr) != "447700900001" || string(d.SM.DestAddr) != "Shop" {
		t.Fatalf("receipt esm_class 0x%02x from %q to %q", d.SM.ESMClass, d.SM.SourceAddr, d.SM.DestAddr)
	}
	if v, ok := pdu.FindTLV(d.SM.TLVs, pdu.TagMessageState); !ok || !bytes.Equal(v, []byte{state}) {
		t.Fatalf("message_state %v, want %d", v, state)
	}
}

// TestQueueExpiredReceipt: a message whose validity_period passes in the
// queue is never sent and its client gets an EXPIRED receipt (err 901);
// one whose client asked for no receipt gets none.
func TestQueueExpiredReceipt(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{})
	e := startQueued(t, s, 100, "1h")
	if _, err := e.d.StopUpstream("smsc0"); err != nil {
		t.Fatal(err)
	}
	c := e.dial(t, "shop", "secret", pdu.BindTransceiver, 10)
	ctx := deadline(t)
	quiet := pdu.AppendSM(nil, &pdu.SM{SourceTON: 5, SourceAddr: []byte("Shop"), DestTON: 1, DestNPI: 1,
		DestAddr: []byte("447700900001"), Validity: []byte("000000000001000R"), RegisteredDelivery: 0, ShortMessage: []byte("quiet")})
	if r, err := c.Submit(ctx, quiet); err != nil || r.Status != pdu.StatusOK {
		t.Fatalf("submit: %+v, %v", r, err)
	}
	body := pdu.AppendSM(nil, &pdu.SM{SourceTON: 5, SourceAddr: []byte("Shop"), DestTON: 1, DestNPI: 1,
		DestAddr: []byte("447700900001"), Validity: []byte("000000000001000R"), RegisteredDelivery: 1, ShortMessage: []byte("code 1234")})
	r, err := c.Submit(ctx, body)
	if err != nil || r.Status != pdu.StatusOK {
		t.Fatalf("submit: %+v, %v", r, err)
	}
	d := nextReceipt(t, ctx, c)
	checkMadeReceipt(t, d, r.MessageID, "EXPIRED", "901", 3)
	if !strings.HasSuffix(string(d.SM.ShortMessage), "text:code 1234") {
		t.Fatalf("receipt text %q", d.SM.ShortMessage)
	}
	if _, err := e.d.StartUpstream("smsc0"); err != nil {
		t.Fatal(err)
	}
	// A message queued after the expiry is sent: nothing before it was.
	if r, err := c.Submit(ctx, esmetest.SubmitBody("Shop", "447700900002", []byte("late"), 0, nil)); err != nil || r.Status != pdu.StatusOK {
		t.Fatalf("submit: %+v, %v", r, err)
	}
	if err := s.WaitAccepted(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if recs := s.Records(); len(recs) != 1 || !bytes.Contains(recs[0].Body, []byte("447700900002")) {
		t.Fatalf("the SMSC got %d messages; want the late one alone", len(recs))
	}
	select {
	case d := <-c.Deliveries():
		if d.ReceiptID != "" && d.ReceiptID != r.MessageID && !strings.Contains(string(d.SM.ShortMessage), "DELIVRD") {
			t.Fatalf("unexpected delivery %q", d.SM.ShortMessage)
		}
	default:
	}
}

// TestQueueRejectedReceipt: a permanent error status from the SMSC is
// not retried and becomes a REJECTD receipt carrying the status.
func TestQueueRejectedReceipt(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
		return smsctest.Reply{Status: pdu.StatusInvDstAdr}
	}})
	e := startQueued(t, s, 100, "1h")
	c := e.dial(t, "shop", "secret", pdu.BindTransceiver, 10)
	ctx := deadline(t)
	r, err := c.Submit(ctx, esmetest.SubmitBody("Shop", "447700900001", []byte("x"), 1, nil))
	if err != nil || r.Status != pdu.StatusOK {
		t.Fatalf("submit: %+v, %v", r, err)
	}
	checkMadeReceipt(t, nextReceipt(t, ctx, c), r.MessageID, "REJECTD", "011", 8)
}

// TestQueueQueryCancelFull: query_sm of a queued message says ENROUTE;
// cancel_sm removes it, and it is never sent; past max_items a submit
// gets ESME_RMSGQFUL.
func TestQueueQueryCancelFull(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{})
	e := startQueued(t, s, 2, "1h")
	if _, err := e.d.StopUpstream("smsc0"); err != nil {
		t.Fatal(err)
	}
	c := e.dial(t, "shop", "secret", pdu.BindTransceiver, 10)
	ctx := deadline(t)
	first, err := c.Submit(ctx, esmetest.SubmitBody("Shop", "447700900001", []byte("one"), 1, nil))
	if err != nil || first.Status != pdu.StatusOK {
		t.Fatalf("submit: %+v, %v", first, err)
	}
	second, err := c.Submit(ctx, esmetest.SubmitBody("Shop", "447700900002", []byte("two"), 1, nil))
	if err != nil || second.Status != pdu.StatusOK {
		t.Fatalf("submit: %+v, %v", second, err)
	}
	if r, err := c.Submit(ctx, esmetest.SubmitBody("Shop", "447700900003", []byte("three"), 1, nil)); err != nil || r.Status != pdu.StatusMsgQFul {
		t.Fatalf("third submit with max_items 2: %+v, %v; want ESME_RMSGQFUL", r, err)
	}
	for _, g := range e.d.Snapshot().Groups {
		if g.Name == "main" && (g.Queue == nil || g.Queue.Depth != 2 || g.Queue.OldestAgeSeconds <= 0) {
			t.Fatalf("status of the group's queue %+v, want 2 messages and an age", g.Queue)
		}
	}
	byID := func(id pdu.ID, msgID string) pdu.Frame {
		t.Helper()
		body := esmetest.QueryBody(msgID, "Shop")
		if id == pdu.CancelSM {
			body = esmetest.CancelBody(msgID, "Shop", "447700900001")
		}
		f, err := c.Send(ctx, id, body)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	q := byID(pdu.QuerySM, first.MessageID)
	if want := append(pdu.AppendCString(nil, first.MessageID), 0, 1, 0); q.Status != pdu.StatusOK || !bytes.Equal(q.Body(), want) {
		t.Fatalf("query_sm_resp status 0x%08x body %q, want ENROUTE %q", uint32(q.Status), q.Body(), want)
	}
	if f := byID(pdu.CancelSM, first.MessageID); f.Status != pdu.StatusOK {
		t.Fatalf("cancel_sm_resp status 0x%08x, want ESME_ROK", uint32(f.Status))
	}
	if f := byID(pdu.QuerySM, first.MessageID); f.Status == pdu.StatusOK {
		t.Fatal("query_sm of a cancelled message answered ESME_ROK")
	}
	if _, err := e.d.StartUpstream("smsc0"); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitAccepted(ctx, 1); err != nil {
		t.Fatal(err)
	}
	recs := s.Records()
	if len(recs) != 1 || !bytes.Contains(recs[0].Body, []byte("447700900002")) {
		t.Fatalf("the SMSC got %d messages; want the second alone", len(recs))
	}
	if d := nextReceipt(t, ctx, c); d.ReceiptID != second.MessageID {
		t.Fatalf("receipt for %q, want %q", d.ReceiptID, second.MessageID)
	}
}

// TestQueueReload: a reload that makes a relaying group store-and-forward
// queues its next submits and drains them; one back to relay relays.
func TestQueueReload(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{})
	e := startQueued(t, s, 100, "1h")
	relaying := strings.Replace(e.yaml, "mode: store-and-forward", "mode: relay", 1)
	apply := func(yaml string) {
		t.Helper()
		cfg, err := config.Parse([]byte(yaml))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.d.Apply(cfg); err != nil {
			t.Fatal(err)
		}
	}
	apply(relaying)
	c := e.dial(t, "shop", "secret", pdu.BindTransceiver, 10)
	ctx := deadline(t)
	submitOne := func(dst string) {
		t.Helper()
		if r, err := c.Submit(ctx, esmetest.SubmitBody("Shop", dst, []byte("x"), 0, nil)); err != nil || r.Status != pdu.StatusOK {
			t.Fatalf("submit: %+v, %v", r, err)
		}
	}
	submitOne("447700900001")
	if q := e.d.Relay.Stats.Queued.Load(); q != 0 {
		t.Fatalf("%d queued by a relaying group", q)
	}
	apply(e.yaml)
	submitOne("447700900002")
	if q := e.d.Relay.Stats.Queued.Load(); q != 1 {
		t.Fatalf("%d queued after the reload to store-and-forward, want 1", q)
	}
	if err := s.WaitAccepted(ctx, 2); err != nil {
		t.Fatalf("the queued message was not drained: %v", err)
	}
}

// TestQueueDataSM: a data_sm is queued and answered data_sm_resp with the
// client's id, then reaches the SMSC as a data_sm, and its receipt comes
// back with that id.
func TestQueueDataSM(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{})
	e := startQueued(t, s, 100, "1h")
	c := e.dial(t, "shop", "secret", pdu.BindTransceiver, 10)
	ctx := deadline(t)
	body := pdu.AppendSM(nil, &pdu.SM{DataSM: true, SourceTON: 5, SourceAddr: []byte("Shop"), DestTON: 1, DestNPI: 1,
		DestAddr: []byte("447700900001"), RegisteredDelivery: 1, TLVs: pdu.AppendTLV(nil, pdu.TagMessagePayload, []byte("payload"))})
	f, err := c.Send(ctx, pdu.DataSM, body)
	if err != nil || f.Status != pdu.StatusOK || f.ID != pdu.DataSMResp {
		t.Fatalf("data_sm: %v %v, %v", f.ID, f.Status, err)
	}
	id, err := pdu.ParseMessageIDResp(f.Body())
	if err != nil || len(id) == 0 {
		t.Fatalf("data_sm_resp message_id %q, %v", id, err)
	}
	if err := s.WaitAccepted(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if recs := s.Records(); len(recs) != 1 || pdu.ParseHeader(recs[0].Raw).ID != pdu.DataSM || !bytes.Equal(recs[0].Body, body) {
		t.Fatalf("the SMSC got %d records, want the data_sm as sent", len(recs))
	}
	if d := nextReceipt(t, ctx, c); d.ReceiptID != string(id) {
		t.Fatalf("receipt for %q, want %q", d.ReceiptID, id)
	}
}

// TestQueueCancelTaken: a message sent and not yet answered cannot be
// cancelled (ESME_RCANCELFAIL) and query_sm says ENROUTE; once the SMSC
// answers, its receipt comes as any other.
func TestQueueCancelTaken(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
		return smsctest.Reply{Delay: 2 * time.Second}
	}})
	e := startQueued(t, s, 100, "1h")
	c := e.dial(t, "shop", "secret", pdu.BindTransceiver, 10)
	ctx := deadline(t)
	r, err := c.Submit(ctx, esmetest.SubmitBody("Shop", "447700900001", []byte("x"), 1, nil))
	if err != nil || r.Status != pdu.StatusOK {
		t.Fatalf("submit: %+v, %v", r, err)
	}
	if err := s.WaitAccepted(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if f, err := c.Send(ctx, pdu.CancelSM, esmetest.CancelBody(r.MessageID, "Shop", "447700900001")); err != nil || f.Status != pdu.StatusCancelFail {
		t.Fatalf("cancel_sm of a message in flight: 0x%08x, %v; want ESME_RCANCELFAIL", uint32(f.Status), err)
	}
	if f, err := c.Send(ctx, pdu.QuerySM, esmetest.QueryBody(r.MessageID, "Shop")); err != nil || f.Status != pdu.StatusOK || f.Body()[len(f.Body())-2] != 1 {
		t.Fatalf("query_sm of a message in flight: 0x%08x %q, %v; want ENROUTE", uint32(f.Status), f.Body(), err)
	}
	if d := nextReceipt(t, ctx, c); d.ReceiptID != r.MessageID || !strings.Contains(string(d.SM.ShortMessage), "stat:DELIVRD") {
		t.Fatalf("receipt %q for %q", d.SM.ShortMessage, d.ReceiptID)
	}
}
