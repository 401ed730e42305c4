package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
	"github.com/smppmux/smppmux/upstream"
)

// env is smppmux wired to fake SMSCs, all on 127.0.0.1.
type env struct {
	smscs []*smsctest.Server
	d     *Daemon
	yaml  string // the configuration it started with, as run
}

// start runs smppmux with one group of mode over smscs, two binds of
// kind bind to each, and waits for every bind.
func start(t *testing.T, mode string, bind string, smscs ...*smsctest.Server) *env {
	t.Helper()
	var ups, members bytes.Buffer
	for i, s := range smscs {
		fmt.Fprintf(&ups, "  - {name: smsc%d, addr: %q, system_id: mux, password: pw, bind: %s, binds: 2, window: 50, reconnect_min: 10ms, reconnect_max: 100ms}\n", i, s.Addr(), bind)
		fmt.Fprintf(&members, "      - {upstream: smsc%d, weight: 1}\n", i)
	}
	yaml := fmt.Sprintf(`
listen: {smpp: "127.0.0.1:0"}
state_dir: %q
clients:
  - {system_id: shop, password: secret, window: 100}
  - {system_id: bank, password: secret2, message_id: {format: decimal, length: 20}}
upstreams:
%sgroups:
  - name: main
    mode: %s
    members:
%sroutes:
  - {group: main}
`, t.TempDir(), ups.String(), mode, members.String())
	e := startYAML(t, yaml, smscs...)
	ctx := deadline(t)
	want := 2
	if bind == "txrx" {
		want = 4
	}
	for _, s := range smscs {
		if err := s.WaitBinds(ctx, want); err != nil {
			t.Fatalf("smppmux did not bind to the fake SMSC: %v", err)
		}
	}
	return e
}

func deadline(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// adminDo sends a request to d's admin API with token (none when empty)
// and body (JSON when not empty), and returns the status and the body.
func adminDo(t *testing.T, d *Daemon, token, method, path, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+d.AdminAddr().String()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, string(b)
}

// waitStore waits, woken by the store's HealthChanged, until cond
// holds, failing the test with why at ctx's end. cond reads the store's
// health, or /readyz while the upstreams stay healthy.
func waitStore(t *testing.T, ctx context.Context, d *Daemon, cond func() bool, why string) {
	t.Helper()
	s, ok := d.store.(interface{ HealthChanged() <-chan struct{} })
	if !ok {
		t.Fatalf("the store, a %T, signals no change of its health", d.store)
	}
	for {
		ch := s.HealthChanged()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatal(why)
		}
	}
}

// waitHealth waits, woken by u.HealthChanged, until u.Healthy() is want,
// failing the test with why at ctx's end.
func waitHealth(t *testing.T, ctx context.Context, u *upstream.Upstream, want bool, why string) {
	t.Helper()
	for {
		ch := u.HealthChanged()
		if u.Healthy() == want {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatal(why)
		}
	}
}

// waitRelay waits until cond holds, reading it again each time the relay
// signals a change of its parked receipts, dead letters or mapping writes
// tried again (relay.Relay.Changed), and fails the test with what when ctx
// ends first.
func (e *env) waitRelay(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for {
		changed := e.d.Relay.Changed()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("never: %s", what)
		}
	}
}

func (e *env) dial(t *testing.T, systemID, password string, bind pdu.ID, window int) *esmetest.Client {
	t.Helper()
	return esmetest.Bind(t, deadline(t), esmetest.Config{
		Addr: e.d.Addr().String(), SystemID: systemID, Password: password, Bind: bind, Window: window,
		// Room for every receipt of the largest run, so a test may read
		// them after the submits without stalling the client's reader.
		DeliveryBuffer: 16384,
	})
}

