package forward

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/smppmux/smppmux/balancer"
	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/defaults"
	"github.com/smppmux/smppmux/internal/pdu"
)

// Outcome is how a queued message ended.
type Outcome int

// Outcomes of a queued message.
const (
	// Sent: an SMSC answered ESME_ROK.
	Sent Outcome = iota
	// Rejected: an SMSC answered a permanent error status.
	Rejected
	// Unknown: sent, then no answer (timeout, lost bind), or taken by a
	// process that ended: the SMSC may have it. Never sent again.
	Unknown
	// Expired: its validity_period or the queue's max_age passed before
	// it was sent. Never sent.
	Expired
	// Cancelled is not an outcome a Drainer gives: the client cancelled
	// the message before it was taken (for counters).
	Cancelled
)

// Outcomes lists the outcomes in the order of their values.
var outcomeNames = [...]string{"sent", "rejected", "unknown", "expired", "cancelled"}

func (o Outcome) String() string { return outcomeNames[o] }

// Defaults of Config.
const (
	DefaultInFlight   = 100
	DefaultBackoffMin = 100 * time.Millisecond
	DefaultBackoffMax = 5 * time.Second
	// expireEvery is how often the queue is searched for messages
	// expired wherever they stand.
	expireEvery = time.Second
	// expireBatch bounds the messages expired at a time.
	expireBatch = 1024
)

// refillAt is how much room makes a drainer with messages in flight take
// more: an eighth of its bound.
func refillAt(inflight int) int { return max(1, inflight/8) }

// Config holds a Drainer's settings.
type Config struct {
	// Group is the name of the group whose queue is drained.
	Group string
	Store dlr.QueueStore
	// Submit sends a request through the group: balancer.Group.Submit.
	Submit func(req balancer.Request, done func(balancer.Result))
	// Available reports whether the group has a member that can send
	// now; while it has none nothing is taken, and the drainer looks again
	// after a backoff. Nil: always.
	Available func() bool
	// InFlight bounds the messages sent and not answered: about the sum
	// of the members' windows. DefaultInFlight.
	InFlight int
	// RetryOn are the statuses that say the SMSC did not take the message
	// and will later (throttled, queue full): it is put back and tried
	// again. Any other error status rejects it.
	RetryOn []pdu.Status
	// Timeout is how long each send may wait for a member with room,
	// failovers included; 0: the group's queue_timeout.
	Timeout time.Duration
	// BackoffMin and BackoffMax bound the pause after a message could not
	// be sent (no member, throttled); DefaultBackoffMin, DefaultBackoffMax.
	BackoffMin, BackoffMax time.Duration
	// Settle is told each message's outcome, with the group's result for
	// Sent and Rejected; it does what the outcome leads to (the mapping
	// written, the receipt queued) and removes the message from the queue
	// in the same durable write (dlr.QueueStore.SettleSent,
	// dlr.Item.Settles), or after it when there is nothing to write, then
	// calls done with the error of the removal. It must not block.
	Settle func(m *dlr.Queued, o Outcome, res balancer.Result, done func(error))
	// OrphansEvery, when positive, is how often Run looks again for the
	// messages of the group taken by a process that ended, and settles
	// them as Unknown, as Orphans does before Run: with a store several
	// instances share, one may end and never start again. It is checked
	// with the expiry of the queue, every second at most. Zero: only
	// Orphans, once.
	OrphansEvery time.Duration
	// OnSettled, when set, is called each time a message left the queue.
	OnSettled func()
	// Now reads the clock; time.Now when nil.
	Now    func() time.Time
	Logger *zap.Logger
}

// Drainer drains one group's queue.
type Drainer struct {
	cfg  Config
	log  *zap.Logger
	wake chan struct{}
	// inflight counts the messages handed to Submit or Settle and not yet
	// settled in the store or put back.
	inflight atomic.Int64
	idle     chan struct{} // signalled when inflight drops
	// stopped is set once Run has returned: the messages the group
	// could not send are put back as their answers come.
	stopped  atomic.Bool
	mu       sync.Mutex
	retry    []*dlr.Queued // to put back, answered by the group
	backoff  time.Duration
	pauseTil time.Time
}

