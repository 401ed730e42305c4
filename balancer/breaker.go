package balancer

import (
	"sync"
	"time"

	"github.com/smppmux/smppmux/internal/defaults"
)

// BreakerState is the state of a member's circuit breaker.
type BreakerState int

// Breaker states.
const (
	// BreakerClosed lets traffic through (possibly ramping up after a
	// recovery).
	BreakerClosed BreakerState = iota
	// BreakerOpen keeps traffic away for the cooldown.
	BreakerOpen
	// BreakerHalfOpen lets a few probes through to test recovery.
	BreakerHalfOpen
)

var breakerStateNames = [...]string{"closed", "open", "half_open"}

// String returns the state's name, as used in logs and metrics.
func (s BreakerState) String() string {
	if int(s) < len(breakerStateNames) {
		return breakerStateNames[s]
	}
	return "unknown"
}

// Defaults of BreakerConfig, taken where a field is zero. The
// configuration's defaults refer to them.
const (
	DefaultBreakerFailures    = 5
	DefaultBreakerErrorRate   = 0.5
	DefaultBreakerMinRequests = 20
	DefaultBreakerWindow      = 10 * time.Second
	DefaultBreakerCooldown    = 5 * time.Second
	DefaultBreakerProbes      = 3
	DefaultBreakerSlowStart   = 30 * time.Second
)

// BreakerConfig tunes a circuit breaker. Zero values take the defaults
// shown.
type BreakerConfig struct {
	// Failures in a row that open the breaker; 5.
	Failures int
	// ErrorRate over Window that opens the breaker, once MinRequests
	// outcomes were seen in it; 0.5.
	ErrorRate   float64
	MinRequests int           // 20
	Window      time.Duration // 10s
	// Cooldown is how long the breaker stays open before probing; 5s.
	Cooldown time.Duration
	// Probes is how many successes in a row close a half-open breaker,
	// and how many may be in flight at once; 3.
	Probes int
	// SlowStart is how long a member takes to ramp from a tenth of its
	// weight back to all of it after the breaker closes; 30s.
	SlowStart time.Duration
}

// WithDefaults returns c with the defaults in place of its zero values:
// the settings a member's breaker runs with.
func (c BreakerConfig) WithDefaults() BreakerConfig {
	c.setDefaults()
	return c
}

func (c *BreakerConfig) setDefaults() {
	defaults.Positive(&c.Failures, DefaultBreakerFailures)
	defaults.Positive(&c.ErrorRate, DefaultBreakerErrorRate)
	defaults.Positive(&c.MinRequests, DefaultBreakerMinRequests)
	defaults.Positive(&c.Window, DefaultBreakerWindow)
	defaults.Positive(&c.Cooldown, DefaultBreakerCooldown)
	defaults.Positive(&c.Probes, DefaultBreakerProbes)
	if c.SlowStart < 0 {
		c.SlowStart = 0
	} else if c.SlowStart == 0 {
		c.SlowStart = DefaultBreakerSlowStart
	}
}

const breakerBuckets = 10

// breaker is one member's circuit breaker. It counts outcomes in a ring of
// time buckets covering Window.
type breaker struct {
	cfg BreakerConfig
	now func() time.Time

	mu          sync.Mutex
	state       BreakerState
	consecutive int
	since       time.Time // when the current state began
	probes      int       // half-open probes in flight
	probeOK     int       // half-open successes in a row
	buckets     [breakerBuckets]bucket
	rampFrom    time.Time // when the breaker last closed after a trip; zero: never
	onChange    func(from, to BreakerState)
}

type bucket struct {
	start    int64 // unix nanoseconds the bucket covers from
	ok, fail int
}

func newBreaker(cfg BreakerConfig, now func() time.Time, onChange func(from, to BreakerState)) *breaker {
	cfg.setDefaults()
	return &breaker{cfg: cfg, now: now, since: now(), onChange: onChange}
}

// allow reports whether a message may go to the member now, and whether
// it is a half-open probe, which the caller must report with record.
func (b *breaker) allow() (ok, probe bool) {
	b.mu.Lock()
	var change func()
	defer func() {
		b.mu.Unlock()
		if change != nil {
			change()
		}
	}()
	switch b.state {
	case BreakerClosed:
		return true, false
	case BreakerOpen:
		if b.now().Sub(b.since) < b.cfg.Cooldown {
			return false, false
		}
		change = b.set(BreakerHalfOpen)
		fallthrough
	default: // half-open
		if b.probes >= b.cfg.Probes {
			return false, false
		}
		b.probes++
		return true, true
	}
}

