package balancer

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smppmux/smppmux/internal/defaults"
	"github.com/smppmux/smppmux/internal/pdu"
)

// DefaultRetryOn are the response statuses that say an SMSC did not take a
// message, so another member may: ESME_RTHROTTLED, ESME_RMSGQFUL,
// ESME_RSYSERR.
var DefaultRetryOn = []pdu.Status{pdu.StatusThrottled, pdu.StatusMsgQFul, pdu.StatusSysErr}

// Defaults of GroupConfig, taken where a field is zero. The
// configuration's defaults refer to them.
const (
	DefaultMode         = ActiveActive
	DefaultMaxAttempts  = 3
	DefaultQueueTimeout = 5 * time.Second
	DefaultStickyTTL    = 10 * time.Minute
)

// GroupConfig describes a group. Zero values take the defaults shown.
type GroupConfig struct {
	Name    string
	Mode    Mode // ActiveActive
	Members []Weighted
	// RetryOn lists the statuses after which the message is tried on the
	// next member; DefaultRetryOn.
	RetryOn []pdu.Status
	// FailureStatuses lists the statuses the circuit breaker counts as a
	// member's failure; RetryOn. Timeouts and lost connections always
	// count; the throttling statuses never do (see Throttled).
	FailureStatuses []pdu.Status
	// MaxAttempts bounds the members one message is tried on; 3.
	MaxAttempts int
	// QueueTimeout is how long a message may wait in the group's queue
	// for a member with room before it is refused, within its Deadline;
	// 5s.
	QueueTimeout time.Duration
	// ResubmitUnknown sends a message again on the next member when the
	// first one may or may not have taken it (timeout, connection lost
	// after writing). Off: duplicates are worse than an error.
	ResubmitUnknown bool
	Breaker         BreakerConfig
	// StickyTTL is how long the parts of a concatenated message stick to
	// the member that took the first; 10m.
	StickyTTL time.Duration
	// Now is the clock; time.Now.
	Now func() time.Time
	// OnFailover is called when a message moves to another member.
	OnFailover func(from, reason string)
	// OnBreaker is called when a member's breaker changes state.
	OnBreaker func(member string, from, to BreakerState)
}

// Throttled reports whether st is an SMSC's throttling answer,
// ESME_RTHROTTLED or ESME_RMSGQFUL: the message was certainly not taken
// and the member is not at fault, only asking for a slower pace. Such a
// message goes again, to the same member once its pace allows or to
// another with room, within the message's deadline; it never counts
// against the member's breaker or against MaxAttempts.
func Throttled(st pdu.Status) bool {
	return st == pdu.StatusThrottled || st == pdu.StatusMsgQFul
}

// Request is one message for a group.
type Request struct {
	// Raw is the PDU to send. It must belong to the group until done is
	// called: its sequence number is overwritten.
	Raw []byte
	// Sticky, when set, keeps every message with the same key on one
	// member: the parts of a concatenated message.
	Sticky string
	// Deadline bounds waiting and failovers. Zero: QueueTimeout from now.
	Deadline time.Time
	// InOrder keeps the message behind those waiting in the group's
	// queue, even when a member has room for it now: a store-and-forward
	// drain, whose messages a throttling member sends back to wait for
	// its pace, keeps its order so.
	InOrder bool
}

// Result is how a Request ended.
type Result struct {
	// Member is the name of the member that answered last, "" when none
	// was tried.
	Member string
	// Resp is that member's response, when Err is nil.
	Resp pdu.Frame
	// Err is ErrNoMember or ErrStopped when the message was never sent,
	// or the error from package smppconn of a member that took it and
	// then gave no answer: the outcome is unknown.
	Err error
	// Attempts is how many members were tried.
	Attempts int
}

// Group is a connection group: members, a policy, health and failover.
type Group struct {
	cfg     GroupConfig
	members []*member
	now     func() time.Time
	// frameClock says now is the real clock: an answer's time is then
	// when its frame was read (pdu.Frame.At), with no clock read of its
	// own.
	frameClock bool

	mu      sync.Mutex // guards current and sticky
	current []float64  // smooth weighted round robin state
	sticky  map[string]stickyEntry

	waitMu  sync.Mutex
	waitq   chan *submission
	stop    chan struct{}
	stopped bool
	waiting bool // the waiter goroutine runs
	// queued counts the messages in waitq or being served by the waiter.
	queued atomic.Int64
	wg     sync.WaitGroup
}

