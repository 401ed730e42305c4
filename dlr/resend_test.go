package dlr

import (
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/redistest"
)

// addMarked adds a receipt's outbox item carrying mark m to s.
func addMarked(t *testing.T, s Store, m Mark) {
	t.Helper()
	wait(t, func(done func(error)) {
		s.AddOutbox("shop", &Item{Raw: []byte("receipt"), At: time.Now(), Mark: &m}, done)
	})
}

// relayed asks s, and as an AsyncGetter too, whether m's receipt was
// relayed; both must agree.
func relayed(t *testing.T, s Store, m Mark) bool {
	t.Helper()
	ok, err := s.Relayed(m)
	if err != nil {
		t.Fatalf("Relayed(%+v): %v", m, err)
	}
	if ag, isAsync := s.(AsyncGetter); isAsync {
		done := make(chan struct{})
		ag.RelayedAsync(m, func(aok bool, aerr error) {
			if aerr != nil || aok != ok {
				t.Errorf("RelayedAsync(%+v) = %v, %v; Relayed said %v", m, aok, aerr, ok)
			}
			close(done)
		})
		<-done
	}
	return ok
}

// checkMarks: a mark written with an outbox item is found by its upstream,
// id octet for octet and state, and only by them; one past its time is
// not. Forget removes a message's mapping and client record.
func checkMarks(t *testing.T, s Store, now time.Time) {
	t.Helper()
	m := Mark{Upstream: "u", ID: "aB7", State: StateDelivered, Expires: now.Add(time.Hour)}
	if relayed(t, s, m) {
		t.Fatal("a mark found before it was written")
	}
	addMarked(t, s, m)
	addMarked(t, s, Mark{Upstream: "u", ID: "old", State: StateDelivered, Expires: now.Add(-time.Second)})
	if !relayed(t, s, m) {
		t.Fatal("a mark written with its outbox item not found")
	}
	for _, other := range []Mark{
		{Upstream: "u", ID: "ab7", State: StateDelivered},
		{Upstream: "v", ID: "aB7", State: StateDelivered},
		{Upstream: "u", ID: "aB7", State: StateEnroute},
		{Upstream: "u", ID: "old", State: StateDelivered},
	} {
		if relayed(t, s, other) {
			t.Errorf("Relayed(%+v) found m's mark, or an expired one", other)
		}
	}

	for _, mp := range []Mapping{
		{Upstream: "u", UpstreamID: "aB7", Origin: Origin{SystemID: "shop", ClientID: "c7"}, Expires: now.Add(time.Hour)},
		{Upstream: "u", UpstreamID: "x8", Origin: Origin{SystemID: "shop", ClientID: "c8"}, Expires: now.Add(time.Hour)},
	} {
		putSync(t, s, mp)
	}
	s.Forget("u", "aB7", "shop", "c7")
	// Forget's writes are not synced but are in order with later reads
	// once a synced write has followed them.
	putSync(t, s, Mapping{Upstream: "u", UpstreamID: "barrier", Origin: Origin{SystemID: "shop", ClientID: "c9"}, Expires: now.Add(time.Hour)})
	if _, ok, err := s.ByClient("shop", "c7"); ok || err != nil {
		t.Errorf("ByClient of a forgotten message = %v, %v", ok, err)
	}
	if _, ok, err := s.ByClient("shop", "c8"); !ok || err != nil {
		t.Errorf("ByClient of another message = %v, %v", ok, err)
	}
}

func TestMemStoreMarks(t *testing.T) {
	t.Parallel()
	checkMarks(t, NewMemStore(nil), time.Now())
}

func TestPebbleStoreMarks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Now()
	s := openPebble(t, dir, nil)
	checkMarks(t, s, now)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Marks survive a restart, and the sweep forgets them in their time.
	later := now
	s = openPebble(t, dir, func() time.Time { return later })
	defer s.Close()
	m := Mark{Upstream: "u", ID: "aB7", State: StateDelivered}
	if !relayed(t, s, m) {
		t.Fatal("a mark lost across a restart")
	}
	later = now.Add(2 * time.Hour)
	if _, err := s.Sweep(); err != nil {
		t.Fatal(err)
	}
	later = now
	if relayed(t, s, m) {
		t.Fatal("the sweep left a mark past its time")
	}
}

func TestRedisStoreMarks(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	a := openRedis(t, r.Addr, 1, nil)
	checkMarks(t, a, time.Now())
	// Another instance finds the marks of the first.
	b := openRedis(t, r.Addr, 2, nil)
	if !relayed(t, b, Mark{Upstream: "u", ID: "aB7", State: StateDelivered}) {
		t.Fatal("a mark written by one instance not found by another")
	}
}

func TestReceiptState(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		text string
		tlv  []byte
		want byte
	}{
		{"id:1 sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 stat:DELIVRD err:000 text:", nil, StateDelivered},
		{"id:1 stat:undeliv err:001", nil, StateUndeliverable},
		{"id:1 stat:ENROUTE", nil, StateEnroute},
		{"id:1 stat:WHATEVER", nil, 0},
		{"id:1", nil, 0},
		{"id:1 stat:DELIVRD", []byte{StateRejected}, StateRejected},
		{"", []byte{42}, 0},
	} {
		sm := &pdu.SM{ShortMessage: []byte(tt.text)}
		if tt.tlv != nil {
			sm.TLVs = pdu.AppendTLV(nil, pdu.TagMessageState, tt.tlv)
		}
		if got := ReceiptState(sm); got != tt.want {
			t.Errorf("ReceiptState(%q, tlv %v) = %d, want %d", tt.text, tt.tlv, got, tt.want)
		}
	}
	if FinalState(StateEnroute) || FinalState(StateAccepted) || !FinalState(StateDelivered) || !FinalState(StateRejected) {
		t.Error("FinalState")
	}
}
