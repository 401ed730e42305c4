package dlr

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

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
	// Attempts counts failed deliveries so far.
	Attempts  int
	notBefore time.Time
}

// OutboxConfig holds an Outbox's settings.
type OutboxConfig struct {
	// Store keeps the items durably; nil keeps them in memory only.
	Store Store
	// Receivers returns the sessions of systemID that can take deliveries.
	Receivers func(systemID string) []Receiver
	// MaxItems bounds each client's outbox; 0 means 1,000,000.
	MaxItems int
	// MaxAge drops an item not delivered within it; 0 means 72h.
	MaxAge time.Duration
	// OnExpired is called for each item dropped for its age.
	OnExpired func(systemID string, it *Item)
	// RetryMin and RetryMax bound the backoff after a refused delivery;
	// 1s and 60s.
	RetryMin, RetryMax time.Duration
	Logger             *zap.Logger
	// OnDelivered is called when the client accepted an item.
	OnDelivered func(systemID string, it *Item)
}

// Outbox queues deliveries per client system_id until a receiving session
// accepts them with deliver_sm_resp ESME_ROK. Items go out in the order
// they were queued; an item the client refuses or does not answer is
// retried first, after a backoff.
//
// With a SharedStore the items live in the store, added by any instance:
// an instance with receiving sessions of the client takes the client's
// lease, reads the items from the store in order and delivers them; the
// lease is renewed while it delivers and released when its last session
// of the client is gone, so another instance's sessions take over.
type Outbox struct {
	cfg    OutboxConfig
	shared SharedStore // nil when the outbox is this process's alone
	log    *zap.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	queues map[string]*queue
	closed bool
}

type queue struct {
	systemID string
	items    []*Item // waiting, in order
	inflight int
	storing  int // being written to the store
	wake     chan struct{}
	rr       int

	// With a SharedStore: whether this instance holds the lease, when it
	// was last taken or renewed, and the number of the last item read.
	leased  bool
	renewed time.Time
	cursor  uint64
	// dirty says the store may hold items not read yet: an item was
	// added, by any instance, since the last read that reached the end.
	dirty bool
}

// Shared outboxes are read this many items at a time, when fewer than
// refillBelow wait in memory.
const (
	refillBatch = 512
	refillBelow = 128
)

// NewOutbox returns an empty Outbox.
func NewOutbox(cfg OutboxConfig) *Outbox {
	if cfg.MaxItems <= 0 {
		cfg.MaxItems = 1_000_000
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 72 * time.Hour
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Store == nil {
		cfg.Store = NewMemStore(nil)
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := &Outbox{cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel, queues: make(map[string]*queue)}
	if sh, ok := cfg.Store.(SharedStore); ok {
		o.shared = sh
		sh.Watch(o.signal)
	}
	return o
}

// Enqueue stores it in the outbox of systemID and calls done once it is
// durable, or with ErrOutboxFull or the store's error when it is not
// taken. done may run on another goroutine.
func (o *Outbox) Enqueue(systemID string, it *Item, done func(error)) {
	o.mu.Lock()
	q, err := o.queueLocked(systemID)
	if err == nil && len(q.items)+q.inflight+q.storing >= o.cfg.MaxItems {
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
		switch {
		case err != nil:
		case o.shared == nil:
			q.insert(it)
		default:
			// A shared outbox is read back from the store by whichever
			// instance delivers it.
			q.dirty = true
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
		o.queues[systemID] = q
		o.wg.Add(1)
		go func() {
			defer o.wg.Done()
			o.dispatch(q)
		}()
	}
	return q, nil
}

// insert puts it in q in Seq order: stores finish concurrent writes in any
// order, and a receipt that waited for its mapping was numbered when it
// arrived. Called with o.mu held.
func (q *queue) insert(it *Item) {
	i := len(q.items)
	for i > 0 && q.items[i-1].Seq > it.Seq && q.items[i-1].Attempts == 0 {
		i--
	}
	q.items = append(q.items, nil)
	copy(q.items[i+1:], q.items[i:])
	q.items[i] = it
}

// Wake makes the outbox of systemID try delivering now, as when a session
// of it binds. With a SharedStore it starts the client's dispatcher, which
// then looks for items other instances added.
func (o *Outbox) Wake(systemID string) {
	if o.shared != nil {
		o.mu.Lock()
		q, err := o.queueLocked(systemID)
		o.mu.Unlock()
		if err == nil {
			signal(q.wake)
		}
		return
	}
	o.signal(systemID)
}

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
		return len(q.items) + q.inflight + q.storing
	}
	return 0
}

// Stat is one client's outbox at a moment.
type Stat struct {
	SystemID  string
	Depth     int           // waiting, being stored or in flight
	OldestAge time.Duration // age of the oldest waiting item, 0 when none
}

// Stats reports every client's outbox. A shared outbox is reported as the
// store holds it, whichever instance delivers it, for the clients this
// instance has seen.
func (o *Outbox) Stats() []Stat {
	if o.shared != nil {
		return o.sharedStats()
	}
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]Stat, 0, len(o.queues))
	for id, q := range o.queues {
		st := Stat{SystemID: id, Depth: len(q.items) + q.inflight + q.storing}
		for _, it := range q.items {
			if age := now.Sub(it.At); age > st.OldestAge {
				st.OldestAge = age
			}
		}
		out = append(out, st)
	}
	return out
}

