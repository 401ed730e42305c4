package dlr

import (
	"sync"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
)

// Offer delivers it to a receiving session of systemID straight, without
// storing it, when nothing waits before it in the client's outbox (no item
// queued, set aside or being stored) and a session has window; otherwise
// it is stored as Enqueue does. done is called once:
//
//   - straight true: the client accepted it (deliver_sm_resp ESME_ROK);
//     nothing was stored;
//   - straight false, err nil: the store holds it durably, to be delivered
//     from the outbox. It went there at once, or after the client refused
//     it, its session closed, or it went unanswered for hold; in that last
//     case it is still in flight, and the client's answer settles it as any
//     outbox item's;
//   - err set: it is not held (ErrOutboxFull, the store's error).
//
// The caller, which holds the item until done (a receipt's SMSC waits for
// its deliver_sm_resp), answers from done: by then the client or the store
// holds it. A crash before that leaves it with the caller; one after the
// client's answer and before the caller's gives a duplicate, never a loss.
//
// The holds of all Offers end on one timer, in the order they began: a
// hold shorter than the one before it ends with that one.
//
// With a SharedStore items are always stored first: the instance holding
// the client's lease delivers them, in order.
func (o *Outbox) Offer(systemID string, it *Item, hold time.Duration, done func(straight bool, err error)) {
	stored := func() { o.Enqueue(systemID, it, func(err error) { done(false, err) }) }
	if _, local := o.keep.(localOutbox); !local || hold <= 0 {
		stored()
		return
	}
	recv := o.cfg.Receivers(systemID)
	o.mu.Lock()
	q, err := o.queueLocked(systemID)
	var r Receiver
	if err == nil && len(q.items) == 0 && len(q.aside) == 0 && q.storing == 0 && q.depth() < o.cfg.MaxItems {
		r = o.pick(q, recv, it.Origin)
	}
	if r == nil {
		o.mu.Unlock()
		stored()
		return
	}
	q.inflight++
	o.mu.Unlock()
	now := time.Now()
	if it.At.IsZero() {
		it.At = now
	}
	f := &flight{o: o, q: q, it: it, done: done}
	// The session overwrites the sequence number in place: it.Raw is
	// this flight's until it is answered or stored (stores copy it). Its
	// answer may come before Deliver returns, on this goroutine when the
	// session closes meanwhile: f.mu is not held across it.
	if err := o.deliver(r, it.Raw, f.answered); err != nil {
		// Its window filled or it closed since pick.
		o.mu.Lock()
		q.inflight--
		o.mu.Unlock()
		stored()
		return
	}
	f.mu.Lock()
	if f.state == flying {
		f.holdNo = o.holds.Add(f, now.Add(hold))
	}
	f.mu.Unlock()
}

// flightState is where an item Offer sent straight stands.
type flightState int

const (
	flying   flightState = iota // sent, unanswered, not stored
	settling                    // answered before its hold: settled straight
	storing                     // its hold passed: being stored, unanswered
	stored                      // its hold passed and it is stored: an outbox item in flight
	dropped                     // its hold passed and storing it failed: its caller keeps it
)

// flight is an item Offer sent straight.
type flight struct {
	o    *Outbox
	q    *queue
	it   *Item
	done func(straight bool, err error)

	mu    sync.Mutex
	state flightState
	// holdNo is its hold's number in Outbox.holds, 0 before it began.
	holdNo uint64
	// The client's answer, when it came while the item was being stored.
	answer    *pdu.Frame
	answerErr error
}

// answered takes the client's answer to a straight delivery.
func (f *flight) answered(fr pdu.Frame, err error) {
	f.mu.Lock()
	switch f.state {
	case flying:
		f.state = settling
		if f.holdNo != 0 {
			f.o.holds.Drop(f.holdNo)
		}
		f.mu.Unlock()
		f.settleStraight(fr, err)
	case storing:
		// Settled once stored (held).
		f.answer, f.answerErr = &fr, err
		f.mu.Unlock()
	case stored:
		f.mu.Unlock()
		f.o.settle(f.q, f.it, fr, err)
	default: // dropped: its caller keeps it, and was told so
		f.mu.Unlock()
		f.o.forget(f.q, f.it)
	}
}

// settleStraight takes the answer to a delivery that came within its
// hold. Accepted, the item is done and was never stored; otherwise it is
// stored and then fails as an outbox item's delivery does (set aside for
// a retry, or made a dead letter).
func (f *flight) settleStraight(fr pdu.Frame, err error) {
	o, q, it := f.o, f.q, f.it
	if err == nil && fr.Status == pdu.StatusOK {
		o.mu.Lock()
		q.inflight--
		wake := len(q.items) > 0 || len(q.aside) > 0
		o.mu.Unlock()
		if o.cfg.OnDelivered != nil {
			o.cfg.OnDelivered(q.systemID, it)
		}
		f.done(true, nil)
		if wake {
			signal(q.wake)
		}
		return
	}
	o.cfg.Store.AddOutbox(q.systemID, it, func(serr error) {
		f.done(false, serr)
		if serr != nil {
			// Not held here: its caller keeps it (a receipt's SMSC
			// sends it again).
			o.forget(q, it)
			return
		}
		o.settle(q, it, fr, err)
	})
}

// held stores an item whose client has not answered within its hold, so
// that its caller can let go of it; it stays in flight.
func (f *flight) held() {
	f.mu.Lock()
	if f.state != flying {
		f.mu.Unlock()
		return
	}
	f.state = storing
	f.mu.Unlock()
	o, q, it := f.o, f.q, f.it
	o.cfg.Store.AddOutbox(q.systemID, it, func(serr error) {
		f.done(false, serr)
		f.mu.Lock()
		if serr != nil {
			f.state = dropped
		} else {
			f.state = stored
		}
		fr, ferr := f.answer, f.answerErr
		f.mu.Unlock()
		if fr == nil {
			return
		}
		if serr != nil {
			o.forget(q, it)
			return
		}
		o.settle(q, it, *fr, ferr)
	})
}
