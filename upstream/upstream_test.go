package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smppconn"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// sessionOf returns the SMSC session of bind b, matched by address.
func sessionOf(t *testing.T, srv *smsctest.Server, b *Bind) *smsctest.Session {
	t.Helper()
	a := b.LocalAddr()
	if a == nil {
		t.Fatalf("bind %d has no connection", b.index)
	}
	for _, s := range srv.Sessions() {
		if s.RemoteAddr().String() == a.String() {
			return s
		}
	}
	t.Fatalf("no SMSC session for bind %d at %s", b.index, a)
	return nil
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	u := New(Config{Name: "carrier-a", Addr: "127.0.0.1:1"}, nil, nil)
	got := u.Config()
	want := Config{
		Name: "carrier-a", Addr: "127.0.0.1:1", Bind: KindTRX, Binds: 1, Window: 50,
		ResponseTimeout: 10 * time.Second, EnquireLinkInterval: 30 * time.Second,
		ConnectTimeout: 5 * time.Second, ReconnectMin: time.Second,
		ReconnectMax: 30 * time.Second, WriteTimeout: 10 * time.Second,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Config() = %+v, want %+v", got, want)
	}
	if u.Name() != "carrier-a" {
		t.Fatalf("Name() = %q", u.Name())
	}
	if bs := u.Binds(); len(bs) != 1 || bs[0].Kind() != pdu.BindTransceiver || bs[0].State() != StateClosed || bs[0].LocalAddr() != nil {
		t.Fatalf("binds before Start: %d, first %s %s", len(bs), pdu.IDName(bs[0].Kind()), bs[0].State())
	}
	if u.Bound() || u.Healthy() {
		t.Fatal("bound before Start")
	}
}

func TestBindKinds(t *testing.T) {
	t.Parallel()
	tx, rx, trx := pdu.BindTransmitter, pdu.BindReceiver, pdu.BindTransceiver
	for _, tc := range []struct {
		bind  string
		binds int
		want  []pdu.ID
	}{
		{"", 0, []pdu.ID{trx}},
		{KindTRX, 3, []pdu.ID{trx, trx, trx}},
		{KindTXRX, 2, []pdu.ID{tx, rx, tx, rx}},
		{KindTX, 2, []pdu.ID{tx, tx}},
		{KindRX, 1, []pdu.ID{rx}},
	} {
		u := New(Config{Bind: tc.bind, Binds: tc.binds}, nil, nil)
		var got []pdu.ID
		for _, b := range u.Binds() {
			got = append(got, b.Kind())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("bind %q binds %d: kinds %v, want %v", tc.bind, tc.binds, got, tc.want)
		}
	}
}

func TestStateString(t *testing.T) {
	t.Parallel()
	for s, want := range map[State]string{
		StateClosed: "closed", StateDialing: "dialing", StateBinding: "binding",
		StateBound: "bound", StateUnbinding: "unbinding", State(-1): "unknown", State(42): "unknown",
	} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", int(s), got, want)
		}
	}
}

func TestTransceiverBinds(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, w := newSMSC(t, smsctest.Config{SystemID: "acme", Password: "s3cret"})
	u, l := start(t, Config{Addr: srv.Addr(), SystemID: "acme", Password: "s3cret", SystemType: "mux", Binds: 3}, make(handler, 1))
	u.Start() // a no-op: still three binds

	binds, err := w.waitN(ctx, 3, ofID(pdu.BindTransceiver))
	if err != nil {
		t.Fatal(err)
	}
	conns := make(map[int]bool)
	for _, p := range binds {
		conns[p.conn] = true
		b, err := pdu.ParseBind(p.f.Body())
		if err != nil {
			t.Fatalf("bind_transceiver body: %v", err)
		}
		if string(b.SystemID) != "acme" || string(b.Password) != "s3cret" || string(b.SystemType) != "mux" || b.Version != pdu.InterfaceVersion {
			t.Errorf("bind_transceiver system_id %q password %q system_type %q version 0x%02x", b.SystemID, b.Password, b.SystemType, b.Version)
		}
	}
	if len(conns) != 3 {
		t.Errorf("3 binds on %d connections", len(conns))
	}
	if err := srv.WaitBinds(ctx, 3); err != nil {
		t.Fatal(err)
	}
	waitBound(t, ctx, u, l, 1)
	for _, b := range u.Binds() {
		if b.State() != StateBound {
			t.Errorf("bind %d state %s", b.index, b.State())
		}
		s := sessionOf(t, srv, b)
		if s.BindType() != pdu.BindTransceiver || s.SystemID() != "acme" {
			t.Errorf("bind %d: SMSC session %s system_id %q", b.index, pdu.IDName(s.BindType()), s.SystemID())
		}
	}
	if !u.Bound() || !u.Healthy() {
		t.Fatalf("Bound() %v Healthy() %v with 3 binds up", u.Bound(), u.Healthy())
	}
	if n := len(w.snapshot(ofID(pdu.BindTransceiver))); n != 3 {
		t.Errorf("SMSC saw %d bind_transceiver, want 3", n)
	}
}

func TestTransmitterReceiverPairs(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	var mu sync.Mutex
	perSession := make(map[*smsctest.Session]int)
	srv, w := newSMSC(t, smsctest.Config{Submit: func(r *smsctest.SubmitRequest) smsctest.Reply {
		mu.Lock()
		perSession[r.Session]++
		mu.Unlock()
		return smsctest.Reply{}
	}})
	h := make(handler, 4)
	u, l := start(t, Config{Addr: srv.Addr(), SystemID: "acme", Password: "pw", Bind: KindTXRX, Binds: 2}, h)

	if err := srv.WaitBinds(ctx, 4); err != nil {
		t.Fatal(err)
	}
	waitBound(t, ctx, u, l, 1)
	kinds := make(map[pdu.ID]int)
	for _, s := range srv.Sessions() {
		kinds[s.BindType()]++
	}
	if kinds[pdu.BindTransmitter] != 2 || kinds[pdu.BindReceiver] != 2 || len(kinds) != 2 {
		t.Fatalf("SMSC sessions by bind type: %v", kinds)
	}
	for _, b := range u.Binds() {
		if s := sessionOf(t, srv, b); s.BindType() != b.Kind() {
			t.Errorf("bind %d is %s but its SMSC session is %s", b.index, pdu.IDName(b.Kind()), pdu.IDName(s.BindType()))
		}
	}
	if !u.Bound() {
		t.Fatal("not Bound() with both transmitters up")
	}

	for i := range 8 {
		raw, _ := submitSM(uint32(i+1), "447700900123", fmt.Sprint("msg ", i), 0)
		if r := await(t, ctx, submit(t, ctx, u, raw)); r.err != nil || r.f.Status != pdu.StatusOK {
			t.Fatalf("submit %d: %v status 0x%x", i, r.err, uint32(r.f.Status))
		}
	}
	mu.Lock()
	for s, n := range perSession {
		if s.BindType() != pdu.BindTransmitter {
			t.Errorf("%d submits on a %s session", n, pdu.IDName(s.BindType()))
		}
	}
	if len(perSession) != 2 {
		t.Errorf("submits spread over %d sessions, want both transmitters", len(perSession))
	}
	mu.Unlock()

	// deliver_sm from the SMSC arrives on the receivers.
	for i := range 2 {
		raw, _ := deliverSM("447700900001", fmt.Sprint("mo ", i))
		if err := srv.Push(raw); err != nil {
			t.Fatal(err)
		}
		h.next(t, ctx).ack(pdu.StatusOK)
	}
	if err := srv.WaitPushesAcked(ctx, 2); err != nil {
		t.Fatal(err)
	}
	kindOf := make(map[int]pdu.ID)
	for _, p := range w.snapshot(func(p tapped) bool { return p.f.ID == pdu.BindTransmitter || p.f.ID == pdu.BindReceiver }) {
		kindOf[p.conn] = p.f.ID
	}
	for _, p := range w.snapshot(ofID(pdu.DeliverSMResp)) {
		if kindOf[p.conn] != pdu.BindReceiver {
			t.Errorf("deliver_sm_resp sent on a %s connection", pdu.IDName(kindOf[p.conn]))
		}
	}
}