func (o *Outbox) sharedStats() []Stat {
	o.mu.Lock()
	ids := make([]string, 0, len(o.queues))
	for id := range o.queues {
		ids = append(ids, id)
	}
	o.mu.Unlock()
	now := time.Now()
	out := make([]Stat, 0, len(ids))
	for _, id := range ids {
		n, oldest, err := o.shared.OutboxLen(id)
		if err != nil {
			o.log.Warn("reading a shared outbox's length failed", zap.String("system_id", id), zap.Error(err))
			continue
		}
		st := Stat{SystemID: id, Depth: n}
		if !oldest.IsZero() {
			st.OldestAge = now.Sub(oldest)
		}
		out = append(out, st)
	}
	return out
}

// Close stops the dispatchers and waits for them. Items still queued are
// dropped with the memory that holds them; shared outboxes' leases are
// released so that other instances take over at once.
func (o *Outbox) Close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	o.cancel()
	o.wg.Wait()
	if o.shared == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for id, q := range o.queues {
		if q.leased {
			q.leased = false
			o.shared.Release(id)
		}
	}
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
	if o.shared != nil {
		t := time.NewTicker(min(o.shared.LeaseTTL()/3, time.Second))
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
// long until the head item may be retried, 0 when no timer is needed.
func (o *Outbox) send(q *queue) time.Duration {
	recv := o.cfg.Receivers(q.systemID)
	if o.shared != nil && !o.refill(q, len(recv) > 0) {
		return 0
	}
	if len(recv) == 0 {
		return 0
	}
	for {
		o.mu.Lock()
		if len(q.items) == 0 {
			o.mu.Unlock()
			return 0
		}
		it := q.items[0]
		if time.Since(it.At) > o.cfg.MaxAge {
			q.items[0] = nil
			q.items = q.items[1:]
			o.mu.Unlock()
			o.expire(q.systemID, it)
			continue
		}
		if d := time.Until(it.notBefore); d > 0 {
			o.mu.Unlock()
			return d
		}
		r := o.pick(q, recv, it.Origin)
		if r == nil {
			// Every session's window is full; a response wakes us.
			o.mu.Unlock()
			return 0
		}
		q.items[0] = nil
		q.items = q.items[1:]
		q.inflight++
		o.mu.Unlock()

		b := make([]byte, len(it.Raw))
		copy(b, it.Raw)
		err := r.Deliver(b, func(f pdu.Frame, err error) { o.settle(q, it, f, err) })
		if err != nil {
			// The session went away or filled up between pick and
			// Deliver: put the item back and look again.
			o.requeue(q, it, false)
			recv = o.cfg.Receivers(q.systemID)
			if len(recv) == 0 {
				return 0
			}
		}
	}
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
		// Deleted before it stops counting as in flight: a shared
		// outbox's lease is released only with nothing in flight, and
		// the release must come after the delete, or the next holder
		// would deliver the item again.
		if err := o.cfg.Store.DeleteOutbox(q.systemID, it.Seq); err != nil {
			// Delivered again after a restart: a duplicate, not a loss.
			o.log.Warn("removing a delivered item from the store failed", zap.Error(err))
		}
		o.mu.Lock()
		q.inflight--
		// The freed window matters to the dispatcher only when items
		// wait for one; a shared outbox may also have a lease to release.
		wake := len(q.items) > 0 || o.shared != nil
		o.mu.Unlock()
		if o.cfg.OnDelivered != nil {
			o.cfg.OnDelivered(q.systemID, it)
		}
		if wake {
			signal(q.wake)
		}
		return
	}
	fields := []zap.Field{zap.String("system_id", q.systemID), zap.Int("attempts", it.Attempts+1)}
	if err != nil {
		fields = append(fields, zap.Error(err))
	} else {
		fields = append(fields, zap.Uint32("status", uint32(f.Status)))
	}
	o.log.Info("delivery to client failed, will retry", fields...)
	o.requeue(q, it, true)
}

