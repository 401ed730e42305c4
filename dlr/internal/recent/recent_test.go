package recent

import (
	"strconv"
	"testing"
)

// mapping stands for what a store keeps.
type mapping struct{ UpstreamID string }

// size is a ring's size in the test.
const size = 1024

// TestRecentKeepsRewrittenKeys: a key written again stays in memory
// when the slot of its first writing is reused.
func TestRecentKeepsRewrittenKeys(t *testing.T) {
	t.Parallel()
	r := New[string, mapping](size)
	first := mapping{UpstreamID: "first"}
	r.Put("a", first)
	r.Put("b", first)
	// Fill the ring up to just before a's first slot comes round again,
	// writing a again half way.
	second := mapping{UpstreamID: "second"}
	for i := 0; i < size/2-1; i++ {
		if i == size/4 {
			r.Put("a", second)
			r.Put("x"+strconv.Itoa(i), second)
			continue
		}
		r.Put("k"+strconv.Itoa(i), mapping{})
		r.Put("v"+strconv.Itoa(i), mapping{})
	}
	r.Put("new1", mapping{}) // reuses the slots of a and b
	r.Put("new2", mapping{})
	if m, ok := r.Get("a"); !ok || m.UpstreamID != "second" {
		t.Fatalf("a = %+v %v, want its second writing", m, ok)
	}
	if _, ok := r.Get("b"); ok {
		t.Fatal("b outlived its slot")
	}
	// Every slot holds a different key now: a's first slot went to new1.
	if r.Len() != size {
		t.Fatalf("%d keys held, want %d", r.Len(), size)
	}
}