func TestSingleKindBinds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		bind      string
		kind      pdu.ID
		transmits bool
	}{
		{KindTX, pdu.BindTransmitter, true},
		{KindRX, pdu.BindReceiver, false},
	} {
		t.Run(tc.bind, func(t *testing.T) {
			t.Parallel()
			ctx := deadline(t)
			srv, _ := newSMSC(t, smsctest.Config{})
			u, l := start(t, Config{Addr: srv.Addr(), Bind: tc.bind, Binds: 2}, make(handler, 1))
			waitBound(t, ctx, u, l, 1)
			for _, b := range u.Binds() {
				if s := sessionOf(t, srv, b); s.BindType() != tc.kind {
					t.Errorf("SMSC session is %s, want %s", pdu.IDName(s.BindType()), pdu.IDName(tc.kind))
				}
			}
			if u.Bound() != tc.transmits || u.Healthy() != tc.transmits {
				t.Errorf("Bound() %v Healthy() %v, want %v", u.Bound(), u.Healthy(), tc.transmits)
			}
			raw, _ := submitSM(1, "447700900123", "hi", 0)
			err := u.Submit(ctx, raw, func(pdu.Frame, error) {})
			if tc.transmits && err != nil {
				t.Errorf("Submit on transmitters: %v", err)
			}
			if !tc.transmits && !errors.Is(err, ErrNotBound) {
				t.Errorf("Submit on receivers only: %v, want ErrNotBound", err)
			}
		})
	}
}

func TestWrongPasswordRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, w := newSMSC(t, smsctest.Config{SystemID: "acme", Password: "right"})
	const (
		attempts   = 6
		backoffMin = 10 * time.Millisecond
		backoffMax = 80 * time.Millisecond
	)
	u, l := start(t, Config{Addr: srv.Addr(), SystemID: "acme", Password: "wrong", ReconnectMin: backoffMin, ReconnectMax: backoffMax}, nil)

	binds, err := w.waitN(ctx, attempts, ofID(pdu.BindTransceiver))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range binds {
		if i > 0 && p.conn <= binds[i-1].conn {
			t.Errorf("bind attempt %d on connection %d after one on %d: one bind per connection expected", i, p.conn, binds[i-1].conn)
		}
		if b, _ := pdu.ParseBind(p.f.Body()); string(b.Password) != "wrong" {
			t.Errorf("bind attempt %d with password %q", i, b.Password)
		}
	}
	var accepted []time.Time
	w.wait(ctx, func(_ []tapped, at []time.Time) bool { accepted = slices.Clone(at); return true })
	// Backoff doubles from ReconnectMin up to ReconnectMax, each wait at
	// least half of it: the waits after the 4th and 5th failures are at
	// least ReconnectMax/2. A refusal comes after its connection was
	// accepted, so accept times bound the waits from below.
	for i := 4; i < attempts; i++ {
		if gap := accepted[binds[i].conn].Sub(accepted[binds[i-1].conn]); gap < backoffMax/2 {
			t.Errorf("attempt %d came %v after the previous one, want at least %v", i+1, gap, backoffMax/2)
		}
	}

	if err := l.wait(ctx, func(es []logEntry) bool { return countLocked(es, "bind failed")[0] >= attempts }); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	for _, e := range l.entries {
		if e.msg == "bind failed" && !strings.Contains(fmt.Sprint(e.fields["error"]), "0x0000000e") {
			t.Errorf("bind failed with %v, want status 0x0000000e", e.fields["error"])
		}
	}
	l.mu.Unlock()
	if n := l.count("upstream bound"); len(n) != 0 {
		t.Errorf("bound with a wrong password: %v", n)
	}
	if st := u.Binds()[0].State(); st == StateBound {
		t.Errorf("state %s with a wrong password", st)
	}
	if u.Bound() || u.Healthy() || srv.Binds() != 0 {
		t.Errorf("Bound() %v Healthy() %v SMSC binds %d", u.Bound(), u.Healthy(), srv.Binds())
	}
	raw, _ := submitSM(1, "447700900123", "hi", 0)
	if err := u.Submit(ctx, raw, func(pdu.Frame, error) { t.Error("done called for a submit that was not sent") }); !errors.Is(err, ErrNotBound) {
		t.Errorf("Submit: %v, want ErrNotBound", err)
	}
}

func TestBindResponseTimeout(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	// The SMSC's bind_resp never leaves: nothing else is written after it.
	srv, w := newSMSCWire(t, smsctest.Config{}, &wire{holdBindResp: true})
	u, l := start(t, Config{Addr: srv.Addr(), ConnectTimeout: 100 * time.Millisecond, ReconnectMin: 10 * time.Millisecond}, nil)

	binds, err := w.waitN(ctx, 3, ofID(pdu.BindTransceiver))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range binds {
		if i > 0 && p.conn <= binds[i-1].conn {
			t.Errorf("bind attempt %d on connection %d after one on %d", i, p.conn, binds[i-1].conn)
		}
	}
	if err := l.waitEach(ctx, "bind failed", 1, 2); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	for _, e := range l.entries {
		if e.msg != "bind failed" {
			continue
		}
		if msg := fmt.Sprint(e.fields["error"]); msg != smppconn.ErrTimeout.Error() && msg != context.DeadlineExceeded.Error() && msg != context.Canceled.Error() {
			t.Errorf("bind failed with %q, want a timeout", msg)
		}
	}
	l.mu.Unlock()
	if got := l.count("upstream bound"); len(got) != 0 || u.Bound() {
		t.Errorf("bound without a bind_resp: %v", got)
	}
}