// TestRelayTenThousand is the core acceptance run: 10,000 messages over a
// window of 50 through two upstreams, every one accepted, every one at
// exactly one SMSC, and exactly one receipt for each carrying the id the
// client was given.
func TestRelayTenThousand(t *testing.T) {
	t.Parallel()
	a, b := smsctest.Start(t, smsctest.Config{}), smsctest.Start(t, smsctest.Config{})
	e := start(t, "active-active", "trx", a, b)
	c := e.dial(t, "shop", "secret", pdu.BindTransceiver, 50)
	const n = 10000

	var mu sync.Mutex
	issued := make(map[string]bool, n)
	var failures []string
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		body := esmetest.SubmitBody("Shop", fmt.Sprintf("4477009%05d", i), []byte("hello"), 1, nil)
		err := c.SubmitAsync(body, func(r esmetest.Resp, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				failures = append(failures, err.Error())
			case r.Status != pdu.StatusOK:
				failures = append(failures, fmt.Sprintf("status 0x%08x", uint32(r.Status)))
			case issued[r.MessageID]:
				failures = append(failures, "duplicate message_id "+r.MessageID)
			default:
				issued[r.MessageID] = true
			}
		})
		if err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d submits failed, first: %s", len(failures), failures[0])
	}

	ctx := deadline(t)
	seen := make(map[string]bool, n)
	for len(seen) < n {
		select {
		case d := <-c.Deliveries():
			id := d.ReceiptID
			if !issued[id] {
				t.Fatalf("receipt for %q, an id the client was never given (text %q)", id, d.SM.ShortMessage)
			}
			if seen[id] {
				t.Fatalf("second receipt for %q", id)
			}
			if text := string(d.SM.ShortMessage); !bytes.HasPrefix([]byte(text), []byte("id:"+id+" ")) {
				t.Fatalf("receipt text %q does not carry the client id %q", text, id)
			}
			seen[id] = true
		case <-ctx.Done():
			t.Fatalf("only %d of %d receipts arrived", len(seen), n)
		}
	}
	if got := a.Accepted() + b.Accepted(); got != n {
		t.Fatalf("SMSCs accepted %d messages, want %d", got, n)
	}
	if a.Accepted() == 0 || b.Accepted() == 0 {
		t.Fatalf("one upstream got nothing: %d / %d", a.Accepted(), b.Accepted())
	}
	// No receipt may arrive twice, even late.
	select {
	case d := <-c.Deliveries():
		t.Fatalf("extra delivery %q", d.ReceiptID)
	default:
	}
}

// TestRelayByteExact checks that the body reaching the SMSC is the body the
// client sent, octet for octet: TLV order, duplicate tags, UDH and
// data_coding untouched.
func TestRelayByteExact(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{})
	e := start(t, "active-active", "trx", s)
	c := e.dial(t, "shop", "secret", pdu.BindTransceiver, 10)

	udh := []byte{0x05, 0x00, 0x03, 0x7A, 0x02, 0x01}
	text := append(append([]byte{}, udh...), 0x00, 0x48, 0x00, 0x69) // UCS-2 "Hi"
	var tlvs []byte
	tlvs = pdu.AppendTLV(tlvs, 0x1403, []byte("vendor-b"))
	tlvs = pdu.AppendTLV(tlvs, 0x0204, []byte{0x00, 0x07}) // user_message_reference
	tlvs = pdu.AppendTLV(tlvs, 0x1403, []byte("vendor-a")) // duplicate tag, later
	body := pdu.AppendSM(nil, &pdu.SM{
		ServiceType: []byte("CMT"), SourceTON: 5, SourceAddr: []byte("Shop"),
		DestTON: 1, DestNPI: 1, DestAddr: []byte("447700900123"),
		ESMClass: pdu.EsmUDHI, ProtocolID: 0x7F, Priority: 1,
		Validity: []byte("000001000000000R"), RegisteredDelivery: 1, DataCoding: 0x08,
		ShortMessage: text, TLVs: tlvs,
	})
	r, err := c.Submit(deadline(t), body)
	if err != nil || r.Status != pdu.StatusOK {
		t.Fatalf("submit: %+v, %v", r, err)
	}
	recs := s.Records()
	if len(recs) != 1 {
		t.Fatalf("SMSC holds %d records", len(recs))
	}
	if !bytes.Equal(recs[0].Body, body) {
		t.Fatalf("body changed on the way:\nsent %x\ngot  %x", body, recs[0].Body)
	}
	if r.MessageID == recs[0].MessageID {
		t.Fatalf("client got the upstream's id %q, not one of smppmux's", r.MessageID)
	}
}

func TestRelayErrorStatusPassesThrough(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
		return smsctest.Reply{Status: pdu.StatusInvDstAdr}
	}})
	e := start(t, "active-active", "trx", s)
	c := e.dial(t, "shop", "secret", pdu.BindTransceiver, 10)
	r, err := c.Submit(deadline(t), esmetest.SubmitBody("Shop", "447700900001", []byte("x"), 1, nil))
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != pdu.StatusInvDstAdr || len(r.Frame.Body()) != 0 {
		t.Fatalf("resp status 0x%08x with %d body octets, want 0x0000000b and none", uint32(r.Status), len(r.Frame.Body()))
	}
}

