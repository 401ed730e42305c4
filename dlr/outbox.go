package dlr

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/smppmux/smppmux/internal/defaults"
	"github.com/smppmux/smppmux/internal/holdq"
	"github.com/smppmux/smppmux/internal/pdu"
)

// ErrOutboxFull means a client's outbox holds as many items as allowed.
var ErrOutboxFull = errors.New("dlr: outbox full")

// Receiver is a bound client session that can take deliver_sm or data_sm.
type Receiver interface {
	ID() uint64
	// Deliver sends b, whose sequence number it overwrites, and calls
	// done once with the response. An error means b was not sent.
	Deliver(b []byte, done func(pdu.Frame, error)) error
	// DeliverWindowFree says how many more deliveries it can take now.
	DeliverWindowFree() int
}

// Item is one PDU waiting in an outbox: a receipt or an MO message.
type Item struct {
	Raw    []byte // the PDU to deliver; its sequence number is set on sending
	Origin uint64 // the session to try first, 0 for any
	// Seq numbers the item in its store, in order of arrival.
	Seq uint64
	// At is when the item arrived; set by Enqueue when zero.
	At time.Time
	// Attempts counts failed deliveries so far, refused or unanswered;
	// Refusals those the client answered with an error status, the last
	// of which is LastStatus.
	Attempts   int
	Refusals   int
	LastStatus pdu.Status
	// Mark, for a receipt, is written with the item, in the same
	// durable write, so that the carrier sending it again is recognised.
	Mark *Mark
	// Settles, for a receipt smppmux made for a queued message (expired,
	// rejected, unknown), is that message: a store that keeps queues
	// (QueueStore) removes it from its queue in the item's durable write,
	// so that a process that ends in between does not make the next
	// start send a second receipt for it. Only AddOutbox reads it.
	Settles   *Queued
	notBefore time.Time
}

// OutboxConfig holds an Outbox's settings.
type OutboxConfig struct {
	// Store numbers the items and keeps them durably, with the dead
	// letters; it is required (a memstore.Store keeps them in memory
	// only).
	Store OutboxStore
	// Receivers returns the sessions of systemID that can take deliveries.
	Receivers func(systemID string) []Receiver
	// MaxItems bounds each client's outbox; 0 means 1,000,000.
	MaxItems int
	// MaxAge drops an item not delivered within it; 0 means 72h.
	MaxAge time.Duration
	// OnExpired is called for each item dropped for its age.
	OnExpired func(systemID string, it *Item)
	// RetryMin and RetryMax bound the backoff after a refused or
	// unanswered delivery; 1s and 60s.
	RetryMin, RetryMax time.Duration
	// MaxAttempts is how many refusals make an item a dead letter; 0
	// means 10. Deliveries without an answer do not count.
	MaxAttempts int
	// DeadLetterStatuses are the statuses that make an item a dead letter
	// at the first refusal; nil means ESME_RX_P_APPN and ESME_RX_R_APPN,
	// empty none.
	DeadLetterStatuses []pdu.Status
	Logger             *zap.Logger
	// OnDelivered is called when the client accepted an item.
	OnDelivered func(systemID string, it *Item)
	// OnRetry is called for each failed delivery to be tried again.
	OnRetry func(systemID string, it *Item)
	// OnDeadLetter is called for each item made a dead letter.
	OnDeadLetter func(systemID string, d *DeadLetter)
	// OnPanic is called when a Receiver's Deliver panicked (the panic is
	// recovered and logged, the item put back): it closes that session.
	OnPanic func(r Receiver, err error)
}

// Defaults of OutboxConfig, taken where a field is zero. The
// configuration's defaults refer to them.
const (
	DefaultOutboxMaxItems = 1_000_000
	DefaultOutboxMaxAge   = 72 * time.Hour
	DefaultRetryMin       = time.Second
	DefaultRetryMax       = time.Minute
	DefaultMaxAttempts    = 10
)