func TestSMSCUnreachable(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	// Port 0 refuses every connection, and no other test can listen there.
	u, l := start(t, Config{Addr: "127.0.0.1:0", ReconnectMin: 5 * time.Millisecond, ReconnectMax: 10 * time.Millisecond}, nil)
	if err := l.waitEach(ctx, "reconnecting", 1, 3); err != nil {
		t.Fatal(err)
	}
	if got := l.count("bind failed"); len(got) != 0 {
		t.Errorf("bind attempted without a connection: %v", got)
	}
	raw, _ := submitSM(1, "447700900123", "hi", 0)
	if err := u.Submit(ctx, raw, func(pdu.Frame, error) { t.Error("done called for a submit that was not sent") }); !errors.Is(err, ErrNotBound) {
		t.Errorf("Submit: %v, want ErrNotBound", err)
	}
}

func TestSubmitRelaysBodyUnderBindSequence(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, _ := newSMSC(t, smsctest.Config{IDFormat: func(n uint64) string { return fmt.Sprintf("smsc-%d", n) }})
	u, l := start(t, Config{Addr: srv.Addr()}, nil)
	waitBound(t, ctx, u, l, 1)

	const n = 5
	var sent [][]byte
	var bodies [][]byte
	var resps []pdu.Frame
	for i := range n {
		// The caller's own numbering, which must not reach the SMSC.
		raw, body := submitSM(0x7000_0000+uint32(i)*7, "447700900123", fmt.Sprintf("text %d ünïcode", i), 1)
		sent = append(sent, slices.Clone(raw))
		bodies = append(bodies, body)
		r := await(t, ctx, submit(t, ctx, u, raw))
		if r.err != nil {
			t.Fatalf("submit %d: %v", i, r.err)
		}
		if r.f.ID != pdu.SubmitSMResp || r.f.Status != pdu.StatusOK {
			t.Fatalf("submit %d answered %s status 0x%x", i, pdu.IDName(r.f.ID), uint32(r.f.Status))
		}
		resps = append(resps, r.f)
	}
	recs := srv.Records()
	if len(recs) != n {
		t.Fatalf("SMSC accepted %d, want %d", len(recs), n)
	}
	for i, rec := range recs {
		if !bytes.Equal(rec.Body, bodies[i]) {
			t.Errorf("submit %d body changed on the way:\n got %x\nwant %x", i, rec.Body, bodies[i])
		}
		if !bytes.Equal(rec.Raw[:12], sent[i][:12]) {
			t.Errorf("submit %d header changed: got %x, want %x", i, rec.Raw[:12], sent[i][:12])
		}
		// The bind_transceiver took sequence 1.
		seq := pdu.ParseHeader(rec.Raw).Seq
		if want := uint32(i + 2); seq != want {
			t.Errorf("submit %d went out with sequence %d, want the bind's %d", i, seq, want)
		}
		if resps[i].Seq != seq {
			t.Errorf("submit %d: response sequence %d for request %d", i, resps[i].Seq, seq)
		}
		if id := messageID(t, resps[i]); id != rec.MessageID || id != fmt.Sprintf("smsc-%d", i+1) {
			t.Errorf("submit %d: done got message id %q, SMSC issued %q", i, id, rec.MessageID)
		}
	}
}

func TestSubmitDataSM(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, _ := newSMSC(t, smsctest.Config{})
	u, l := start(t, Config{Addr: srv.Addr()}, nil)
	waitBound(t, ctx, u, l, 1)

	body := pdu.AppendCString(nil, "")
	body = append(body, 1, 1)
	body = pdu.AppendCString(body, "447700900999")
	body = append(body, 1, 1)
	body = pdu.AppendCString(body, "447700900123")
	body = append(body, 0, 0, 0) // esm_class, registered_delivery, data_coding
	body = pdu.AppendTLV(body, pdu.TagMessagePayload, []byte("a data_sm payload"))
	r := await(t, ctx, submit(t, ctx, u, pdu.Request(pdu.DataSM, 99, body)))
	if r.err != nil || r.f.ID != pdu.DataSMResp || r.f.Status != pdu.StatusOK {
		t.Fatalf("data_sm: %v, %s status 0x%x", r.err, pdu.IDName(r.f.ID), uint32(r.f.Status))
	}
	recs := srv.Records()
	if len(recs) != 1 || !bytes.Equal(recs[0].Body, body) || pdu.ParseHeader(recs[0].Raw).ID != pdu.DataSM {
		t.Fatalf("SMSC records %+v", recs)
	}
	if id := messageID(t, r.f); id != recs[0].MessageID {
		t.Errorf("message id %q, SMSC issued %q", id, recs[0].MessageID)
	}
}

