package upstream

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/smppmux/smppmux/internal/pdu"
)

// A pacer learns how fast an SMSC takes submits. Carriers answer
// ESME_RTHROTTLED (or ESME_RMSGQFUL) above the rate their contract allows:
// a rate signal, not a fault. On such an answer the pacer lowers its send
// rate to a little under the rate at which the SMSC accepted submits
// lately (to the floor when it accepted none). While the SMSC accepts
// everything and the rate is what holds submits back, it raises the rate
// every tenth of a second, by 4% at first and by twice as much at each
// raise that meets no throttling, up to doubling: close to the SMSC's
// limit it probes gently, far below it (after the SMSC stopped for a
// while) it climbs back within a second or two. It never exceeds the
// configured TPS cap. Until the first throttle, an upstream without a cap
// is not paced at all.
//
// LOCKING: mu guards the learned rate and the meters; the limiter has its
// own lock, and the hot path reads only the atomic limiter pointer when the
// upstream is not paced.
type pacer struct {
	cap float64 // configured TPS; 0: none

	lim atomic.Pointer[rate.Limiter] // nil: not paced

	mu        sync.Mutex
	limit     float64 // learned rate; 0: none learned
	step      float64 // share of the rate the next raise adds
	lastCut   time.Time
	lastRaise time.Time
	accepted  meter
	sent      meter

	throttled atomic.Uint64 // throttling answers, for metrics
}

// Pacing constants. A cut aims at cutTo of the acceptance rate measured
// over the meters' span; at most one cut per cutEvery, so one burst of
// throttled answers counts once. A raise adds step of the rate, from
// firstStep doubling to maxStep, plus raiseAdd, every raiseEvery while
// the rate is what limits sending: busyShare of it was sent over the last
// raiseEvery. minRate is the floor.
const (
	cutTo      = 0.9
	cutEvery   = 100 * time.Millisecond
	firstStep  = 0.04
	maxStep    = 1.0
	raiseEvery = 100 * time.Millisecond
	raiseAdd   = 10.0
	busyShare  = 0.8
	minRate    = 1.0
	// burstSpan is how much of a second's worth may go out at once.
	burstSpan = 20
)

func newPacer(tps int) *pacer {
	p := &pacer{cap: float64(tps)}
	if tps > 0 {
		p.setLimitLocked(p.cap, time.Now())
	}
	return p
}

// reserve takes a slot for one submit: the returned delay is how long the
// submit must wait; r is nil when the upstream is not paced, else it must
// be cancelled if the submit is not sent.
func (p *pacer) reserve() (r *rate.Reservation, delay time.Duration) {
	lim := p.lim.Load()
	if lim == nil {
		return nil, 0
	}
	r = lim.Reserve()
	return r, r.Delay()
}

// Rate returns the rate the upstream is paced at, in submits per second; 0
// when it is not paced.
func (p *pacer) Rate() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lim.Load() == nil {
		return 0
	}
	return p.limit
}

// sentOne counts a submit written to the SMSC.
func (p *pacer) sentOne() {
	now := time.Now()
	p.mu.Lock()
	p.sent.add(now)
	p.mu.Unlock()
}

// observe takes the SMSC's answer to a submit.
func (p *pacer) observe(st pdu.Status, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch st {
	case pdu.StatusThrottled, pdu.StatusMsgQFul:
		p.throttled.Add(1)
		p.cutLocked(now)
	case pdu.StatusOK:
		p.accepted.add(now)
		p.raiseLocked(now)
	}
}

// cutLocked lowers the rate after a throttling answer. Called with mu held.
func (p *pacer) cutLocked(now time.Time) {
	if now.Sub(p.lastCut) < cutEvery {
		return
	}
	p.lastCut, p.lastRaise, p.step = now, now, firstStep
	// What the SMSC took lately is what it allows; no more than the rate
	// in force, which the acceptances of a burst may exceed.
	base := p.accepted.rate(now, meterSpan)
	if p.limit > 0 {
		base = min(base, p.limit)
	}
	p.setLimitLocked(base*cutTo, now)
	// The submits already allowed would meet the same answer: the next
	// one waits for the lower rate's first slot.
	lim := p.lim.Load()
	if t := lim.TokensAt(now); t >= 1 {
		lim.ReserveN(now, int(t))
	}
}

// raiseLocked raises the rate while it is what holds submits back. Called
// with mu held.
func (p *pacer) raiseLocked(now time.Time) {
	if p.limit == 0 || now.Sub(p.lastRaise) < raiseEvery {
		return
	}
	if p.cap > 0 && p.limit >= p.cap {
		return
	}
	p.lastRaise = now
	if p.sent.rate(now, raiseEvery) < busyShare*p.limit {
		return
	}
	p.setLimitLocked(p.limit*(1+p.step)+raiseAdd, now)
	p.step = min(2*p.step, maxStep)
}

// setLimitLocked sets the rate, bounded by the floor and the cap. Called
// with mu held.
func (p *pacer) setLimitLocked(v float64, now time.Time) {
	v = max(v, minRate)
	if p.cap > 0 {
		v = min(v, p.cap)
	}
	p.limit = v
	burst := max(1, int(math.Ceil(v/burstSpan)))
	if lim := p.lim.Load(); lim != nil {
		lim.SetLimitAt(now, rate.Limit(v))
		lim.SetBurstAt(now, burst)
		return
	}
	p.lim.Store(rate.NewLimiter(rate.Limit(v), burst))
}

// meter counts events over the last meterSpan in meterBuckets buckets.
type meter struct {
	buckets [meterBuckets]meterBucket
}

type meterBucket struct {
	start int64 // unix nanoseconds the bucket counts from
	n     int
}

const (
	meterBuckets = 10
	meterSpan    = 500 * time.Millisecond
	bucketSpan   = int64(meterSpan / meterBuckets)
)

func (m *meter) add(now time.Time) {
	n := now.UnixNano() / bucketSpan
	b := &m.buckets[n%meterBuckets]
	if start := n * bucketSpan; b.start != start {
		*b = meterBucket{start: start}
	}
	b.n++
}

// rate returns the events per second over the buckets within span (at
// most meterSpan) of now, measured from the oldest of them (at least one
// bucket's length), 0 when there were none.
func (m *meter) rate(now time.Time, span time.Duration) float64 {
	horizon := now.UnixNano() - int64(span)
	oldest, total := int64(0), 0
	for _, b := range m.buckets {
		if b.n == 0 || b.start <= horizon {
			continue
		}
		total += b.n
		if oldest == 0 || b.start < oldest {
			oldest = b.start
		}
	}
	if total == 0 {
		return 0
	}
	elapsed := max(now.UnixNano()-oldest, bucketSpan)
	return float64(total) * 1e9 / float64(elapsed)
}