// DefaultDeadLetterStatuses are the statuses that say a client will never
// take an item: ESME_RX_P_APPN and ESME_RX_R_APPN.
var DefaultDeadLetterStatuses = []pdu.Status{pdu.StatusXPAppn, pdu.StatusXRAppn}

// Outbox queues deliveries per client system_id until a receiving session
// accepts them with deliver_sm_resp ESME_ROK. Items go out in the order
// they were queued. An item the client refuses or does not answer is set
// aside with a retry time of its own (a backoff doubling from RetryMin to
// RetryMax) while the items behind it go on; once due it goes out before
// the items never tried. An item refused MaxAttempts times, or once with
// one of DeadLetterStatuses, leaves the outbox for the store's dead
// letters in one atomic write.
//
// With a SharedStore the items live in the store, added by any instance:
// an instance with receiving sessions of the client takes the client's
// lease, reads the items from the store in order and delivers them; the
// lease is renewed while it delivers and released when its last session
// of the client is gone, so another instance's sessions take over.
type Outbox struct {
	cfg OutboxConfig
	// keep is where the items are kept: in this process
	// (localOutbox), or in a store several instances share
	// (sharedOutbox, outbox_shared.go).
	keep   strategy
	log    *zap.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	queues map[string]*queue
	closed bool

	failures failureLog // "delivery to client failed", per client per interval

	// holds ends the holds of the items Offer sent straight, on one
	// timer.
	holds *holdq.Queue[*flight]
}

type queue struct {
	systemID string
	items    []*Item   // never tried or never failed, waiting, in order
	aside    asideHeap // failed once or more, by retry time
	inflight int
	storing  int // being written to the store
	wake     chan struct{}
	rr       int

	// dirty says the store may hold items not read yet: an item was
	// added, by any instance, since the last read that reached the end.
	dirty bool
	// shared is a shared outbox's state (outbox_shared.go).
	shared
}

// Shared outboxes are read this many items at a time, when fewer than
// refillBelow wait in memory.
const (
	refillBatch = 512
	refillBelow = 128
)

