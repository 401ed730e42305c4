package storetest

import (
	"testing"
	"time"

	"github.com/smppmux/smppmux/dlr"
)

// AddMarked adds a receipt's outbox item carrying mark m to s.
func AddMarked(t *testing.T, s dlr.Store, m dlr.Mark) {
	t.Helper()
	Wait(t, func(done func(error)) {
		s.AddOutbox("shop", &dlr.Item{Raw: []byte("receipt"), At: time.Now(), Mark: &m}, done)
	})
}

// Relayed asks s, and as an dlr.AsyncGetter too, whether m's receipt was
// relayed; both must agree.
func Relayed(t *testing.T, s dlr.Store, m dlr.Mark) bool {
	t.Helper()
	ok, err := s.Relayed(m)
	if err != nil {
		t.Fatalf("Relayed(%+v): %v", m, err)
	}
	if ag, isAsync := s.(dlr.AsyncGetter); isAsync {
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

// CheckMarks checks that a mark written with an outbox item is found by its upstream,
// id octet for octet and state, and only by them; one past its time is
// not. Forget removes a message's mapping and client record.
func CheckMarks(t *testing.T, s dlr.Store, now time.Time) {
	t.Helper()
	m := dlr.Mark{Upstream: "u", ID: "aB7", State: dlr.StateDelivered, Expires: now.Add(time.Hour)}
	if Relayed(t, s, m) {
		t.Fatal("a mark found before it was written")
	}
	AddMarked(t, s, m)
	AddMarked(t, s, dlr.Mark{Upstream: "u", ID: "old", State: dlr.StateDelivered, Expires: now.Add(-time.Second)})
	if !Relayed(t, s, m) {
		t.Fatal("a mark written with its outbox item not found")
	}
	checkNoOtherMark(t, s)

	for _, mp := range []dlr.Mapping{
		{Upstream: "u", UpstreamID: "aB7", Origin: dlr.Origin{SystemID: "shop", ClientID: "c7"}, Expires: now.Add(time.Hour)},
		{Upstream: "u", UpstreamID: "x8", Origin: dlr.Origin{SystemID: "shop", ClientID: "c8"}, Expires: now.Add(time.Hour)},
	} {
		PutSync(t, s, mp)
	}
	s.Forget("u", "aB7", "shop", "c7")
	// Forget's writes are not synced but are in order with later reads
	// once a synced write has followed them.
	PutSync(t, s, dlr.Mapping{Upstream: "u", UpstreamID: "barrier", Origin: dlr.Origin{SystemID: "shop", ClientID: "c9"}, Expires: now.Add(time.Hour)})
	if _, ok, err := s.ByClient("shop", "c7"); ok || err != nil {
		t.Errorf("ByClient of a forgotten message = %v, %v", ok, err)
	}
	if _, ok, err := s.ByClient("shop", "c8"); !ok || err != nil {
		t.Errorf("ByClient of another message = %v, %v", ok, err)
	}
}

// CheckPutMark checks that a mark put on its own (PutMark) is found by
// its upstream, id and state once a synced write has followed it, and
// only by them; one put past its time is not; a Forget queued with a
// mark lands with it.
func CheckPutMark(t *testing.T, s dlr.Store, now time.Time) {
	t.Helper()
	m := dlr.Mark{Upstream: "u", ID: "aB7", State: dlr.StateDelivered, Expires: now.Add(time.Hour)}
	if Relayed(t, s, m) {
		t.Fatal("a mark found before it was put")
	}
	PutSync(t, s, dlr.Mapping{Upstream: "u", UpstreamID: "aB7", Origin: dlr.Origin{SystemID: "shop", ClientID: "c7"}, Expires: now.Add(time.Hour)})
	s.PutMark(m)
	s.PutMark(dlr.Mark{Upstream: "u", ID: "old", State: dlr.StateDelivered, Expires: now.Add(-time.Second)})
	s.Forget("u", "aB7", "shop", "c7")
	// Unsynced writes are in order with later reads once a synced write
	// has followed them.
	PutSync(t, s, dlr.Mapping{Upstream: "u", UpstreamID: "barrier", Origin: dlr.Origin{SystemID: "shop", ClientID: "c9"}, Expires: now.Add(time.Hour)})
	if !Relayed(t, s, m) {
		t.Fatal("a mark put not found")
	}
	checkNoOtherMark(t, s)
	if _, ok, err := s.ByClient("shop", "c7"); ok || err != nil {
		t.Errorf("ByClient of a message forgotten with its mark = %v, %v", ok, err)
	}
}

// checkNoOtherMark checks that the marks u/aB7 (delivered) and u/old
// (expired) written by the checks above are not found under another id,
// upstream or state, and the expired one not at all.
func checkNoOtherMark(t *testing.T, s dlr.Store) {
	t.Helper()
	for _, other := range []dlr.Mark{
		{Upstream: "u", ID: "ab7", State: dlr.StateDelivered},
		{Upstream: "v", ID: "aB7", State: dlr.StateDelivered},
		{Upstream: "u", ID: "aB7", State: dlr.StateEnroute},
		{Upstream: "u", ID: "old", State: dlr.StateDelivered},
	} {
		if Relayed(t, s, other) {
			t.Errorf("Relayed(%+v) found m's mark, or an expired one", other)
		}
	}
}
