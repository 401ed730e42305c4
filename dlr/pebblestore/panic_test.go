package pebblestore

import (
	"testing"
	"time"

	"github.com/smppmux/smppmux/dlr"
)

// TestPebblePanicFailsTheBatch: a panic of Pebble's while a batch is built
// fails that batch's writes and stops the store's writes; it does not
// bring the process down.
func TestPebblePanicFailsTheBatch(t *testing.T) {
	s := openPebble(t, t.TempDir(), nil)
	defer s.Close()
	testHookBegin = func(of *Store) {
		if of == s {
			panic("injected")
		}
	}
	defer func() { testHookBegin = nil }()
	m := dlr.Mapping{Upstream: "a", UpstreamID: "1", Origin: dlr.Origin{SystemID: "shop", ClientID: "x"},
		Expires: time.Now().Add(time.Hour)}
	if err := outcome(t, func(done func(error)) { s.PutMapping(m, done) }); err == nil {
		t.Fatal("the mapping's write succeeded through a panic")
	}
	if s.Health() == nil {
		t.Fatal("the store takes writes after a panic in a batch")
	}
}