type stickyEntry struct {
	index   int
	expires time.Time
}

// member is one Member with the group's view of it.
type member struct {
	Member
	index    int
	weight   atomic.Int64
	br       *breaker
	latency  atomic.Int64 // EWMA of response latency, nanoseconds; 0 unknown
	delivery atomic.Int64 // EWMA of delivered finals, in millionths; starts at 1e6
}

const maxMembers = 64

// WithDefaults returns cfg with the defaults in place of its zero values:
// the settings NewGroup runs a group with. Its Breaker's defaults are
// BreakerConfig.WithDefaults.
func (cfg GroupConfig) WithDefaults() GroupConfig {
	if cfg.Mode == "" {
		cfg.Mode = DefaultMode
	}
	if cfg.RetryOn == nil {
		cfg.RetryOn = DefaultRetryOn
	}
	if cfg.FailureStatuses == nil {
		cfg.FailureStatuses = cfg.RetryOn
	}
	cfg.FailureStatuses = slices.DeleteFunc(slices.Clone(cfg.FailureStatuses), Throttled)
	defaults.Positive(&cfg.MaxAttempts, DefaultMaxAttempts)
	defaults.Positive(&cfg.QueueTimeout, DefaultQueueTimeout)
	defaults.Positive(&cfg.StickyTTL, DefaultStickyTTL)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg
}

// NewGroup returns a group. At most 64 members are used.
func NewGroup(cfg GroupConfig) *Group {
	frameClock := cfg.Now == nil
	cfg = cfg.WithDefaults()
	if len(cfg.Members) > maxMembers {
		cfg.Members = cfg.Members[:maxMembers]
	}
	g := &Group{
		cfg:        cfg,
		now:        cfg.Now,
		frameClock: frameClock,
		current:    make([]float64, len(cfg.Members)),
		sticky:     make(map[string]stickyEntry),
		waitq:      make(chan *submission, 4096),
		stop:       make(chan struct{}),
	}
	for i, w := range cfg.Members {
		m := &member{Member: w.Member, index: i}
		m.weight.Store(int64(w.Weight))
		m.delivery.Store(1e6)
		name := w.Member.Name()
		m.br = newBreaker(cfg.Breaker, cfg.Now, func(from, to BreakerState) {
			if cfg.OnBreaker != nil {
				cfg.OnBreaker(name, from, to)
			}
		})
		g.members = append(g.members, m)
	}
	return g
}

// Name returns the group's name.
func (g *Group) Name() string { return g.cfg.Name }

// Mode returns the group's policy.
func (g *Group) Mode() Mode { return g.cfg.Mode }

// SetWeight changes a member's weight; 0 drains it. It reports whether
// the member exists.
func (g *Group) SetWeight(name string, weight int) bool {
	for _, m := range g.members {
		if m.Name() == name {
			m.weight.Store(int64(max(weight, 0)))
			return true
		}
	}
	return false
}

// MemberStatus is a member as the group sees it.
type MemberStatus struct {
	Name   string
	Weight int
	// Healthy says the member can send (it is bound) and its breaker lets
	// traffic through; a drained member may be healthy.
	Healthy         bool
	Breaker         BreakerState
	EffectiveWeight float64
}

// Status reports every member.
func (g *Group) Status() []MemberStatus {
	out := make([]MemberStatus, len(g.members))
	minLat := g.minLatency()
	for i, m := range g.members {
		w, allowed := g.effectiveWeight(m, minLat)
		out[i] = MemberStatus{
			Name:            m.Name(),
			Weight:          int(m.weight.Load()),
			Healthy:         allowed && m.Healthy(),
			Breaker:         m.br.State(),
			EffectiveWeight: w,
		}
	}
	return out
}

// Available reports whether some member could take a message now.
func (g *Group) Available() bool {
	var buf [maxMembers]candidate
	return len(g.candidates(buf[:0], 0)) > 0
}

// RecordReceipt feeds the delivered-receipt ratio of the adaptive policy:
// delivered is whether a final receipt from member said DELIVRD.
func (g *Group) RecordReceipt(memberName string, delivered bool) {
	for _, m := range g.members {
		if m.Name() != memberName {
			continue
		}
		v := 0.0
		if delivered {
			v = 1e6
		}
		for {
			old := m.delivery.Load()
			nv := int64(0.95*float64(old) + 0.05*v)
			if m.delivery.CompareAndSwap(old, nv) {
				return
			}
		}
	}
}