// New returns a Drainer; Run runs it.
func New(cfg Config) *Drainer {
	defaults.Positive(&cfg.InFlight, DefaultInFlight)
	defaults.Positive(&cfg.BackoffMin, DefaultBackoffMin)
	defaults.Positive(&cfg.BackoffMax, DefaultBackoffMax)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return &Drainer{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1), idle: make(chan struct{}, 1)}
}

// Notify tells the drainer a message was queued.
func (d *Drainer) Notify() { signal(d.wake) }

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// InFlight returns how many messages are being sent or settled.
func (d *Drainer) InFlight() int { return int(d.inflight.Load()) }

// Orphans settles as Unknown the messages of the group a process that
// ended had taken; call it once per group and process, before Run (Run
// calls it again every OrphansEvery).
func (d *Drainer) Orphans() error {
	ms, err := d.cfg.Store.Orphans(d.cfg.Group)
	if err != nil {
		return err
	}
	if len(ms) > 0 {
		d.log.Warn("messages taken from the queue by a process that ended: their outcome is unknown, they are not sent again",
			zap.String("group", d.cfg.Group), zap.Int("count", len(ms)))
	}
	for _, m := range ms {
		d.settle(m, Unknown, balancer.Result{})
	}
	return nil
}

// Run drains the queue until ctx is done. Messages being sent then are
// settled or put back as their answers come (Wait waits for them).
func (d *Drainer) Run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	defer func() {
		d.stopped.Store(true)
		d.putBack()
	}()
	nextExpiry := d.cfg.Now()
	nextOrphans := nextExpiry.Add(d.cfg.OrphansEvery)
	for {
		d.putBack()
		now := d.cfg.Now()
		if !now.Before(nextExpiry) {
			d.expire(now)
			if d.cfg.OrphansEvery > 0 && !now.Before(nextOrphans) {
				if err := d.Orphans(); err != nil {
					d.log.Warn("looking for the messages a process that ended had taken failed", zap.String("group", d.cfg.Group), zap.Error(err))
				}
				nextOrphans = now.Add(d.cfg.OrphansEvery)
			}
			nextExpiry = now.Add(expireEvery)
		}
		if d.paused(now) <= 0 {
			// Filled or not, the next turn comes with a message queued or
			// answered.
			d.fill(now)
		}
		wait := nextExpiry.Sub(now)
		if p := d.paused(now); p > 0 {
			wait = min(wait, p)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-d.idle:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// Wait returns once no message is being sent or settled, or when ctx is
// done.
func (d *Drainer) Wait(ctx context.Context) error {
	for {
		d.putBack()
		if d.inflight.Load() == 0 {
			return nil
		}
		select {
		case <-d.idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// paused returns how long sending stays paused after a failure.
func (d *Drainer) paused(now time.Time) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pauseTil.Sub(now)
}

// fill takes as many messages as there is room for and sends them.
func (d *Drainer) fill(now time.Time) {
	inflight := int(d.inflight.Load())
	room := d.cfg.InFlight - inflight
	if room <= 0 || inflight > 0 && room < refillAt(d.cfg.InFlight) {
		// Taking a few at a time costs a synced write each.
		return
	}
	if d.cfg.Available != nil && !d.cfg.Available() {
		d.fail(now)
		return
	}
	ms, err := d.cfg.Store.Take(d.cfg.Group, room)
	if err != nil {
		d.log.Warn("taking messages from the queue failed", zap.String("group", d.cfg.Group), zap.Error(err))
		d.fail(now)
		return
	}
	for _, m := range ms {
		if expired(m, now) {
			d.settle(m, Expired, balancer.Result{})
			continue
		}
		d.send(m)
	}
}

func expired(m *dlr.Queued, now time.Time) bool {
	return !m.Expires.IsZero() && !m.Expires.After(now)
}

// expire settles the messages expired wherever they stand in the queue.
func (d *Drainer) expire(now time.Time) {
	ms, err := d.cfg.Store.TakeExpired(d.cfg.Group, now, expireBatch)
	if err != nil {
		d.log.Warn("taking expired messages from the queue failed", zap.String("group", d.cfg.Group), zap.Error(err))
		return
	}
	for _, m := range ms {
		d.settle(m, Expired, balancer.Result{})
	}
}

// send hands m, taken, to the group.
func (d *Drainer) send(m *dlr.Queued) {
	d.inflight.Add(1)
	raw := slices.Clone(m.Raw) // the bind numbers it in place
	req := balancer.Request{Raw: raw, InOrder: true}
	if d.cfg.Timeout > 0 {
		req.Deadline = d.cfg.Now().Add(d.cfg.Timeout)
	}
	d.cfg.Submit(req, func(res balancer.Result) { d.answered(m, res) })
}

// answered sorts the group's result for m.
func (d *Drainer) answered(m *dlr.Queued, res balancer.Result) {
	switch {
	case errors.Is(res.Err, balancer.ErrNoMember), errors.Is(res.Err, balancer.ErrStopped):
		d.again(m)
		return
	case res.Err != nil:
		d.log.Warn("queued message sent, outcome unknown: not sent again", zap.String("group", d.cfg.Group),
			zap.String("upstream", res.Member), zap.String("system_id", m.SystemID), zap.String("client_id", m.ClientID), zap.Error(res.Err))
		d.settleSent(m, Unknown, res)
		return
	}
	st := res.Resp.Status
	if res.Resp.ID == pdu.GenericNack && st == pdu.StatusOK {
		st = pdu.StatusSysErr
	}
	switch {
	case st == pdu.StatusOK:
		d.mu.Lock()
		d.backoff = 0
		d.mu.Unlock()
		d.settleSent(m, Sent, res)
	case slices.Contains(d.cfg.RetryOn, st) || st == pdu.StatusThrottled || st == pdu.StatusMsgQFul:
		d.again(m)
	default:
		d.settleSent(m, Rejected, res)
	}
}

// again puts m back in the queue for a later try, and pauses sending.
func (d *Drainer) again(m *dlr.Queued) {
	d.mu.Lock()
	d.retry = append(d.retry, m)
	d.mu.Unlock()
	if d.stopped.Load() {
		d.putBack()
		return
	}
	d.fail(d.cfg.Now())
	signal(d.wake)
}

// putBack puts the messages the group could not send back in the queue.
// On the drainer's goroutine: the store's PutBack may wait for a disk.
func (d *Drainer) putBack() {
	d.mu.Lock()
	ms := d.retry
	d.retry = nil
	d.mu.Unlock()
	if len(ms) == 0 {
		return
	}
	if err := d.cfg.Store.PutBack(ms); err != nil {
		d.log.Error("putting messages back in the queue failed: they stay taken, and become UNKNOWN receipts at the next start",
			zap.String("group", d.cfg.Group), zap.Int("count", len(ms)), zap.Error(err))
	}
	d.done(len(ms))
}

// fail doubles the pause, BackoffMin to BackoffMax.
func (d *Drainer) fail(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.backoff = min(max(2*d.backoff, d.cfg.BackoffMin), d.cfg.BackoffMax)
	d.pauseTil = now.Add(d.backoff)
}

// settle settles m, which was not in flight, with outcome o.
func (d *Drainer) settle(m *dlr.Queued, o Outcome, res balancer.Result) {
	d.inflight.Add(1)
	d.settleSent(m, o, res)
}

// settleSent hands m's outcome to Settle, which removes m from the queue.
func (d *Drainer) settleSent(m *dlr.Queued, o Outcome, res balancer.Result) {
	d.cfg.Settle(m, o, res, func(err error) {
		if err != nil {
			d.log.Error("removing a message from the queue failed: it stays taken, and becomes an UNKNOWN receipt at the next start",
				zap.String("group", d.cfg.Group), zap.String("system_id", m.SystemID), zap.String("client_id", m.ClientID), zap.Error(err))
		}
		d.done(1)
		if d.cfg.OnSettled != nil {
			d.cfg.OnSettled()
		}
	})
}

func (d *Drainer) done(n int) {
	d.inflight.Add(-int64(n))
	signal(d.idle)
}