func TestSequencePerBind(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	var mu sync.Mutex
	seqs := make(map[*smsctest.Session][]uint32)
	srv, _ := newSMSC(t, smsctest.Config{Submit: func(r *smsctest.SubmitRequest) smsctest.Reply {
		mu.Lock()
		seqs[r.Session] = append(seqs[r.Session], r.Frame.Seq)
		mu.Unlock()
		return smsctest.Reply{}
	}})
	u, l := start(t, Config{Addr: srv.Addr(), Binds: 3}, nil)
	waitBound(t, ctx, u, l, 1)
	for i := range 9 {
		raw, _ := submitSM(1, "447700900123", fmt.Sprint(i), 0)
		if r := await(t, ctx, submit(t, ctx, u, raw)); r.err != nil {
			t.Fatal(r.err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seqs) != 3 {
		t.Fatalf("submits on %d sessions, want 3 (round robin)", len(seqs))
	}
	for _, got := range seqs {
		if want := []uint32{2, 3, 4}; !slices.Equal(got, want) {
			t.Errorf("a bind numbered its submits %v, want %v", got, want)
		}
	}
}

// TestSubmitRoundRobinCounterWraps runs the round-robin counter through
// 2^31 and 2^32, where an int conversion turns negative on 32-bit
// platforms (GOARCH=386 shows it).
func TestSubmitRoundRobinCounterWraps(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	var mu sync.Mutex
	per := make(map[*smsctest.Session]int)
	srv, _ := newSMSC(t, smsctest.Config{Submit: func(r *smsctest.SubmitRequest) smsctest.Reply {
		mu.Lock()
		per[r.Session]++
		mu.Unlock()
		return smsctest.Reply{}
	}})
	u, l := start(t, Config{Addr: srv.Addr(), Binds: 3}, nil)
	waitBound(t, ctx, u, l, 1)
	u.next.Store(1<<32 - 4)
	for i := range 6 {
		raw, _ := submitSM(1, "447700900123", fmt.Sprint(i), 0)
		if r := await(t, ctx, submit(t, ctx, u, raw)); r.err != nil {
			t.Fatal(r.err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(per) != 3 {
		t.Errorf("submits across the counter's wrap on %d binds, want 3", len(per))
	}
}

func TestSubmitErrorStatusPassedThrough(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, _ := newSMSC(t, smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
		return smsctest.Reply{Status: pdu.StatusThrottled}
	}})
	u, l := start(t, Config{Addr: srv.Addr(), Window: 1}, nil)
	waitBound(t, ctx, u, l, 1)
	// With a window of 1, the second submit only goes out if the error
	// response freed the slot.
	for i := range 2 {
		raw, _ := submitSM(1, "447700900123", "hi", 0)
		r := await(t, ctx, submit(t, ctx, u, raw))
		if r.err != nil || r.f.ID != pdu.SubmitSMResp || r.f.Status != pdu.StatusThrottled || len(r.f.Body()) != 0 {
			t.Fatalf("submit %d: %v, %s status 0x%x body %x", i, r.err, pdu.IDName(r.f.ID), uint32(r.f.Status), r.f.Body())
		}
	}
}

func TestWindowBlocksUntilSlotFrees(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	gate := make(chan struct{})
	var seen atomic.Int32
	srv, _ := newSMSC(t, smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
		if seen.Add(1) == 1 {
			<-gate // the SMSC sits on the first submit
		}
		return smsctest.Reply{}
	}})
	u, l := start(t, Config{Addr: srv.Addr(), Window: 2, ResponseTimeout: time.Minute}, nil)
	var once sync.Once
	open := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(open)
	waitBound(t, ctx, u, l, 1)

	rawA, _ := submitSM(1, "447700900001", "a", 0)
	rawB, _ := submitSM(2, "447700900002", "b", 0)
	a := submit(t, ctx, u, rawA)
	b := submit(t, ctx, u, rawB)

	notSent := func(pdu.Frame, error) { t.Error("done called for a submit that was not sent") }
	rawC, _ := submitSM(3, "447700900003", "c", 0)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := u.Submit(cancelled, rawC, notSent); !errors.Is(err, context.Canceled) {
		t.Fatalf("Submit with a full window and a cancelled context: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if err := u.Submit(short, rawC, notSent); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Submit with a full window and a short deadline: %v", err)
	}

	var opened atomic.Bool
	c := make(chan result, 1)
	errc := make(chan error, 1)
	afterOpen := make(chan bool, 1)
	go func() {
		err := u.Submit(ctx, rawC, func(f pdu.Frame, err error) { c <- result{f, err} })
		afterOpen <- opened.Load()
		errc <- err
	}()
	opened.Store(true)
	open()
	if !<-afterOpen {
		t.Error("third submit got a window slot while both were in use")
	}
	if err := <-errc; err != nil {
		t.Fatalf("Submit waiting for a slot: %v", err)
	}
	for name, ch := range map[string]<-chan result{"a": a, "b": b, "c": c} {
		if r := await(t, ctx, ch); r.err != nil || r.f.Status != pdu.StatusOK {
			t.Errorf("submit %s: %v status 0x%x", name, r.err, uint32(r.f.Status))
		}
	}
	if n := srv.Received(); n != 3 {
		t.Errorf("SMSC received %d submits, want 3: refused submits must not be sent", n)
	}
}

func TestResponseTimeoutKeepsBind(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	gate := make(chan struct{})
	var seen atomic.Int32
	srv, _ := newSMSC(t, smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
		switch seen.Add(1) {
		case 1:
			return smsctest.Reply{Drop: true}
		case 2:
			<-gate // answered after the response timeout
		}
		return smsctest.Reply{}
	}})
	const timeout = 500 * time.Millisecond
	u, l := start(t, Config{Addr: srv.Addr(), ResponseTimeout: timeout, Window: 1}, nil)
	var once sync.Once
	open := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(open)
	waitBound(t, ctx, u, l, 1)

	raw, _ := submitSM(1, "447700900123", "dropped", 0)
	t0 := time.Now()
	r := await(t, ctx, submit(t, ctx, u, raw))
	if !errors.Is(r.err, smppconn.ErrTimeout) {
		t.Fatalf("dropped submit: %v, want ErrTimeout", r.err)
	}
	if d := time.Since(t0); d < timeout {
		t.Errorf("timed out after %v, before the response timeout %v", d, timeout)
	}

	// The timeout sent an enquire_link, which the SMSC answers: the bind
	// takes submits again once it has, and its window of 1 is free, the
	// timeout released the slot.
	waitHealthy(t, ctx, u)
	raw, _ = submitSM(2, "447700900123", "late", 0)
	if r := await(t, ctx, submit(t, ctx, u, raw)); !errors.Is(r.err, smppconn.ErrTimeout) {
		t.Fatalf("late submit: %v, want ErrTimeout", r.err)
	}
	open()
	if err := l.wait(ctx, func(es []logEntry) bool {
		return countLocked(es, "response matches no request, dropped")[0] >= 1
	}); err != nil {
		t.Fatalf("late response not seen: %v", err)
	}

	waitHealthy(t, ctx, u)
	raw, _ = submitSM(3, "447700900123", "fine", 0)
	if r := await(t, ctx, submit(t, ctx, u, raw)); r.err != nil || r.f.Status != pdu.StatusOK {
		t.Fatalf("submit after timeouts: %v status 0x%x", r.err, uint32(r.f.Status))
	}
	if got := l.count("upstream bound")[0]; got != 1 || srv.Binds() != 1 {
		t.Errorf("bound %d times, SMSC binds %d: a timeout must not cost the bind", got, srv.Binds())
	}
	if got := l.count("upstream bind lost"); len(got) != 0 {
		t.Errorf("bind lost: %v", got)
	}
	if st := u.Binds()[0].State(); st != StateBound {
		t.Errorf("state %s", st)
	}
}

func TestConnectionLossFailsPendingAndReconnects(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	arrived := make(chan struct{}, 16)
	var drop atomic.Bool
	drop.Store(true)
	srv, _ := newSMSC(t, smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
		r := smsctest.Reply{Drop: drop.Load()}
		arrived <- struct{}{}
		return r
	}})
	u, l := start(t, Config{Addr: srv.Addr(), Binds: 2, ResponseTimeout: time.Minute, ReconnectMin: 10 * time.Millisecond}, nil)
	waitBound(t, ctx, u, l, 1)

	var pending []<-chan result
	for i := range 4 {
		raw, _ := submitSM(1, "447700900123", fmt.Sprint(i), 0)
		pending = append(pending, submit(t, ctx, u, raw))
	}
	for range 4 {
		select {
		case <-arrived:
		case <-ctx.Done():
			t.Fatal("submits did not reach the SMSC")
		}
	}
	drop.Store(false)
	srv.DisconnectAll()
	for i, ch := range pending {
		if r := await(t, ctx, ch); !errors.Is(r.err, smppconn.ErrClosed) {
			t.Errorf("pending submit %d: %v, want ErrClosed", i, r.err)
		}
	}

	waitBound(t, ctx, u, l, 2)
	if err := srv.WaitBinds(ctx, 2); err != nil {
		t.Fatal(err)
	}
	for _, b := range u.Binds() {
		if b.State() != StateBound {
			t.Errorf("bind %d state %s after reconnecting", b.index, b.State())
		}
	}
	if !u.Bound() {
		t.Fatal("not Bound() after reconnecting")
	}
	for i := range 2 {
		raw, _ := submitSM(1, "447700900123", fmt.Sprint("again ", i), 0)
		if r := await(t, ctx, submit(t, ctx, u, raw)); r.err != nil || r.f.Status != pdu.StatusOK {
			t.Fatalf("submit after reconnecting: %v status 0x%x", r.err, uint32(r.f.Status))
		}
	}
	if got := l.count("upstream bind lost"); got[0] != 1 || got[1] != 1 {
		t.Errorf("bind lost logged %v, want once per bind", got)
	}
}