// requeue puts it back at the head of q, after a backoff when failed.
func (o *Outbox) requeue(q *queue, it *Item, failed bool) {
	o.mu.Lock()
	q.inflight--
	if o.shared != nil && !q.leased {
		// The lease was lost meanwhile: the item is still in the store,
		// for the next holder.
		o.mu.Unlock()
		signal(q.wake)
		return
	}
	if failed {
		it.Attempts++
		d := o.cfg.RetryMin << min(it.Attempts-1, 16)
		it.notBefore = time.Now().Add(min(d, o.cfg.RetryMax))
	}
	q.items = append([]*Item{it}, q.items...)
	o.mu.Unlock()
	signal(q.wake)
}

// refill keeps q's shared lease and reads the store's items into q: it
// takes or renews the lease when this instance has receiving sessions
// (want) and releases it, once nothing is in flight, when it has none. It
// reports whether q may deliver now.
func (o *Outbox) refill(q *queue, want bool) bool {
	o.mu.Lock()
	leased, inflight := q.leased, q.inflight
	o.mu.Unlock()
	if !want {
		if leased && inflight == 0 {
			o.dropLease(q)
			o.shared.Release(q.systemID)
		}
		return false
	}
	now := time.Now()
	if !leased || now.Sub(q.renewed) >= o.shared.LeaseTTL()/3 {
		if !leased && inflight > 0 {
			// Deliveries made under a lost lease settle first.
			return false
		}
		ok, err := o.shared.Lease(q.systemID)
		if err != nil {
			o.log.Warn("taking an outbox lease failed", zap.String("system_id", q.systemID), zap.Error(err))
		}
		if !ok {
			if leased {
				o.log.Warn("outbox lease lost or not renewed: this instance stops delivering the client's items",
					zap.String("system_id", q.systemID), zap.Error(err))
				o.dropLease(q)
			}
			return false
		}
		o.mu.Lock()
		if !q.leased {
			q.leased, q.items, q.cursor, q.dirty = true, nil, 0, true
		}
		q.renewed = now
		o.mu.Unlock()
	}
	o.mu.Lock()
	cursor, need := q.cursor, q.dirty && len(q.items) < refillBelow
	if need {
		q.dirty = false // an item added from now on sets it again
	}
	o.mu.Unlock()
	if !need {
		return true
	}
	items, err := o.shared.Pending(q.systemID, cursor, refillBatch)
	if err != nil {
		o.log.Warn("reading a shared outbox failed", zap.String("system_id", q.systemID), zap.Error(err))
	}
	o.mu.Lock()
	if err != nil || len(items) == refillBatch {
		q.dirty = true // more to read
	}
	if q.leased && q.cursor == cursor && len(items) > 0 {
		q.items = append(q.items, items...)
		q.cursor = items[len(items)-1].Seq
	}
	o.mu.Unlock()
	return true
}

// dropLease forgets what q read under its lease: the items stay in the
// store for the next holder.
func (o *Outbox) dropLease(q *queue) {
	o.mu.Lock()
	q.leased, q.items, q.cursor = false, nil, 0
	o.mu.Unlock()
}