// TestReceiptsBeforeResponses: the SMSC sends each receipt before the
// submit_sm_resp; every one is parked and matched.
func TestReceiptsBeforeResponses(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{ReceiptBeforeResp: true})
	e := start(t, "active-active", "txrx", s)
	c := e.dial(t, "bank", "secret2", pdu.BindTransceiver, 20)
	const n = 500
	ids := make(chan string, n)
	for i := range n {
		err := c.SubmitAsync(esmetest.SubmitBody("Bank", fmt.Sprintf("44770%07d", i), []byte("otp"), 1, nil), func(r esmetest.Resp, err error) {
			if err != nil || r.Status != pdu.StatusOK {
				t.Errorf("submit: %+v %v", r.Status, err)
			}
			ids <- r.MessageID
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	issued := map[string]bool{}
	ctx := deadline(t)
	for range n {
		select {
		case id := <-ids:
			if len(id) != 20 {
				t.Fatalf("decimal id %q not padded to 20", id)
			}
			issued[id] = true
		case <-ctx.Done():
			t.Fatal("responses missing")
		}
	}
	for got := 0; got < n; got++ {
		select {
		case d := <-c.Deliveries():
			if !issued[d.ReceiptID] {
				t.Fatalf("receipt for unknown id %q", d.ReceiptID)
			}
			delete(issued, d.ReceiptID)
		case <-ctx.Done():
			t.Fatalf("%d receipts missing", n-got)
		}
	}
	if st := e.d.Relay.Stats.ReceiptsUnmatched.Load(); st != 0 {
		t.Fatalf("%d receipts unmatched", st)
	}
}

// TestReceiptsWaitForReceiver: a transmitter-only client gets its receipts
// when it binds a receiver later.
func TestReceiptsWaitForReceiver(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{})
	e := start(t, "active-active", "trx", s)
	tx := e.dial(t, "shop", "secret", pdu.BindTransmitter, 10)
	const n = 50
	issued := map[string]bool{}
	for i := range n {
		r, err := tx.Submit(deadline(t), esmetest.SubmitBody("Shop", fmt.Sprintf("4477%08d", i), []byte("x"), 1, nil))
		if err != nil || r.Status != pdu.StatusOK {
			t.Fatalf("submit: %+v %v", r, err)
		}
		issued[r.MessageID] = true
	}
	ctx := deadline(t)
	if err := s.WaitReceiptsAcked(ctx, n); err != nil {
		t.Fatalf("smppmux did not take the receipts: %v", err)
	}
	rx := e.dial(t, "shop", "secret", pdu.BindReceiver, 10)
	for got := 0; got < n; got++ {
		select {
		case d := <-rx.Deliveries():
			if !issued[d.ReceiptID] {
				t.Fatalf("receipt for unknown id %q", d.ReceiptID)
			}
			delete(issued, d.ReceiptID)
		case <-ctx.Done():
			t.Fatalf("%d receipts never delivered", n-got)
		}
	}
}

// TestFailoverWhenUpstreamDies: with one SMSC gone, traffic flows through
// the other.
func TestFailoverWhenUpstreamDies(t *testing.T) {
	t.Parallel()
	a, b := smsctest.Start(t, smsctest.Config{}), smsctest.Start(t, smsctest.Config{})
	e := start(t, "active-standby", "trx", a, b)
	c := e.dial(t, "shop", "secret", pdu.BindTransceiver, 10)
	ctx := deadline(t)
	submit := func() esmetest.Resp {
		r, err := c.Submit(ctx, esmetest.SubmitBody("Shop", "447700900001", []byte("x"), 0, nil))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for range 10 {
		if r := submit(); r.Status != pdu.StatusOK {
			t.Fatalf("status 0x%x", uint32(r.Status))
		}
	}
	if a.Accepted() != 10 || b.Accepted() != 0 {
		t.Fatalf("standby got traffic while the primary was healthy: %d / %d", a.Accepted(), b.Accepted())
	}
	a.Close()
	// Every submit gets a definite answer; once smppmux has seen the
	// primary go, they land on the backup.
	for b.Accepted() < 10 {
		if ctx.Err() != nil {
			t.Fatal("traffic never moved to the backup")
		}
		submit()
	}
}