func TestDeliverAckedOnlyByHandler(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, w := newSMSC(t, smsctest.Config{})
	h := make(handler, 4)
	u, l := start(t, Config{Addr: srv.Addr()}, h)
	waitBound(t, ctx, u, l, 1)

	raw, body := deliverSM("447700900001", "hello from a handset")
	if err := srv.Push(raw); err != nil {
		t.Fatal(err)
	}
	d := h.next(t, ctx)
	if d.u != u || d.f.ID != pdu.DeliverSM || !bytes.Equal(d.f.Body(), body) {
		t.Fatalf("handler got %s body %x from %p, want deliver_sm %x from %p", pdu.IDName(d.f.ID), d.f.Body(), d.u, body, u)
	}

	// A submit round trip on the same connection, queued after anything
	// the bind could have answered, proves no deliver_sm_resp went out
	// while the handler holds the ack.
	rawS, _ := submitSM(1, "447700900123", "ping", 0)
	if r := await(t, ctx, submit(t, ctx, u, rawS)); r.err != nil {
		t.Fatal(r.err)
	}
	if got := w.snapshot(ofID(pdu.DeliverSMResp)); len(got) != 0 || srv.PushesAcked() != 0 {
		t.Fatalf("SMSC answered before ack: %d deliver_sm_resp, %d acked", len(got), srv.PushesAcked())
	}

	d.ack(pdu.StatusXTAppn)
	d.ack(pdu.StatusOK) // a second ack is ignored
	resps, err := w.waitN(ctx, 1, ofID(pdu.DeliverSMResp))
	if err != nil {
		t.Fatal(err)
	}
	if resps[0].f.Status != pdu.StatusXTAppn || resps[0].f.Seq != d.f.Seq {
		t.Errorf("deliver_sm_resp status 0x%x seq %d, want 0x64 seq %d", uint32(resps[0].f.Status), resps[0].f.Seq, d.f.Seq)
	}
	if err := srv.WaitPushesAnswered(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got := srv.PushStatuses(); got[pdu.StatusXTAppn] != 1 || len(got) != 1 {
		t.Errorf("SMSC push statuses %v, want one 0x64", got)
	}
	rawS, _ = submitSM(1, "447700900123", "ping", 0)
	if r := await(t, ctx, submit(t, ctx, u, rawS)); r.err != nil {
		t.Fatal(r.err)
	}
	if got := w.snapshot(ofID(pdu.DeliverSMResp)); len(got) != 1 || srv.PushesAcked() != 0 {
		t.Fatalf("after a double ack: %d deliver_sm_resp, %d acked OK, want 1 and 0", len(got), srv.PushesAcked())
	}

	// ack may come from another goroutine.
	raw, _ = deliverSM("447700900002", "second")
	if err := srv.Push(raw); err != nil {
		t.Fatal(err)
	}
	d = h.next(t, ctx)
	go d.ack(pdu.StatusOK)
	if err := srv.WaitPushesAcked(ctx, 1); err != nil {
		t.Fatal(err)
	}
}

func TestDeliverWithoutHandler(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, _ := newSMSC(t, smsctest.Config{})
	u, l := start(t, Config{Addr: srv.Addr()}, nil)
	waitBound(t, ctx, u, l, 1)
	for i := range 2 {
		raw, _ := deliverSM("447700900001", fmt.Sprint("nobody listens ", i))
		if err := srv.Push(raw); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.WaitPushesAnswered(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if got := srv.PushStatuses(); got[pdu.StatusXTAppn] != 2 || len(got) != 1 {
		t.Errorf("SMSC push statuses %v, want two 0x64", got)
	}
	checkStillBound(t, ctx, srv, u, l)
}

func TestDataSMFromSMSC(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, w := newSMSC(t, smsctest.Config{})
	h := make(handler, 1)
	u, l := start(t, Config{Addr: srv.Addr()}, h)
	waitBound(t, ctx, u, l, 1)

	body := pdu.AppendCString(nil, "")
	body = append(body, 1, 1)
	body = pdu.AppendCString(body, "447700900001")
	body = append(body, 0, 0)
	body = pdu.AppendCString(body, "12345")
	body = append(body, 0, 0, 0)
	body = pdu.AppendTLV(body, pdu.TagMessagePayload, []byte("mo as data_sm"))
	raw := pdu.Request(pdu.DataSM, 0, body)
	if err := srv.Push(raw); err != nil {
		t.Fatal(err)
	}
	d := h.next(t, ctx)
	if d.f.ID != pdu.DataSM || !bytes.Equal(d.f.Body(), body) {
		t.Fatalf("handler got %s %x", pdu.IDName(d.f.ID), d.f.Body())
	}
	d.ack(pdu.StatusOK)
	resps, err := w.waitN(ctx, 1, ofID(pdu.DataSMResp))
	if err != nil {
		t.Fatal(err)
	}
	if resps[0].f.Status != pdu.StatusOK || resps[0].f.Seq != d.f.Seq {
		t.Errorf("data_sm_resp status 0x%x seq %d, want 0 seq %d", uint32(resps[0].f.Status), resps[0].f.Seq, d.f.Seq)
	}
	if err := srv.WaitPushesAcked(ctx, 1); err != nil {
		t.Fatal(err)
	}
}

func TestReceiptAckStatusReachesSMSC(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, _ := newSMSC(t, smsctest.Config{})
	h := make(handler, 4)
	u, l := start(t, Config{Addr: srv.Addr()}, h)
	waitBound(t, ctx, u, l, 1)

	raw, _ := submitSM(1, "447700900123", "receipt please", 1)
	r := await(t, ctx, submit(t, ctx, u, raw))
	if r.err != nil {
		t.Fatal(r.err)
	}
	d := h.next(t, ctx)
	sm := new(pdu.SM)
	if err := pdu.ParseSM(d.f.Body(), sm); err != nil || !pdu.IsReceipt(sm.ESMClass) {
		t.Fatalf("handler got esm_class 0x%x (%v), want a receipt", sm.ESMClass, err)
	}
	if id := messageID(t, r.f); !bytes.Contains(sm.ShortMessage, []byte("id:"+id)) {
		t.Errorf("receipt %q does not name message %q", sm.ShortMessage, id)
	}
	d.ack(pdu.StatusXTAppn)
	// The next submit's response comes after the SMSC read the ack.
	raw, _ = submitSM(2, "447700900123", "no receipt", 0)
	if r := await(t, ctx, submit(t, ctx, u, raw)); r.err != nil {
		t.Fatal(r.err)
	}
	if got := srv.ReceiptStatuses(); got[pdu.StatusXTAppn] != 1 || len(got) != 1 {
		t.Errorf("SMSC saw receipt acks %v, want one 0x64", got)
	}
}

// TestDeliverRightAfterBind pushes a deliver_sm as soon as the SMSC has
// answered the bind, as an SMSC with queued messages does, in the same
// TCP segment as the bind_resp: it must reach the handler, not be refused
// as arriving before the bind.
func TestDeliverRightAfterBind(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, w := newSMSCWire(t, smsctest.Config{}, &wire{holdBindResp: true})
	h := make(handler, 1)
	_, _ = start(t, Config{Addr: srv.Addr(), ReconnectMin: time.Millisecond, ReconnectMax: 2 * time.Millisecond}, h)
	go func() {
		for {
			select {
			case d := <-h:
				d.ack(pdu.StatusOK)
			case <-ctx.Done():
				return
			}
		}
	}()
	const rounds = 20
	for i := range rounds {
		if err := srv.WaitBinds(ctx, 1); err != nil {
			t.Fatal(err)
		}
		raw, _ := deliverSM("447700900001", fmt.Sprint("queued ", i))
		if err := srv.Push(raw); err != nil {
			t.Fatal(err)
		}
		resps, err := w.waitN(ctx, i+1, ofID(pdu.DeliverSMResp))
		if err != nil {
			t.Fatal(err)
		}
		if st := resps[i].f.Status; st != pdu.StatusOK {
			t.Fatalf("round %d: deliver_sm right after bind_resp answered 0x%x", i, uint32(st))
		}
		srv.DisconnectAll()
	}
}

func TestEnquireLinkFromSMSC(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, w := newSMSC(t, smsctest.Config{EnquireLinkInterval: 20 * time.Millisecond})
	u, l := start(t, Config{Addr: srv.Addr(), EnquireLinkInterval: time.Minute}, nil)
	waitBound(t, ctx, u, l, 1)

	resps, err := w.waitN(ctx, 5, ofID(pdu.EnquireLinkResp))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range resps {
		if p.conn != 0 || p.f.Status != pdu.StatusOK {
			t.Errorf("enquire_link_resp on connection %d status 0x%x", p.conn, uint32(p.f.Status))
		}
	}
	checkStillBound(t, ctx, srv, u, l)
}

func TestEnquireLinkFromBind(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, w := newSMSC(t, smsctest.Config{})
	// Inactivity closes the bind after three intervals without a PDU, so
	// five enquire_link later the SMSC's answers kept it alive.
	u, l := start(t, Config{Addr: srv.Addr(), EnquireLinkInterval: 100 * time.Millisecond}, nil)
	waitBound(t, ctx, u, l, 1)

	els, err := w.waitN(ctx, 5, ofID(pdu.EnquireLink))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range els {
		if p.conn != 0 {
			t.Errorf("enquire_link on connection %d: the bind was replaced", p.conn)
		}
	}
	checkStillBound(t, ctx, srv, u, l)
}

// checkStillBound checks that the upstream's single bind is still its
// first connection and takes submits.
func checkStillBound(t *testing.T, ctx context.Context, srv *smsctest.Server, u *Upstream, l *logs) {
	t.Helper()
	raw, _ := submitSM(1, "447700900123", "still there?", 0)
	if r := await(t, ctx, submit(t, ctx, u, raw)); r.err != nil || r.f.Status != pdu.StatusOK {
		t.Fatalf("submit: %v status 0x%x", r.err, uint32(r.f.Status))
	}
	if st := u.Binds()[0].State(); st != StateBound {
		t.Errorf("state %s", st)
	}
	if got := l.count("upstream bound")[0]; got != 1 || srv.Binds() != 1 {
		t.Errorf("bound %d times, SMSC binds %d: the bind did not stay up", got, srv.Binds())
	}
	if got := l.count("upstream bind lost"); len(got) != 0 {
		t.Errorf("bind lost: %v", got)
	}
}

func TestDeadSMSCDetected(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	gate := make(chan struct{})
	var seen atomic.Int32
	srv, _ := newSMSC(t, smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
		if seen.Add(1) == 1 {
			<-gate // the SMSC stops reading this connection
		}
		return smsctest.Reply{}
	}})
	u, l := start(t, Config{
		Addr: srv.Addr(), EnquireLinkInterval: 100 * time.Millisecond,
		ResponseTimeout: time.Minute, ReconnectMin: 10 * time.Millisecond,
	}, nil)
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(gate) }) })
	waitBound(t, ctx, u, l, 1)

	raw, _ := submitSM(1, "447700900123", "into the void", 0)
	if r := await(t, ctx, submit(t, ctx, u, raw)); !errors.Is(r.err, smppconn.ErrClosed) {
		t.Fatalf("submit to a dead SMSC: %v, want ErrClosed", r.err)
	}
	waitBound(t, ctx, u, l, 2)
	raw, _ = submitSM(2, "447700900123", "alive", 0)
	if r := await(t, ctx, submit(t, ctx, u, raw)); r.err != nil {
		t.Fatalf("submit after reconnecting: %v", r.err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.entries {
		if e.msg == "upstream bind lost" && e.fields["reason"] != smppconn.ReasonDeadPeer.String() {
			t.Errorf("bind lost for %v, want %s", e.fields["reason"], smppconn.ReasonDeadPeer)
		}
	}
}

func TestSMSCUnbindReconnects(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, w := newSMSC(t, smsctest.Config{})
	u, l := start(t, Config{Addr: srv.Addr(), ReconnectMin: 10 * time.Millisecond}, make(handler, 1))
	waitBound(t, ctx, u, l, 1)

	if err := srv.Push(pdu.Empty(pdu.Unbind, pdu.StatusOK, 0)); err != nil {
		t.Fatal(err)
	}
	resps, err := w.waitN(ctx, 1, ofID(pdu.UnbindResp))
	if err != nil {
		t.Fatal(err)
	}
	if resps[0].conn != 0 || resps[0].f.Status != pdu.StatusOK {
		t.Errorf("unbind_resp on connection %d status 0x%x", resps[0].conn, uint32(resps[0].f.Status))
	}
	waitBound(t, ctx, u, l, 2)
	raw, _ := submitSM(1, "447700900123", "after unbind", 0)
	if r := await(t, ctx, submit(t, ctx, u, raw)); r.err != nil {
		t.Fatal(r.err)
	}
}

func TestRequestsAnSMSCMustNotSend(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, w := newSMSC(t, smsctest.Config{})
	h := make(handler, 1)
	u, l := start(t, Config{Addr: srv.Addr()}, h)
	waitBound(t, ctx, u, l, 1)

	raw, _ := submitSM(0, "447700900123", "wrong way", 0)
	if err := srv.Push(raw); err != nil {
		t.Fatal(err)
	}
	// alert_notification: source and esme address, nothing to answer.
	alert := pdu.AppendCString([]byte{1, 1}, "447700900001")
	alert = pdu.AppendCString(append(alert, 0, 0), "")
	if err := srv.Push(pdu.Request(pdu.AlertNotification, 0, alert)); err != nil {
		t.Fatal(err)
	}
	mo, _ := deliverSM("447700900001", "after")
	if err := srv.Push(mo); err != nil {
		t.Fatal(err)
	}
	h.next(t, ctx).ack(pdu.StatusOK)
	if _, err := w.waitN(ctx, 1, ofID(pdu.DeliverSMResp)); err != nil {
		t.Fatal(err)
	}
	nacks := w.snapshot(ofID(pdu.GenericNack))
	if len(nacks) != 1 || nacks[0].f.Status != pdu.StatusInvCmdID {
		t.Fatalf("generic_nack for a submit_sm from the SMSC: %+v", nacks)
	}
	others := w.snapshot(func(p tapped) bool {
		return pdu.IsResponse(p.f.ID) && p.f.ID != pdu.GenericNack && p.f.ID != pdu.DeliverSMResp
	})
	if len(others) != 0 {
		t.Errorf("unexpected answers: %s", pdu.IDName(others[0].f.ID))
	}
	checkStillBound(t, ctx, srv, u, l)
}

// TestStrayResponsesFromSMSC: responses to nothing the bind sent (a
// submit_sm_resp of no submit, one of a command id SMPP does not define,
// a generic_nack) are dropped, never answered, and logged once: the next
// PDU the SMSC reads is the answer to its next request.
func TestStrayResponsesFromSMSC(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, w := newSMSC(t, smsctest.Config{})
	u, l := start(t, Config{Addr: srv.Addr(), EnquireLinkInterval: time.Minute}, nil)
	waitBound(t, ctx, u, l, 1)
	sessions := srv.Sessions()
	if len(sessions) != 1 {
		t.Fatalf("%d SMSC sessions", len(sessions))
	}
	if err := sessions[0].Send(esmetest.StrayResponses(7001)); err != nil {
		t.Fatal(err)
	}
	if err := sessions[0].Send(pdu.Empty(pdu.EnquireLink, pdu.StatusOK, 7010)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.waitN(ctx, 1, func(p tapped) bool { return p.f.ID == pdu.EnquireLinkResp && p.f.Seq == 7010 }); err != nil {
		t.Fatal(err)
	}
	// What the bind wrote: its bind, then the enquire_link_resp.
	got := w.snapshot(func(tapped) bool { return true })
	if len(got) != 2 || got[0].f.ID != pdu.BindTransceiver || got[1].f.ID != pdu.EnquireLinkResp {
		for _, p := range got {
			t.Logf("SMSC read %s 0x%08X seq %d", pdu.IDName(p.f.ID), uint32(p.f.Status), p.f.Seq)
		}
		t.Fatalf("the SMSC read %d PDUs, want the bind and the enquire_link_resp", len(got))
	}
	if n := l.count("response matches no request, dropped")[0]; n != 1 {
		t.Errorf("%d lines about the stray responses, want 1", n)
	}
	checkStillBound(t, ctx, srv, u, l)
}

func TestSubmitBeforeStartAndStopBeforeStart(t *testing.T) {
	t.Parallel()
	u := New(Config{Addr: "127.0.0.1:1"}, nil, nil)
	raw, _ := submitSM(1, "447700900123", "hi", 0)
	if err := u.Submit(context.Background(), raw, func(pdu.Frame, error) {}); !errors.Is(err, ErrNotBound) {
		t.Errorf("Submit before Start: %v, want ErrNotBound", err)
	}
	if err := u.Stop(context.Background()); err != nil {
		t.Errorf("Stop before Start: %v", err)
	}
}

// TestStop is not parallel: it checks that no goroutine of the package
// is left once Stop returns.
func TestStop(t *testing.T) {
	ctx := deadline(t)
	srv, w := newSMSC(t, smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
		return smsctest.Reply{Delay: 50 * time.Millisecond}
	}})
	u, l := start(t, Config{Addr: srv.Addr(), Binds: 3, EnquireLinkInterval: 100 * time.Millisecond}, nil)
	waitBound(t, ctx, u, l, 1)
	if err := srv.WaitBinds(ctx, 3); err != nil {
		t.Fatal(err)
	}
	sessions := srv.Sessions()
	if len(packageGoroutines()) == 0 {
		t.Fatal("the goroutine check sees none of the running binds")
	}

	// An outstanding submit is answered before the bind unbinds.
	raw, _ := submitSM(1, "447700900123", "last one", 0)
	pending := submit(t, ctx, u, raw)
	if err := u.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case r := <-pending:
		if r.err != nil || r.f.Status != pdu.StatusOK {
			t.Errorf("outstanding submit: %v status 0x%x, want its response", r.err, uint32(r.f.Status))
		}
	default:
		t.Error("Stop returned before the outstanding submit was done")
	}
	unbinds, err := w.waitN(ctx, 3, ofID(pdu.Unbind))
	if err != nil {
		t.Fatal(err)
	}
	conns := make(map[int]bool)
	for _, p := range unbinds {
		conns[p.conn] = true
	}
	if len(conns) != 3 {
		t.Errorf("unbind on %d connections, want 3", len(conns))
	}
	for _, s := range sessions {
		select {
		case <-s.Done():
		case <-ctx.Done():
			t.Fatal("SMSC session still open after Stop")
		}
	}
	for _, b := range u.Binds() {
		if b.State() != StateClosed || b.LocalAddr() != nil {
			t.Errorf("bind %d state %s after Stop", b.index, b.State())
		}
	}
	if u.Bound() || u.Healthy() {
		t.Error("Bound() or Healthy() after Stop")
	}
	if gs := packageGoroutines(); len(gs) != 0 {
		t.Errorf("%d goroutines left after Stop:\n%s", len(gs), strings.Join(gs, "\n\n"))
	}
	if err := u.Submit(ctx, raw, func(pdu.Frame, error) { t.Error("done called after Stop") }); !errors.Is(err, ErrStopped) {
		t.Errorf("Submit after Stop: %v, want ErrStopped", err)
	}
	if err := u.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if got := l.count("upstream bind lost"); len(got) != 0 {
		t.Errorf("bind lost during Stop: %v", got)
	}
}

