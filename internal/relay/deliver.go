package relay

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/holdq"
	"github.com/smppmux/smppmux/internal/lifecycle"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/router"
	"github.com/smppmux/smppmux/metrics"
	"github.com/smppmux/smppmux/upstream"
)

// parked is a receipt on its way: looked up, waiting for its mapping,
// relayed.
type parked struct {
	upstream string
	frame    pdu.Frame
	sm       *pdu.SM // its body, deliver_sm or data_sm
	arrived  time.Time
	seq      uint64  // outbox place, taken on arrival
	ref      dlr.Ref // how it names its message
	// mark is written with its outbox item, so that the carrier sending
	// it again is recognised; nil when it reports no message state.
	mark *dlr.Mark

	// ack answers the SMSC; answer calls it once. release, when set, ends
	// the receipt's hold on its mark (see arrive).
	ack      func(pdu.Status)
	answered atomic.Bool
	release  func()
	// relayed is set once the receipt is relayed: copies of it that
	// waited meanwhile are repeats.
	relayed atomic.Bool

	// Once parked: its entry, and with a shared store when to stop
	// looking again and how long to wait before the next look.
	entry *dlr.Parked
	until time.Time
	wait  time.Duration

	// mu guards waiting, the receipt's durable record once it was kept
	// to answer the SMSC before its mapping came (see holdOver), and
	// ended, set once this process is done with it.
	mu      sync.Mutex
	waiting *dlr.Waiting
	ended   bool
	// Its hold (see hold): the holds that serve it and its number
	// there, 0 for none.
	holds  *holdq.Queue[*parked]
	holdNo uint64
}

// answer answers the SMSC with st, unless it was answered already.
func (p *parked) answer(st pdu.Status) {
	if p.answered.CompareAndSwap(false, true) {
		p.ack(st)
	}
}

// end says this process is done with the receipt: relayed, given up, or
// handed back to its SMSC. Its waiting record goes unless keep; it then
// waits again after a restart.
func (p *parked) end(s dlr.Store, keep bool) {
	p.mu.Lock()
	if p.ended {
		p.mu.Unlock()
		return
	}
	p.ended = true
	w := p.waiting
	if p.holdNo != 0 {
		p.holds.Drop(p.holdNo)
	}
	p.mu.Unlock()
	if w != nil && !keep {
		s.DeleteWaiting(w.Upstream, w.Seq)
	}
	if p.release != nil {
		p.release()
	}
}

// isWaiting reports whether the receipt is kept durably, its SMSC
// answered.
func (p *parked) isWaiting() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waiting != nil
}

// giveBack hands a receipt this process will not relay back to its SMSC
// with ESME_RX_T_APPN, so that it sends it again; a waiting receipt was
// answered already and stays kept, to wait again after a restart.
func (r *Relay) giveBack(p *parked) {
	if !p.isWaiting() {
		p.answer(pdu.StatusXTAppn)
	}
	p.end(r.cfg.Store, true)
}

// lookupStage says what a receipt's mapping lookup was for.
type lookupStage int

const (
	onArrival lookupStage = iota // first look
	onParking                    // again, once parked
	onRecheck                    // again, later, with a shared store
	onExpiry                     // last, when its wait is over
	onClaimed                    // claimed by a mapping of its folded id: is that the only one?
)

// HandleDeliver implements upstream.DeliverHandler.
func (r *Relay) HandleDeliver(u *upstream.Upstream, f pdu.Frame, ack func(pdu.Status)) {
	p := &parked{upstream: u.Name(), frame: f, ack: ack, seq: r.cfg.Store.NextSeq(), arrived: f.Time()}
	mo, err := r.read(p)
	if mo != nil {
		r.mobileOriginated(u, f, *mo, ack)
		return
	}
	if err != nil {
		r.Stats.ReceiptsUnmatched.Add(1)
		if errors.Is(err, dlr.ErrNoID) {
			r.cfg.Metrics.Receipt(u.Name(), metrics.ReceiptNoID)
		} else {
			r.cfg.Metrics.Receipt(u.Name(), metrics.ReceiptUnmatched)
		}
		st := pdu.StatusSysErr
		var fe *pdu.FieldError
		if errors.As(err, &fe) {
			st = fe.Status
		}
		if errors.Is(err, dlr.ErrNoID) {
			// Nothing can ever match it; refusing would only make the
			// SMSC send it again.
			st = pdu.StatusOK
		}
		r.log.Warn("receipt cannot be matched", zap.String("upstream", u.Name()), zap.Error(err))
		ack(st)
		return
	}
	r.arrive(p)
}

