package upstream

import (
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/time/rate"

	"github.com/smppmux/smppmux/internal/pdu"
)

// carrierRun drives p against a simulated carrier for d of fake time: the
// submitter offers up to offer submits per second, as the pace allows,
// and the carrier accepts what its limit lets through (ESME_RTHROTTLED
// above it). It returns the submits sent and accepted.
func carrierRun(p *pacer, carrier *rate.Limiter, offer float64, d time.Duration) (sent, accepted int) {
	gap := time.Duration(float64(time.Second) / offer)
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if _, wait := p.reserve(); wait > 0 {
			time.Sleep(wait)
		}
		p.sentOne()
		sent++
		if carrier.Allow() {
			accepted++
			p.observe(pdu.StatusOK, time.Now())
		} else {
			p.observe(pdu.StatusThrottled, time.Now())
		}
		time.Sleep(gap)
	}
	return sent, accepted
}

// TestPaceLearnsTheCarrierRate: against a carrier accepting 1,000/s, an
// unpaced upstream offered 5,000/s learns to carry at least 0.9 of what the
// carrier accepts, with few throttled submits, and never paces far above
// the carrier.
func TestPaceLearnsTheCarrierRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPacer(0)
		if p.Rate() != 0 {
			t.Fatalf("rate %v before any throttling, want 0 (not paced)", p.Rate())
		}
		carrier := rate.NewLimiter(1000, 50)
		carrierRun(p, carrier, 5000, time.Second) // learning
		sent, accepted := carrierRun(p, carrier, 5000, 10*time.Second)
		if accepted < 9000 {
			t.Errorf("accepted %d in 10 s, want at least 9,000 (0.9 of the carrier's 1,000/s)", accepted)
		}
		if throttled := sent - accepted; throttled > sent/20 {
			t.Errorf("%d of %d submits throttled, want at most 5%%", throttled, sent)
		}
		if r := p.Rate(); r < 800 || r > 1500 {
			t.Errorf("paced at %.0f/s against a carrier at 1,000/s", r)
		}
		t.Logf("10 s: sent %d, accepted %d, paced at %.0f/s", sent, accepted, p.Rate())
	})
}

// TestPaceNeverAboveCap: a configured tps caps the learnt rate, however
// much the carrier would take.
func TestPaceNeverAboveCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPacer(300)
		if p.Rate() != 300 {
			t.Fatalf("rate %v, want the cap, 300", p.Rate())
		}
		sent, _ := carrierRun(p, rate.NewLimiter(rate.Inf, 1), 5000, 10*time.Second)
		if sent > 3000+300/burstSpan+1 {
			t.Errorf("sent %d in 10 s with tps 300", sent)
		}
		if p.Rate() != 300 {
			t.Errorf("rate %v, want 300", p.Rate())
		}
	})
}

// TestPaceRecoversAfterStop: a carrier that accepts nothing for a while
// brings the pace to its floor; once it accepts again, the pace climbs
// back to most of the carrier's rate within three seconds.
func TestPaceRecoversAfterStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPacer(0)
		carrier := rate.NewLimiter(1000, 50)
		carrierRun(p, carrier, 5000, 2*time.Second)
		carrier.SetLimit(0)
		carrier.SetBurst(0)
		carrierRun(p, carrier, 5000, 2*time.Second)
		if r := p.Rate(); r > 10 {
			t.Fatalf("paced at %.0f/s against a carrier accepting nothing", r)
		}
		carrier.SetLimit(1000)
		carrier.SetBurst(50)
		carrierRun(p, carrier, 5000, 3*time.Second)
		_, accepted := carrierRun(p, carrier, 5000, 2*time.Second)
		if accepted < 1800 {
			t.Errorf("accepted %d in the 2 s after recovering, want at least 1,800", accepted)
		}
	})
}

// TestPaceIdleDoesNotRaise: a rate that is not what holds submits back is
// not raised, so a quiet upstream does not forget what it learnt.
func TestPaceIdleDoesNotRaise(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPacer(0)
		carrier := rate.NewLimiter(1000, 50)
		carrierRun(p, carrier, 5000, 2*time.Second)
		learnt := p.Rate()
		carrierRun(p, carrier, 100, 5*time.Second)
		if r := p.Rate(); r > learnt {
			t.Errorf("rate rose from %.0f to %.0f/s while only 100/s were sent", learnt, r)
		}
	})
}