// NewOutbox returns an empty Outbox. It panics when cfg.Store is nil.
func NewOutbox(cfg OutboxConfig) *Outbox {
	if cfg.Store == nil {
		panic("dlr: NewOutbox without a Store")
	}
	defaults.Positive(&cfg.MaxItems, DefaultOutboxMaxItems)
	defaults.Positive(&cfg.MaxAge, DefaultOutboxMaxAge)
	defaults.Positive(&cfg.RetryMin, DefaultRetryMin)
	defaults.Positive(&cfg.RetryMax, DefaultRetryMax)
	defaults.Positive(&cfg.MaxAttempts, DefaultMaxAttempts)
	if cfg.DeadLetterStatuses == nil {
		cfg.DeadLetterStatuses = DefaultDeadLetterStatuses
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := &Outbox{cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel, queues: make(map[string]*queue)}
	o.keep = localOutbox{o}
	o.holds = holdq.New(func(d time.Duration, fn func()) holdq.Timer { return time.AfterFunc(d, fn) }, (*flight).held)
	if st, ok := cfg.Store.(SharedStore); ok {
		o.keep = &sharedOutbox{o: o, st: st}
		st.Watch(o.signal)
	}
	return o
}

// Enqueue stores it in the outbox of systemID and calls done once it is
// durable, or with ErrOutboxFull or the store's error when it is not
// taken. done may run on another goroutine.
func (o *Outbox) Enqueue(systemID string, it *Item, done func(error)) {
	o.mu.Lock()
	q, err := o.queueLocked(systemID)
	if err == nil && q.depth() >= o.cfg.MaxItems {
		err = ErrOutboxFull
	}
	if err != nil {
		o.mu.Unlock()
		done(err)
		return
	}
	q.storing++
	o.mu.Unlock()
	if it.At.IsZero() {
		it.At = time.Now()
	}
	o.cfg.Store.AddOutbox(systemID, it, func(err error) {
		o.mu.Lock()
		q.storing--
		if err == nil {
			o.keep.stored(q, it)
		}
		o.mu.Unlock()
		if err == nil {
			signal(q.wake)
		}
		done(err)
	})
}

// Restore loads the items a previous run left in the store.
func (o *Outbox) Restore() (int, error) {
	n := 0
	err := o.cfg.Store.LoadOutbox(func(systemID string, it *Item) {
		o.mu.Lock()
		q, err := o.queueLocked(systemID)
		if err == nil {
			q.insert(it)
			n++
		}
		o.mu.Unlock()
	})
	return n, err
}

// queueLocked returns systemID's queue, creating it and its dispatcher.
// Called with o.mu held.
func (o *Outbox) queueLocked(systemID string) (*queue, error) {
	if o.closed {
		return nil, context.Canceled
	}
	q := o.queues[systemID]
	if q == nil {
		q = &queue{systemID: systemID, wake: make(chan struct{}, 1)}
		o.keep.opened(q)
		o.queues[systemID] = q
		o.wg.Go(func() { o.dispatch(q) })
	}
	return q, nil
}

// insert puts it in q in Seq order: stores finish concurrent writes in any
// order, and a receipt that waited for its mapping was numbered when it
// arrived. Called with o.mu held.
func (q *queue) insert(it *Item) {
	i := len(q.items)
	for i > 0 && q.items[i-1].Seq > it.Seq {
		i--
	}
	q.items = append(q.items, nil)
	copy(q.items[i+1:], q.items[i:])
	q.items[i] = it
}

// Wake makes the outbox of systemID try delivering now, as when a session
// of it binds. With a SharedStore it starts the client's dispatcher, which
// then looks for items other instances added.
func (o *Outbox) Wake(systemID string) { o.keep.wake(systemID) }

// signal wakes systemID's dispatcher if it has one, telling it that the
// store may have new items.
func (o *Outbox) signal(systemID string) {
	o.mu.Lock()
	q := o.queues[systemID]
	if q != nil {
		q.dirty = true
	}
	o.mu.Unlock()
	if q != nil {
		signal(q.wake)
	}
}

// Depth returns how many items wait or are in flight for systemID.
func (o *Outbox) Depth(systemID string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	if q := o.queues[systemID]; q != nil {
		return q.depth()
	}
	return 0
}

// depth counts q's items: waiting, set aside, in flight or being stored.
// Called with o.mu held.
func (q *queue) depth() int { return len(q.items) + len(q.aside) + q.inflight + q.storing }

// Stat is one client's outbox at a moment.
type Stat struct {
	SystemID  string
	Depth     int           // waiting, being stored or in flight
	OldestAge time.Duration // age of the oldest waiting item, 0 when none
}

// Stats reports every client's outbox. A shared outbox is reported as the
// store holds it, whichever instance delivers it, for the clients this
// instance has seen.
func (o *Outbox) Stats() []Stat { return o.keep.stats() }

// Close stops the dispatchers and waits for them. Items still queued are
// dropped with the memory that holds them; shared outboxes' leases are
// released so that other instances take over at once, once what this
// instance delivered is removed (closeShared).
func (o *Outbox) Close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	o.cancel()
	o.wg.Wait()
	o.keep.close()
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// dispatch is the one goroutine sending q's items. With a SharedStore it
// also looks at the store now and then: to renew its lease, and for items
// whose event it missed or a lease another instance let lapse.
func (o *Outbox) dispatch(q *queue) {
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	var poll <-chan time.Time
	if every := o.keep.poll(); every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		poll = t.C
	}
	for {
		select {
		case <-o.ctx.Done():
			retry.Stop()
			return
		case <-q.wake:
		case <-retry.C:
		case <-poll:
			o.mu.Lock()
			q.dirty = true // in case an event was lost
			o.mu.Unlock()
		}
		if wait := o.send(q); wait > 0 {
			retry.Reset(wait)
		}
	}
}

