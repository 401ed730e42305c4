package memstore

import (
	"strconv"
	"testing"
	"time"

	"github.com/smppmux/smppmux/dlr"
)

// BenchmarkMemStoreMapping writes a mapping and reads it back by upstream
// id, the in-memory side of a relayed message and its receipt.
func BenchmarkMemStoreMapping(b *testing.B) {
	s := New(nil)
	exp := time.Now().Add(time.Hour)
	done := func(err error) {
		if err != nil {
			b.Error(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		id := strconv.FormatUint(uint64(i), 16)
		s.PutMapping(dlr.Mapping{Upstream: "carrier-a", UpstreamID: id, Origin: dlr.Origin{SystemID: "shop", ClientID: id}, Expires: exp}, done)
		if _, ok, err := s.Get("carrier-a", id); !ok || err != nil {
			b.Fatalf("mapping %s: found %v, %v", id, ok, err)
		}
	}
}