// TestStopPastDeadline stops while a handler holds the bind's reader: the
// SMSC's unbind_resp cannot be read, so Stop's context ends first.
func TestStopPastDeadline(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, _ := newSMSC(t, smsctest.Config{})
	entered := make(chan struct{})
	release := make(chan struct{})
	var returned atomic.Bool
	h := handlerFunc(func(_ *Upstream, _ pdu.Frame, ack func(pdu.Status)) {
		close(entered)
		<-release
		ack(pdu.StatusOK)
		returned.Store(true)
	})
	u, l := start(t, Config{Addr: srv.Addr()}, h)
	waitBound(t, ctx, u, l, 1)
	raw, _ := deliverSM("447700900001", "slow")
	if err := srv.Push(raw); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-ctx.Done():
		t.Fatal("no delivery")
	}

	sctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	go func() {
		<-sctx.Done()
		close(release)
	}()
	if err := u.Stop(sctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop past its deadline: %v", err)
	}
	if !returned.Load() {
		t.Error("Stop returned while the handler was still running")
	}
	if st := u.Binds()[0].State(); st != StateClosed {
		t.Errorf("state %s after Stop", st)
	}
}

type handlerFunc func(*Upstream, pdu.Frame, func(pdu.Status))

func (f handlerFunc) HandleDeliver(u *Upstream, fr pdu.Frame, ack func(pdu.Status)) { f(u, fr, ack) }