// view reports, without taking a probe slot, whether allow could succeed
// now, and the share of its weight the member gets: 0 while open, a tenth
// while due for or in half-open probing, a tenth rising to all of it over
// SlowStart after closing.
func (b *breaker) view() (available bool, factor float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case BreakerOpen:
		if b.now().Sub(b.since) < b.cfg.Cooldown {
			return false, 0
		}
		return true, 0.1
	case BreakerHalfOpen:
		return b.probes < b.cfg.Probes, 0.1
	}
	if b.cfg.SlowStart <= 0 || b.rampFrom.IsZero() {
		return true, 1
	}
	elapsed := b.now().Sub(b.rampFrom)
	if elapsed >= b.cfg.SlowStart {
		return true, 1
	}
	return true, 0.1 + 0.9*float64(elapsed)/float64(b.cfg.SlowStart)
}

// cancelProbe returns a probe slot that was not used.
func (b *breaker) cancelProbe() {
	b.mu.Lock()
	if b.state == BreakerHalfOpen && b.probes > 0 {
		b.probes--
	}
	b.mu.Unlock()
}

// record counts one outcome.
func (b *breaker) record(success, probe bool) { b.recordAt(success, probe, b.now()) }

// recordAt is record with the time of the outcome, read by the caller.
func (b *breaker) recordAt(success, probe bool, now time.Time) {
	b.mu.Lock()
	var change func()
	defer func() {
		b.mu.Unlock()
		if change != nil {
			change()
		}
	}()
	bk := &b.buckets[b.bucketIndex(now)]
	if success {
		bk.ok++
		b.consecutive = 0
	} else {
		bk.fail++
		b.consecutive++
	}
	switch b.state {
	case BreakerClosed:
		if !success && b.tripped(now) {
			change = b.set(BreakerOpen)
		}
	case BreakerHalfOpen:
		if probe && b.probes > 0 {
			b.probes--
		}
		if !success {
			change = b.set(BreakerOpen)
			return
		}
		b.probeOK++
		if b.probeOK >= b.cfg.Probes {
			change = b.set(BreakerClosed)
		}
	}
}

// tripped reports whether the failures seen call for opening. Called with
// mu held.
func (b *breaker) tripped(now time.Time) bool {
	if b.consecutive >= b.cfg.Failures {
		return true
	}
	ok, fail := b.windowCounts(now)
	return ok+fail >= b.cfg.MinRequests && float64(fail) >= b.cfg.ErrorRate*float64(ok+fail)
}

// windowCounts sums the outcomes of the buckets within Window of now.
// Called with mu held.
func (b *breaker) windowCounts(now time.Time) (ok, fail int) {
	horizon := now.Add(-b.cfg.Window).UnixNano()
	for i := range b.buckets {
		if b.buckets[i].start > horizon {
			ok += b.buckets[i].ok
			fail += b.buckets[i].fail
		}
	}
	return ok, fail
}

// bucketIndex returns the bucket for now, clearing it if it held an older
// span. Called with mu held.
func (b *breaker) bucketIndex(now time.Time) int {
	span := int64(b.cfg.Window) / breakerBuckets
	if span <= 0 {
		span = 1
	}
	n := now.UnixNano() / span
	i := int(n % breakerBuckets)
	if start := n * span; b.buckets[i].start != start {
		b.buckets[i] = bucket{start: start}
	}
	return i
}

// set moves to state s and resets what the new state counts. Called with
// mu held; the returned function, if any, reports the change and must be
// called after mu is released.
func (b *breaker) set(s BreakerState) func() {
	from := b.state
	if from == s {
		return nil
	}
	b.state = s
	b.since = b.now()
	b.probes, b.probeOK, b.consecutive = 0, 0, 0
	if s == BreakerClosed {
		// A fresh start: old failures must not reopen it at once.
		b.buckets = [breakerBuckets]bucket{}
		b.rampFrom = b.since
	}
	if b.onChange == nil {
		return nil
	}
	return func() { b.onChange(from, s) }
}

// State returns the breaker's state.
func (b *breaker) State() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

// successRatio is the share of successes among the outcomes in the window,
// 1 until MinRequests were seen.
func (b *breaker) successRatio() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	ok, fail := b.windowCounts(b.now())
	if ok+fail < b.cfg.MinRequests {
		return 1
	}
	return float64(ok) / float64(ok+fail)
}