// read decodes p's frame, a deliver_sm or data_sm: a receipt gets its sm,
// ref and mark; a mobile-originated message is returned as the message to
// route instead.
func (r *Relay) read(p *parked) (mo *router.Message, err error) {
	if p.frame.ID != pdu.DeliverSM && p.frame.ID != pdu.DataSM {
		return nil, fmt.Errorf("not a deliver_sm or data_sm: %s", pdu.IDName(p.frame.ID))
	}
	p.sm = new(pdu.SM)
	if err = pdu.ParseMessage(p.frame.ID, p.frame.Body(), p.sm); err != nil {
		return nil, err
	}
	if !pdu.IsReceipt(p.sm.ESMClass) {
		return &router.Message{SystemID: p.upstream, Source: p.sm.SourceAddr,
			Destination: p.sm.DestAddr, ServiceType: p.sm.ServiceType}, nil
	}
	var learnt dlr.ReceiptIDForm
	var changed bool
	p.ref, learnt, changed, err = r.idReader(p.upstream).Ref(p.sm)
	if changed {
		r.log.Info("receipt id form of the upstream learnt", zap.String("upstream", p.upstream),
			zap.Stringer("id_format", learnt))
	}
	if err == nil {
		// Remembered from its arrival; one kept waiting over a restart,
		// from now.
		from := p.arrived
		if p.isWaiting() {
			from = time.Now()
		}
		p.mark = r.newMark(p.upstream, p.ref.ID, dlr.ReceiptState(p.sm), from)
	}
	return nil, err
}

// lookup looks for p's mapping and goes on with looked: at once with a
// store on this machine, later and possibly on another goroutine with a
// store on the network, so that the upstream's reader goes on reading.
//
// Once the relay is closed the store may be too: no lookup is made. A
// receipt on its first or last look is answered ESME_RX_T_APPN instead,
// and its SMSC sends it again; a parked one was answered when Close
// released it.
func (r *Relay) lookup(p *parked, stage lookupStage) {
	r.gate.RLock()
	if r.closed {
		r.gate.RUnlock()
		if stage == onArrival || stage == onExpiry {
			r.giveBack(p)
		}
		return
	}
	if ag, ok := r.cfg.Store.(dlr.AsyncGetter); ok {
		// Its answer may come at once, on this goroutine, and look
		// again: the gate is not held across it. A store closed
		// meanwhile answers with an error.
		r.gate.RUnlock()
		ag.FindAsync(p.upstream, p.ref, func(origin dlr.Origin, res dlr.Result, err error) {
			defer r.recoverReceipt(p, "receipt looked up")
			r.looked(p, stage, origin, res, err)
		})
		return
	}
	origin, res, err := dlr.Find(r.cfg.Store, p.upstream, p.ref)
	r.gate.RUnlock()
	r.looked(p, stage, origin, res, err)
}

// looked goes on with a receipt whose mapping was looked for. A receipt
// that only folded ids match, several of them, waits like one that
// matches none (its own mapping may yet come), and is then given up.
func (r *Relay) looked(p *parked, stage lookupStage, origin dlr.Origin, res dlr.Result, err error) {
	if err != nil {
		r.lookupLog.log(r.log, "message id lookup failed", zap.String("upstream", p.upstream), zap.Error(err))
		if stage == onArrival || stage == onExpiry {
			// Nothing is known of its message: its SMSC keeps it and
			// sends it again (a waiting one stays kept).
			r.giveBack(p)
			return
		}
		res = dlr.NotFound
	}
	final := stage == onExpiry || stage == onClaimed
	switch {
	case res == dlr.Found && (stage == onArrival || final):
		r.deliverReceipt(p, origin)
	case res == dlr.Found:
		// Parked: delivered by whoever claims the entry, here, or the
		// local write, or the expiry.
		if r.parking.Reclaim(p.entry) {
			r.deliverReceipt(p, origin)
		}
	case res == dlr.Ambiguous && final:
		r.Stats.ReceiptsAmbiguous.Add(1)
		r.cfg.Metrics.Receipt(p.upstream, metrics.ReceiptAmbiguous)
		r.log.Warn("receipt not delivered: its id matches several messages up to case and leading zeros, none exactly",
			zap.String("upstream", p.upstream))
		r.giveUp(p, dlr.ReasonAmbiguous)
	case stage == onArrival || stage == onClaimed:
		// Park first, then look again: the mapping may have landed in
		// between, and whoever claims the entry delivers it. A receipt
		// claimed by a write of its folded id while another such write
		// was under way waits for that one.
		var until time.Time
		if p.isWaiting() {
			// It waited before a restart: the wait goes on from then.
			until = p.arrived.Add(r.cfg.ParkTimeout)
		}
		if p.entry = r.parking.ParkUntil(until, p.upstream, p.ref.ID, p.ref.Folded, p, r.expire); p.entry == nil {
			// Stopping: see ReleaseParked.
			r.giveBack(p)
			return
		}
		if stage == onArrival {
			r.Stats.ReceiptsParked.Add(1)
			r.changes.fire()
			r.cfg.Metrics.Parked(p.upstream)
			r.hold(p)
		}
		r.lookup(p, onParking)
	case stage == onExpiry:
		r.unmatched(p)
	default:
		r.recheck(p, stage)
	}
}

