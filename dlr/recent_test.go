package dlr

import (
	"strconv"
	"testing"
)

// TestRecentKeepsRewrittenKeys: a key written again stays in memory
// when the slot of its first writing is reused.
func TestRecentKeepsRewrittenKeys(t *testing.T) {
	t.Parallel()
	r := newRecent[string, Mapping](recentSize)
	first := Mapping{UpstreamID: "first"}
	r.put("a", first)
	r.put("b", first)
	// Fill the ring up to just before a's first slot comes round again,
	// writing a again half way.
	second := Mapping{UpstreamID: "second"}
	for i := 0; i < recentSize/2-1; i++ {
		if i == recentSize/4 {
			r.put("a", second)
			r.put("x"+strconv.Itoa(i), second)
			continue
		}
		r.put("k"+strconv.Itoa(i), Mapping{})
		r.put("v"+strconv.Itoa(i), Mapping{})
	}
	r.put("new1", Mapping{}) // reuses the slots of a and b
	r.put("new2", Mapping{})
	if m, ok := r.get("a"); !ok || m.UpstreamID != "second" {
		t.Fatalf("a = %+v %v, want its second writing", m, ok)
	}
	if _, ok := r.get("b"); ok {
		t.Fatal("b outlived its slot")
	}
	// Every slot holds a different key now: a's first slot went to new1.
	if r.len() != recentSize {
		t.Fatalf("%d keys held, want %d", r.len(), recentSize)
	}
}