// candidates appends the members not in tried that may take a message
// now, with their effective weights.
func (g *Group) candidates(dst []candidate, tried uint64) []candidate {
	minLat := g.minLatency()
	for _, m := range g.members {
		if tried&(1<<m.index) != 0 || !m.Healthy() {
			continue
		}
		if w, ok := g.effectiveWeight(m, minLat); ok && w > 0 {
			dst = append(dst, candidate{index: m.index, weight: w})
		}
	}
	return dst
}

// effectiveWeight is the configured weight scaled by the breaker's ramp
// and, for the adaptive policy, by measured quality; ok is false while the
// breaker keeps the member out.
func (g *Group) effectiveWeight(m *member, minLat int64) (w float64, ok bool) {
	ok, factor := m.br.view()
	w = float64(m.weight.Load()) * factor
	if w <= 0 || g.cfg.Mode != Adaptive {
		return w, ok
	}
	q := m.br.successRatio() * float64(m.delivery.Load()) / 1e6
	if lat := m.latency.Load(); lat > 0 && minLat > 0 {
		q *= float64(minLat) / float64(lat)
	}
	// A floor keeps every member probed, so it can earn its weight back.
	return w * max(q, 0.05), ok
}

func (g *Group) minLatency() int64 {
	if g.cfg.Mode != Adaptive {
		return 0
	}
	var lowest int64
	for _, m := range g.members {
		if l := m.latency.Load(); l > 0 && (lowest == 0 || l < lowest) {
			lowest = l
		}
	}
	return lowest
}

// order appends the indexes of the members to try, best first.
func (g *Group) order(dst []int, tried uint64, sticky string) []int {
	var buf [maxMembers]candidate
	cands := g.candidates(buf[:0], tried)
	if len(cands) == 0 {
		return dst
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if sticky != "" {
		if e, ok := g.sticky[sticky]; ok && e.expires.After(g.now()) {
			if k := slices.IndexFunc(cands, func(c candidate) bool { return c.index == e.index }); k >= 0 {
				dst = append(dst, e.index)
				cands = slices.Delete(cands, k, k+1)
			}
		}
	}
	if g.cfg.Mode == ActiveStandby {
		return orderPriority(dst, cands)
	}
	return orderWeighted(dst, cands, g.current)
}

// stick records that the message with key went to member index.
func (g *Group) stick(key string, index int) {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.sticky) >= 100_000 {
		for k, e := range g.sticky {
			if !e.expires.After(now) {
				delete(g.sticky, k)
			}
		}
	}
	if e, ok := g.sticky[key]; ok && e.index == index && e.expires.After(now) {
		return
	}
	g.sticky[key] = stickyEntry{index: index, expires: now.Add(g.cfg.StickyTTL)}
}

// Submit sends req through the group and calls done once with the
// outcome. It never blocks: a message that finds no member with room waits
// in the group's queue, served by the group's own goroutine.
func (g *Group) Submit(req Request, done func(Result)) {
	if req.Deadline.IsZero() {
		req.Deadline = g.now().Add(g.cfg.QueueTimeout)
	}
	s := &submission{g: g, req: req, done: done}
	if (!req.InOrder || g.queued.Load() == 0) && s.try(0) {
		return
	}
	g.enqueue(s)
}

// Stop ends the group's goroutine; queued messages end with ErrStopped.
func (g *Group) Stop() {
	g.waitMu.Lock()
	if !g.stopped {
		g.stopped = true
		close(g.stop)
	}
	g.waitMu.Unlock()
	g.wg.Wait()
	for {
		select {
		case s := <-g.waitq:
			s.finish(Result{Err: ErrStopped})
		default:
			return
		}
	}
}

func (g *Group) enqueue(s *submission) {
	s.queued = g.now()
	g.waitMu.Lock()
	defer g.waitMu.Unlock()
	if g.stopped {
		s.finish(Result{Err: ErrStopped})
		return
	}
	g.queued.Add(1)
	select {
	case g.waitq <- s:
	default:
		g.queued.Add(-1)
		s.finish(Result{Err: ErrNoMember, Attempts: s.attempts})
		return
	}
	if !g.waiting {
		g.waiting = true
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			g.waiter()
		}()
	}
}
