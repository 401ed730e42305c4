package ratelog

import (
	"testing"
	"time"
)

func TestEvery(t *testing.T) {
	t.Parallel()
	clock := time.Unix(1_700_000_000, 0)
	e := &Every{Now: func() time.Time { return clock }}
	if ok, n := e.Allow(10 * time.Second); !ok || n != 0 {
		t.Fatalf("first: %v %d", ok, n)
	}
	for range 5 {
		clock = clock.Add(time.Second)
		if ok, _ := e.Allow(10 * time.Second); ok {
			t.Fatal("let through within the interval")
		}
	}
	clock = clock.Add(5 * time.Second)
	if ok, n := e.Allow(10 * time.Second); !ok || n != 5 {
		t.Fatalf("after the interval: %v %d, want true 5", ok, n)
	}
	if ok, _ := e.Allow(10 * time.Second); ok {
		t.Fatal("let through twice")
	}
}