// unmatched gives up on a receipt that matched no message in time. When
// its upstream's id form folds nothing but a message's id matches the
// receipt's up to case and leading zeros, the log line says so: such an
// SMSC wants id_format same.
func (r *Relay) unmatched(p *parked) {
	r.Stats.ReceiptsUnmatched.Add(1)
	r.cfg.Metrics.Receipt(p.upstream, metrics.ReceiptUnmatched)
	report := func(_ dlr.Origin, res dlr.Result, err error) {
		if err == nil && res != dlr.NotFound {
			r.log.Warn("receipt matched no message in time; its id matches one up to case or leading zeros, "+
				"which this upstream's id_format does not allow", zap.String("upstream", p.upstream))
		} else {
			r.log.Warn("receipt matched no message in time", zap.String("upstream", p.upstream))
		}
		r.giveUp(p, dlr.ReasonUnmatched)
	}
	if p.ref.Folded != "" {
		report(dlr.Origin{}, dlr.NotFound, nil)
		return
	}
	folding := dlr.Ref{ID: p.ref.ID, Folded: dlr.FoldID(p.ref.ID)}
	if ag, ok := r.cfg.Store.(dlr.AsyncGetter); ok {
		ag.FindAsync(p.upstream, folding, report)
		return
	}
	report(dlr.Find(r.cfg.Store, p.upstream, folding))
}

// claimed goes on with a parked receipt a mapping's write took: by the
// mapping's own id it is that message's; by its folded id only if that
// mapping is the only one of the form.
func (r *Relay) claimed(v any, folded bool, origin dlr.Origin) {
	p := v.(*parked)
	if folded {
		r.lookup(p, onClaimed)
		return
	}
	r.deliverReceipt(p, origin)
}

// recheck looks for a parked receipt's mapping again after 2 ms, then
// after twice as long each time, up to a second apart, within the parking
// timeout. With a store shared by several instances the message may have
// been submitted through another instance, whose write cannot claim the
// receipts parked here; an SMSC that sends the receipt to another bind
// right after the submit_sm_resp makes that the usual case.
func (r *Relay) recheck(p *parked, stage lookupStage) {
	if _, shared := r.cfg.Store.(dlr.SharedStore); !shared || r.parking.Stopped() {
		return
	}
	if stage == onParking {
		p.until, p.wait = time.Now().Add(r.cfg.ParkTimeout), 2*time.Millisecond
	} else {
		p.wait = min(2*p.wait, time.Second)
	}
	if time.Now().Add(p.wait).Before(p.until) {
		r.after("receipt recheck", p.wait, p, func() { r.lookup(p, onRecheck) })
	}
}

// ReleaseParked stops parking receipts: each one waiting for its mapping
// is answered ESME_RX_T_APPN, as is each that would wait from now on, and
// no parked receipt's wait ends in a lookup any more. Called on shutdown
// once no client submits (no mapping of this process will land) and
// before the upstreams unbind: a temporary error tells each SMSC at once
// that the receipt was not taken, so it sends it again, here after a
// restart or to another instance sharing the store, rather than leaving a
// deliver_sm outstanding across the unbind.
func (r *Relay) ReleaseParked() {
	vs := r.parking.Stop()
	for _, v := range vs {
		r.giveBack(v.(*parked))
	}
	if len(vs) > 0 {
		r.log.Info("receipts waiting for their message's mapping refused with ESME_RX_T_APPN at shutdown: their SMSCs send them again",
			zap.Int("receipts", len(vs)))
	}
}

// idReader returns the receipt id reader of an upstream.
func (r *Relay) idReader(upstream string) *dlr.IDReader {
	if rd, ok := r.rt().IDReader(upstream); ok {
		return rd
	}
	return exactForm
}

var exactForm = dlr.NewIDReader(dlr.FormExact, false)

// expire gives up on a parked receipt, after one last look: with a store
// shared by several instances the mapping may have been written by
// another instance, which cannot claim this one's parked receipts.
func (r *Relay) expire(v any) { r.lookup(v.(*parked), onExpiry) }

