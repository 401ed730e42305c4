package upstream

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smppconn"
	"github.com/smppmux/smppmux/internal/smsctest"
)

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
			srv := smsctest.Start(t, smsctest.Config{})
			u, _ := startBound(t, ctx, srv, Config{Bind: tc.bind, Binds: 2}, make(handler, 1))
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