// TestDeliverAckBurst: receipts are acked as they become durable, many at
// once under group commit. A burst of acks far above the bind's window
// goes out without the bind being taken for a slow consumer.
func TestDeliverAckBurst(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, _ := newSMSC(t, smsctest.Config{})
	const n = 2000
	h := make(handler, n)
	u, l := start(t, Config{Addr: srv.Addr(), Window: 10}, h)
	waitBound(t, ctx, u, l, 1)
	raw, _ := deliverSM("447700900001", "burst")
	for range n {
		if err := srv.Push(raw); err != nil {
			t.Fatal(err)
		}
	}
	acks := make([]func(pdu.Status), 0, n)
	for range n {
		acks = append(acks, h.next(t, ctx).ack)
	}
	for _, ack := range acks {
		ack(pdu.StatusOK)
	}
	if err := srv.WaitPushesAcked(ctx, n); err != nil {
		t.Fatalf("%d of %d deliver_sm acked: %v", srv.PushesAcked(), n, err)
	}
	if lost := l.count("upstream bind lost"); len(lost) != 0 {
		t.Fatalf("bind lost during the burst: %v", lost)
	}
}

// waitHealthy waits until u takes submits: a bind made suspect by a
// timeout has had its enquire_link answered.
func waitHealthy(t *testing.T, ctx context.Context, u *Upstream) {
	t.Helper()
	for !u.Healthy() {
		select {
		case <-ctx.Done():
			t.Fatal("the bind stayed suspect: its enquire_link was not answered")
		case <-time.After(time.Millisecond):
		}
	}
}

