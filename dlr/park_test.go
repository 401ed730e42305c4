package dlr

import (
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// expiries records what a Parking expires; its expire is the function
// to park with.
type expiries struct {
	mu sync.Mutex
	vs []any
}

func (e *expiries) expire(v any) {
	e.mu.Lock()
	e.vs = append(e.vs, v)
	e.mu.Unlock()
}

// got returns what expired once the bubble is idle.
func (e *expiries) got() []any {
	synctest.Wait()
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.vs)
}

// TestParkingExpiryOrder: entries expire at their own deadline, in
// parking order, under one timer; claimed ones never expire, and the
// timer serves entries parked after it went idle.
func TestParkingExpiryOrder(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := NewParking(30 * time.Second)
		var ex expiries
		got, expire := ex.got, ex.expire
		p.Park("u", "1", "", "r1", expire)
		time.Sleep(10 * time.Second)
		p.Park("u", "2", "", "r2", expire)
		e3 := p.Park("u", "03", "3", "r3", expire)
		p.Park("u", "4", "", "r4", expire)
		if v, ok := p.Claim("u", "1"); !ok || v != "r1" {
			t.Fatalf("Claim(1) = %v, %v", v, ok)
		}
		if !p.Reclaim(e3) {
			t.Fatal("Reclaim(r3) failed")
		}
		// The timer fires at 30s for r1, claimed, and waits on for r2.
		time.Sleep(30*time.Second - time.Nanosecond)
		if e := got(); len(e) != 0 {
			t.Fatalf("expired before their deadline: %v", e)
		}
		if v, ok := p.Claim("u", "4"); !ok || v != "r4" {
			t.Fatalf("Claim(4) = %v, %v", v, ok)
		}
		time.Sleep(time.Nanosecond)
		if e := got(); !slices.Equal(e, []any{"r2"}) {
			t.Fatalf("expired %v at the deadline, want [r2]", e)
		}
		if p.Len() != 0 {
			t.Fatalf("Len = %d after everything was claimed or expired", p.Len())
		}
		if _, ok := p.Claim("u", "2"); ok {
			t.Fatal("claimed after expiry")
		}
		if _, ok := p.Claim("u", "03"); ok {
			t.Fatal("claimed through another key after reclaim")
		}

		p.Park("u", "5", "", "r5", expire)
		time.Sleep(30 * time.Second)
		if e := got(); !slices.Equal(e, []any{"r2", "r5"}) {
			t.Fatalf("expired %v, want [r2 r5]", e)
		}
	})
}

// BenchmarkParkClaim parks a receipt and claims it, as a receipt that
// beats its mapping's commit by a few milliseconds is.
func BenchmarkParkClaim(b *testing.B) {
	p := NewParking(30 * time.Second)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		id := "19a3c5e2f0b14"
		p.Park("carrier-a", id, "", i, func(any) {})
		if _, ok := p.Claim("carrier-a", id); !ok {
			b.Fatal("not claimed")
		}
	}
}

// TestParkingStop: Stop hands back what is parked, in parking order,
// claimed; nothing expires after it and Park refuses.
func TestParkingStop(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := NewParking(30 * time.Second)
		var ex expiries
		expire := ex.expire
		e1 := p.Park("u", "1", "", "r1", expire)
		p.Park("u", "2", "", "r2", expire)
		p.Park("u", "3", "", "r3", expire)
		if _, ok := p.Claim("u", "2"); !ok {
			t.Fatal("Claim(2) failed")
		}
		if got := p.Stop(); !slices.Equal(got, []any{"r1", "r3"}) {
			t.Fatalf("Stop returned %v, want [r1 r3]", got)
		}
		if !p.Stopped() || p.Len() != 0 {
			t.Fatalf("Stopped %v, Len %d after Stop", p.Stopped(), p.Len())
		}
		if p.Reclaim(e1) {
			t.Fatal("Reclaim of an entry Stop handed back succeeded")
		}
		if _, ok := p.Claim("u", "3"); ok {
			t.Fatal("Claim of an entry Stop handed back succeeded")
		}
		if e := p.Park("u", "4", "", "r4", expire); e != nil {
			t.Fatal("Park after Stop parked")
		}
		if got := p.Stop(); got != nil {
			t.Fatalf("second Stop returned %v", got)
		}
		time.Sleep(time.Minute)
		if e := ex.got(); len(e) != 0 {
			t.Fatalf("expired after Stop: %v", e)
		}
	})
}