// deliverReceipt rewrites the receipt to the client's id, queues it in the
// client's outbox and only then answers the SMSC.
func (r *Relay) deliverReceipt(p *parked, origin dlr.Origin) {
	out := dlr.RewriteReceipt(p.frame.Raw, p.sm, origin.ClientID)
	if final, delivered := dlr.Outcome(p.sm); final {
		var delay time.Duration
		if origin.Submitted > 0 {
			delay = p.arrived.Sub(time.Unix(0, origin.Submitted))
		}
		r.cfg.Metrics.FinalReceipt(p.upstream, delivered, delay)
		for _, g := range r.rt().GroupsOf(p.upstream) {
			g.RecordReceipt(p.upstream, delivered)
		}
	}
	// Straight to the client when it can take it now; its SMSC is
	// answered once the client accepted it or the store holds it.
	it := &dlr.Item{Raw: out, Origin: origin.Session, Seq: p.seq, Mark: p.mark}
	if !p.isWaiting() {
		// Read with the frame; a receipt kept waiting over a restart
		// enters the outbox now.
		it.At = p.arrived
	}
	r.outbox.Offer(origin.SystemID, it, r.cfg.DeliveryHold, func(straight bool, err error) {
		defer r.recoverReceipt(p, "receipt queued")
		if err != nil {
			r.outboxLog.log(r.log, "outbox refused a receipt", zap.String("system_id", origin.SystemID), zap.Error(err))
			if p.isWaiting() {
				// Its SMSC was answered: it is tried again, and kept
				// meanwhile.
				r.redeliver(p, origin)
				return
			}
			// The SMSC keeps it and sends it again later.
			p.answer(pdu.StatusXTAppn)
			p.end(r.cfg.Store, false)
			return
		}
		r.Stats.ReceiptsMatched.Add(1)
		r.cfg.Metrics.Receipt(p.upstream, metrics.ReceiptMatched)
		if straight && p.mark != nil {
			// No outbox item carried the mark; written before the SMSC
			// hears, so that a repeat arriving after its answer finds
			// it.
			r.cfg.Store.PutMark(*p.mark)
		}
		p.answer(pdu.StatusOK)
		p.relayed.Store(true)
		p.end(r.cfg.Store, false)
		if p.mark != nil && dlr.FinalState(p.mark.State) {
			// The message is done: the store keeps the messages still owed
			// a receipt. The mark answers the carrier sending it again.
			r.cfg.Store.Forget(p.upstream, p.ref.ID, origin.SystemID, origin.ClientID)
		}
	})
}

// mobileOriginated queues an MO message, as it came, in the outbox of the
// client its MO route names, and answers the SMSC once it is stored. With
// no route the SMSC is told to keep it and retry later.
func (r *Relay) mobileOriginated(u *upstream.Upstream, f pdu.Frame, m router.Message, ack func(pdu.Status)) {
	var systemID string
	ok := false
	if mo := r.rt().MORouter; mo != nil {
		systemID, ok = mo.Match(m)
	}
	if !ok {
		r.Stats.MOUnrouted.Add(1)
		r.cfg.Metrics.MO(metrics.MOUnrouted)
		r.log.Warn("mobile-originated message refused: no MO route", zap.String("upstream", u.Name()))
		ack(pdu.StatusXTAppn)
		return
	}
	raw := pdu.Resend(f.Raw, 0)
	r.outbox.Offer(systemID, &dlr.Item{Raw: raw}, r.cfg.DeliveryHold, func(_ bool, err error) {
		defer func() {
			if v := recover(); v != nil {
				_ = r.life.Panicked("MO message queued", v)
				ack(pdu.StatusXTAppn)
			}
		}()
		if err != nil {
			r.outboxLog.log(r.log, "outbox refused an MO message", zap.String("system_id", systemID), zap.Error(err))
			ack(pdu.StatusXTAppn)
			return
		}
		r.Stats.MORouted.Add(1)
		r.cfg.Metrics.MO(metrics.MORouted)
		ack(pdu.StatusOK)
	})
}

// recoverReceipt, deferred where p's work enters a goroutine of a store,
// an outbox or a timer, recovers a panic in it: logged with its stack,
// and p handed back to its SMSC with ESME_RX_T_APPN unless it was
// answered already (a waiting one stays kept). The bug ends this
// receipt's relaying, not its bind.
func (r *Relay) recoverReceipt(p *parked, work string) {
	if v := recover(); v != nil {
		_ = r.life.Panicked(work, v)
		if !p.isWaiting() {
			p.answer(pdu.StatusXTAppn)
		}
	}
}

// after runs fn after d on a timer of the relay's Tracker; a panic in it
// hands p back to its SMSC (recoverReceipt).
func (r *Relay) after(name string, d time.Duration, p *parked, fn func()) *lifecycle.Timer {
	return r.life.AfterFunc(name, d, func() {
		defer r.recoverReceipt(p, name)
		fn()
	})
}

// Lifecycle returns the Tracker of the relay's timers.
func (r *Relay) Lifecycle() *lifecycle.Tracker { return r.life }