// send hands out waiting items while sessions have window, and returns how
// long until the next item set aside is due, 0 when no timer is needed.
func (o *Outbox) send(q *queue) time.Duration {
	recv := o.cfg.Receivers(q.systemID)
	if ok, again := o.keep.ready(q, len(recv) > 0); !ok {
		return again
	}
	if len(recv) == 0 {
		return 0
	}
	for {
		o.mu.Lock()
		it, wait := q.next(time.Now())
		if it == nil {
			o.mu.Unlock()
			return wait
		}
		if time.Since(it.At) > o.cfg.MaxAge {
			q.take(it)
			o.mu.Unlock()
			o.expire(q.systemID, it)
			continue
		}
		r := o.pick(q, recv, it.Origin)
		if r == nil {
			// Every session's window is full; a response wakes us.
			o.mu.Unlock()
			return 0
		}
		q.take(it)
		q.inflight++
		if q.out != nil {
			q.out[it.Seq] = false
		}
		o.mu.Unlock()

		b := make([]byte, len(it.Raw))
		copy(b, it.Raw)
		err := o.deliver(r, b, func(f pdu.Frame, err error) { o.settle(q, it, f, err) })
		if err != nil {
			// The session went away or filled up between pick and
			// Deliver: put the item back and look again.
			o.putBack(q, it)
			recv = o.cfg.Receivers(q.systemID)
			if len(recv) == 0 {
				return 0
			}
		}
	}
}

// deliver is the one place the dispatcher calls into a session: a panic
// in it is recovered, logged with its stack and reported to OnPanic, and
// the item counts as not sent.
func (o *Outbox) deliver(r Receiver, b []byte, done func(pdu.Frame, error)) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic delivering to session %d: %v", r.ID(), v)
			o.log.Error("panic delivering an outbox item: the session is closed, the item waits",
				zap.Uint64("session", r.ID()), zap.Any("panic", v), zap.ByteString("stack", debug.Stack()))
			if o.cfg.OnPanic != nil {
				o.cfg.OnPanic(r, err)
			}
		}
	}()
	return r.Deliver(b, done)
}

// next returns the item to send now: the earliest due of those set aside,
// else the first waiting. With none it returns how long until the first
// set aside is due, 0 when none is. Called with o.mu held.
func (q *queue) next(now time.Time) (*Item, time.Duration) {
	if len(q.aside) > 0 {
		if d := q.aside[0].notBefore.Sub(now); d <= 0 {
			return q.aside[0], 0
		} else if len(q.items) == 0 {
			return nil, d
		}
	}
	if len(q.items) > 0 {
		return q.items[0], 0
	}
	return nil, 0
}

// take removes it, which next returned, from q. Called with o.mu held.
func (q *queue) take(it *Item) {
	if len(q.aside) > 0 && q.aside[0] == it {
		heap.Pop(&q.aside)
		return
	}
	q.items[0] = nil
	q.items = q.items[1:]
}

// expire drops an item that waited longer than MaxAge.
func (o *Outbox) expire(systemID string, it *Item) {
	o.log.Warn("undelivered item dropped for its age", zap.String("system_id", systemID),
		zap.Duration("age", time.Since(it.At).Round(time.Second)), zap.Int("attempts", it.Attempts))
	if err := o.cfg.Store.DeleteOutbox(systemID, it.Seq); err != nil {
		o.log.Warn("removing an expired item from the store failed", zap.Error(err))
	}
	if o.cfg.OnExpired != nil {
		o.cfg.OnExpired(systemID, it)
	}
}