// TestHungSMSCFoundQuickly: when an SMSC hangs (its connection up, nothing
// answered), the first request that times out sends an enquire_link at
// once; while it is out the bind takes no submit, and when it goes
// unanswered the bind is closed as a dead peer and redialled, long before
// the keepalive would have noticed.
func TestHungSMSCFoundQuickly(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, w := newSMSC(t, smsctest.Config{})
	const timeout = 300 * time.Millisecond
	u, l := start(t, Config{Addr: srv.Addr(), ResponseTimeout: timeout, EnquireLinkInterval: time.Hour,
		ReconnectMin: 10 * time.Millisecond, ReconnectMax: 20 * time.Millisecond}, nil)
	waitBound(t, ctx, u, l, 1)
	srv.SetHung(true)
	raw, _ := submitSM(1, "447700900123", "lost", 0)
	if r := await(t, ctx, submit(t, ctx, u, raw)); !errors.Is(r.err, smppconn.ErrTimeout) {
		t.Fatalf("submit to a hung SMSC: %v, want ErrTimeout", r.err)
	}
	if u.Healthy() {
		t.Fatal("the bind takes submits while its link is being checked")
	}
	raw, _ = submitSM(2, "447700900123", "held back", 0)
	if err := u.Submit(ctx, raw, func(pdu.Frame, error) {}); !errors.Is(err, ErrNotBound) {
		t.Fatalf("submit to a suspect bind: %v, want ErrNotBound", err)
	}
	if _, err := w.waitN(ctx, 1, ofID(pdu.EnquireLink)); err != nil {
		t.Fatalf("no enquire_link after the timeout: %v", err)
	}
	if err := l.wait(ctx, func(es []logEntry) bool {
		for _, e := range es {
			if e.msg == "upstream bind lost" && e.fields["reason"] == "dead_peer" {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("the bind was not closed as a dead peer: %v", err)
	}
	srv.SetHung(false)
	waitBound(t, ctx, u, l, 2)
	if n := len(w.snapshot(ofID(pdu.SubmitSM))); n != 1 {
		t.Fatalf("%d submit_sm written, want only the first: none into the suspect bind", n)
	}
}

// TestStalledWindowTakesNothing: a bind whose window is full and whose SMSC
// has answered nothing for a while takes no new submit until half its
// window is free.
func TestStalledWindowTakesNothing(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, _ := newSMSC(t, smsctest.Config{})
	const timeout = 3 * time.Second // stall after 1s
	u, l := start(t, Config{Addr: srv.Addr(), ResponseTimeout: timeout, Window: 4, EnquireLinkInterval: time.Hour}, nil)
	waitBound(t, ctx, u, l, 1)
	srv.SetHung(true)
	done := make(chan result, 4)
	for i := range 4 {
		raw, _ := submitSM(uint32(i+1), "447700900123", "lost", 0)
		if err := u.Submit(ctx, raw, func(f pdu.Frame, err error) { done <- result{f, err} }); err != nil {
			t.Fatal(err)
		}
	}
	for u.Healthy() {
		select {
		case <-ctx.Done():
			t.Fatal("a full window with no answer for a second still takes submits")
		case <-time.After(10 * time.Millisecond):
		}
	}
	srv.SetHung(false)
	// Nothing is answered: the SMSC dropped what it read while hung. The
	// window frees when those submits time out, and the bind takes
	// submits again.
	for range 4 {
		if r := await(t, ctx, done); !errors.Is(r.err, smppconn.ErrTimeout) {
			t.Fatalf("lost submit: %v", r.err)
		}
	}
	for !u.Healthy() {
		select {
		case <-ctx.Done():
			t.Fatal("the bind never took submits again")
		case <-time.After(10 * time.Millisecond):
		}
	}
}
