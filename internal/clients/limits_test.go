package clients

import (
	"strconv"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
)

func TestLimits(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	p := NewLimits(LimitsConfig{AllowedSources: []string{"Shop", "4477*"}, DestCount: 3, DestPer: time.Minute})
	if st, _ := p.Check([]byte("Other"), []byte("1"), now); st != pdu.StatusInvSrcAdr {
		t.Fatalf("unlisted source: 0x%x", uint32(st))
	}
	if st, _ := p.Check([]byte("447700900001"), []byte("1"), now); st != pdu.StatusOK {
		t.Fatalf("source under an allowed prefix: 0x%x", uint32(st))
	}
	// 3 per minute per destination: the 2 sends above and below count.
	for i, want := range []pdu.Status{pdu.StatusOK, pdu.StatusOK, pdu.StatusThrottled} {
		if st, _ := p.Check([]byte("Shop"), []byte("1"), now.Add(time.Duration(i)*time.Second)); st != want {
			t.Fatalf("send %d to the same destination: 0x%x, want 0x%x", i+2, uint32(st), uint32(want))
		}
	}
	if st, _ := p.Check([]byte("Shop"), []byte("2"), now); st != pdu.StatusOK {
		t.Fatal("another destination was limited")
	}
	if st, _ := p.Check([]byte("Shop"), []byte("1"), now.Add(time.Minute+time.Millisecond)); st != pdu.StatusOK {
		t.Fatal("the oldest send left the window but the destination stays limited")
	}
}

func TestLimitsTPS(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	p := NewLimits(LimitsConfig{TPS: 100}) // bursts of 10
	ok := 0
	for range 50 {
		if st, _ := p.Check(nil, []byte("1"), now); st == pdu.StatusOK {
			ok++
		}
	}
	if ok != 10 {
		t.Fatalf("%d submits passed at one instant, want the burst of 10", ok)
	}
	if st, _ := p.Check(nil, []byte("1"), now.Add(20*time.Millisecond)); st != pdu.StatusOK {
		t.Fatal("no token after 20 ms at 100/s")
	}
}

// BenchmarkLimits checks a submit against a client's limits:
// allowed sources, a TPS cap and the per-destination limit, over 100,000
// destinations as a busy client sends to.
func BenchmarkLimits(b *testing.B) {
	p := NewLimits(LimitsConfig{TPS: 1 << 30, AllowedSources: []string{"Shop", "4477*"},
		DestCount: 3, DestPer: time.Minute})
	dests := make([][]byte, 100_000)
	for i := range dests {
		dests[i] = []byte(strconv.Itoa(447700000000 + i*7919%1000000))
	}
	src := []byte("447700900001")
	now := time.Unix(1000, 0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		now = now.Add(time.Microsecond)
		if st, reason := p.Check(src, dests[i%len(dests)], now); st != pdu.StatusOK && reason != "destination_limit" {
			b.Fatalf("refused: %s", reason)
		}
	}
}