// pick chooses the origin session if it has window, else the next session
// with window. Called with o.mu held.
func (o *Outbox) pick(q *queue, recv []Receiver, origin uint64) Receiver {
	if origin != 0 {
		for _, r := range recv {
			if r.ID() == origin && r.DeliverWindowFree() > 0 {
				return r
			}
		}
	}
	for i := range recv {
		r := recv[(q.rr+i)%len(recv)]
		if r.DeliverWindowFree() > 0 {
			q.rr = (q.rr + i + 1) % len(recv)
			return r
		}
	}
	return nil
}

func (o *Outbox) settle(q *queue, it *Item, f pdu.Frame, err error) {
	if err == nil && f.Status == pdu.StatusOK {
		always := o.keep.delivered(q, it)
		o.mu.Lock()
		q.inflight--
		// The freed window matters to the dispatcher only when items
		// wait for one, unless the strategy has more to do.
		wake := len(q.items) > 0 || len(q.aside) > 0 || always
		o.mu.Unlock()
		if o.cfg.OnDelivered != nil {
			o.cfg.OnDelivered(q.systemID, it)
		}
		if wake {
			signal(q.wake)
		}
		return
	}
	it.Attempts++
	// No answer (err set): the client never said no, so it does not
	// count toward the dead letter bound.
	if err == nil {
		it.Refusals++
		it.LastStatus = f.Status
		if slices.Contains(o.cfg.DeadLetterStatuses, f.Status) {
			o.bury(q, it, ReasonNever)
			return
		}
		if it.Refusals >= o.cfg.MaxAttempts {
			o.bury(q, it, ReasonRefused)
			return
		}
	}
	o.failures.failed(o.log, q.systemID, it, f.Status, err)
	o.setAside(q, it)
}

// statusField renders a command_status for logs as every log line does:
// "0x00000064 (ESME_RX_T_APPN)".
type statusField pdu.Status

func (s statusField) String() string { return pdu.StatusText(pdu.Status(s)) }

// forget ends the flight of an item that left the outbox undelivered.
func (o *Outbox) forget(q *queue, it *Item) {
	o.mu.Lock()
	q.inflight--
	delete(q.out, it.Seq)
	o.mu.Unlock()
	signal(q.wake)
}

// setAside gives a failed item its retry time, after a backoff doubling
// with each failure, and puts it with the others set aside.
func (o *Outbox) setAside(q *queue, it *Item) {
	o.mu.Lock()
	q.inflight--
	delete(q.out, it.Seq)
	if !o.keep.holds(q) {
		// A shared outbox's lease was lost meanwhile: the item is still
		// in the store, for the next holder.
		o.mu.Unlock()
		signal(q.wake)
		return
	}
	d := o.cfg.RetryMin << min(it.Attempts-1, 16)
	it.notBefore = time.Now().Add(min(d, o.cfg.RetryMax))
	heap.Push(&q.aside, it)
	o.mu.Unlock()
	if o.cfg.OnRetry != nil {
		o.cfg.OnRetry(q.systemID, it)
	}
	signal(q.wake)
}

// putBack returns an item that could not be handed to a session to where
// it was taken from, at once due.
func (o *Outbox) putBack(q *queue, it *Item) {
	o.mu.Lock()
	q.inflight--
	delete(q.out, it.Seq)
	switch {
	case !o.keep.holds(q):
	case it.Attempts > 0:
		heap.Push(&q.aside, it)
	default:
		q.items = append([]*Item{it}, q.items...)
	}
	o.mu.Unlock()
	signal(q.wake)
}

// asideHeap holds the items set aside, earliest retry time first, and
// among equal times the earliest arrived.
type asideHeap []*Item

func (h asideHeap) Len() int { return len(h) }
func (h asideHeap) Less(i, j int) bool {
	if !h[i].notBefore.Equal(h[j].notBefore) {
		return h[i].notBefore.Before(h[j].notBefore)
	}
	return h[i].Seq < h[j].Seq
}
func (h asideHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *asideHeap) Push(x any)   { *h = append(*h, x.(*Item)) }
func (h *asideHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return it
}
