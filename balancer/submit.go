package balancer

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
)

// submission is one Request on its way through the group.
type submission struct {
	g        *Group
	req      Request
	done     func(Result)
	tried    uint64 // members tried, by index
	attempts int
	last     Result
	// queued is when the message last entered the group's queue.
	queued   time.Time
	finished atomic.Bool
}

func (s *submission) finish(r Result) {
	if notSent(r.Err) {
		// The message never left: as if no member had been there.
		r.Err = ErrNoMember
	}
	if s.finished.CompareAndSwap(false, true) {
		r.Attempts = s.attempts
		s.done(r)
	}
}

// try sends the message to the first member in policy order, other than
// those tried and those in skip, that has room now. It reports whether one
// took it.
func (s *submission) try(skip uint64) bool {
	var buf [maxMembers]int
	for _, i := range s.g.order(buf[:0], s.tried|skip, s.req.Sticky) {
		if s.send(s.g.members[i], expired) {
			return true
		}
	}
	return false
}

// send hands the message to m, waiting for room until ctx is done.
func (s *submission) send(m *member, ctx context.Context) bool {
	ok, probe := m.br.allow()
	if !ok {
		return false
	}
	raw := s.req.Raw
	if s.attempts > 0 {
		// An earlier attempt's bytes may still sit in a dead
		// connection's queue: never reuse them.
		raw = pdu.Resend(raw, 0)
	}
	// Counted before sending: the callback may run before Submit returns.
	s.attempts++
	s.tried |= 1 << m.index
	start := s.g.now()
	err := m.Submit(ctx, raw, func(f pdu.Frame, err error) { s.settle(m, probe, start, f, err) })
	if err != nil {
		s.attempts--
		s.tried &^= 1 << m.index
		if probe {
			m.br.cancelProbe()
		}
		return false
	}
	return true
}

// settle takes a member's answer: finish, or fail over.
func (s *submission) settle(m *member, probe bool, start time.Time, f pdu.Frame, err error) {
	g := s.g
	s.last = Result{Member: m.Name(), Resp: f, Err: err}
	now := g.frameTime(f)
	if err != nil {
		m.br.recordAt(false, probe, now)
		switch {
		case notSent(err):
			// Queued on a connection that closed before writing it.
			s.again(m, FailoverNotSent)
		case g.cfg.ResubmitUnknown:
			s.failover(m, FailoverUnknownOutcome)
		default:
			s.finish(s.last)
		}
		return
	}
	st := f.Status
	if f.ID == pdu.GenericNack && st == pdu.StatusOK {
		st = pdu.StatusSysErr
	}
	if Throttled(st) {
		if probe {
			m.br.cancelProbe()
		}
		s.again(m, FailoverThrottled)
		return
	}
	if st == pdu.StatusOK {
		m.br.recordAt(true, probe, now)
		m.observeLatency(now.Sub(start))
		if s.req.Sticky != "" {
			g.stick(s.req.Sticky, m.index)
		}
		s.finish(s.last)
		return
	}
	m.br.recordAt(!slices.Contains(g.cfg.FailureStatuses, st), probe, now)
	if slices.Contains(g.cfg.RetryOn, st) {
		s.failover(m, FailoverStatus)
		return
	}
	s.finish(s.last)
}

// frameTime returns when f was read, when the group runs on the real
// clock and f was read from a connection; the time now otherwise.
func (g *Group) frameTime(f pdu.Frame) time.Time {
	if g.frameClock && !f.At.IsZero() {
		return f.At
	}
	return g.now()
}

// failover tries the message on another member when attempts and time
// remain and another member exists; otherwise the last answer stands.
func (s *submission) failover(from *member, reason string) {
	g := s.g
	if s.attempts >= g.cfg.MaxAttempts || !g.now().Before(s.req.Deadline) {
		s.finish(s.last)
		return
	}
	var buf [maxMembers]candidate
	if len(g.candidates(buf[:0], s.tried)) == 0 {
		s.finish(s.last)
		return
	}
	if g.cfg.OnFailover != nil {
		g.cfg.OnFailover(from.Name(), reason)
	}
	if s.try(0) {
		return
	}
	// Every other member is full: wait for room off this goroutine,
	// which is a connection's reader.
	g.enqueue(s)
}

// again sends anew a message the member from certainly did not take: it
// answered with a throttling status, and its pace has slowed, or the
// message was queued on a connection that closed before writing it. Such
// an attempt does not count. The message goes to whichever member has
// room first, from included, within the message's deadline: another
// member with room takes it at once; failing that, it waits in the queue.
func (s *submission) again(from *member, reason string) {
	g := s.g
	s.attempts--
	bit := uint64(1) << from.index
	s.tried &^= bit
	if !g.now().Before(s.req.Deadline) {
		s.finish(s.last)
		return
	}
	if g.cfg.OnFailover != nil {
		g.cfg.OnFailover(from.Name(), reason)
	}
	if s.try(bit) {
		return
	}
	g.enqueue(s)
}

// notSent reports whether err says a member never sent the message: an
// error with a NotSent method reporting true, such as the one package
// smppconn gives requests a closing connection never wrote.
func notSent(err error) bool {
	if err == nil {
		// Most answers: errors.As would allocate its target first.
		return false
	}
	var ns interface{ NotSent() bool }
	return errors.As(err, &ns) && ns.NotSent()
}

// waiter serves queued messages in order: each waits for a member with
// room, or for one to come back, until its deadline.
func (g *Group) waiter() {
	for {
		select {
		case <-g.stop:
			return
		case s := <-g.waitq:
			g.serve(s)
			g.queued.Add(-1)
		}
	}
}

// pollInterval is how often a queued message looks again for a member when
// none is available; member health is not pushed to the group.
const pollInterval = 10 * time.Millisecond

func (g *Group) serve(s *submission) {
	deadline := s.req.Deadline
	if d := s.queued.Add(g.cfg.QueueTimeout); d.Before(deadline) {
		deadline = d
	}
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		if s.try(0) {
			return
		}
		var buf [maxMembers]int
		if order := g.order(buf[:0], s.tried, s.req.Sticky); len(order) > 0 {
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			ok := s.send(g.members[order[0]], ctx)
			cancel()
			if ok {
				return
			}
		}
		wait := deadline.Sub(g.now())
		if wait <= 0 {
			if s.attempts > 0 {
				s.finish(s.last)
			} else {
				s.finish(Result{Err: ErrNoMember})
			}
			return
		}
		t.Reset(min(wait, pollInterval))
		select {
		case <-g.stop:
			s.finish(Result{Err: ErrStopped})
			return
		case <-t.C:
		}
	}
}

func (m *member) observeLatency(d time.Duration) {
	for {
		old := m.latency.Load()
		nv := int64(d)
		if old > 0 {
			nv = int64(0.9*float64(old) + 0.1*float64(d))
		}
		if m.latency.CompareAndSwap(old, nv) {
			return
		}
	}
}
