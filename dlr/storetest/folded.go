package storetest

import (
	"runtime"
	"testing"
	"time"

	"github.com/smppmux/smppmux/dlr"
)

// CheckFoldedLookupWaits checks that while the write of a mapping whose id
// folds like a receipt's is under way, a folded lookup finds nothing (the
// receipt waits, and the write claims it), even with another mapping of
// that form stored; and that a lookup of another id as written is not held
// up. hold keeps the store's next write queued until release.
func CheckFoldedLookupWaits(t *testing.T, s dlr.MappingStore, hold, release func()) {
	t.Helper()
	exp := time.Now().Add(time.Hour)
	PutSync(t, s, dlr.Mapping{Upstream: "u", UpstreamID: "Ab1", Origin: dlr.Origin{SystemID: "shop", ClientID: "c1"}, Expires: exp})
	if route, n, err := s.GetFolded("u", "ab1"); n != 1 || err != nil || route.ClientID != "c1" {
		t.Fatalf("GetFolded = %+v, %d, %v", route, n, err)
	}
	hold()
	errc := make(chan error, 1)
	go s.PutMapping(dlr.Mapping{Upstream: "u", UpstreamID: "aB1", Origin: dlr.Origin{SystemID: "shop", ClientID: "c2"}, Expires: exp},
		func(err error) { errc <- err })
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, n, err := s.GetFolded("u", "ab1")
		if err != nil {
			release()
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			release()
			t.Fatal("a folded lookup never waited for the write")
		}
		runtime.Gosched()
	}
	if route, ok, err := s.Get("u", "Ab1"); !ok || err != nil || route.ClientID != "c1" {
		t.Errorf("Get of another id of the form while a write is queued = %+v, %v, %v", route, ok, err)
	}
	release()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if _, n, err := s.GetFolded("u", "ab1"); n != 2 || err != nil {
		t.Fatalf("GetFolded after the write = %d, %v; want 2", n, err)
	}
}
