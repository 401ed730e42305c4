package relay

import (
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/pdu"
)

// A receipt that finds no mapping is held unanswered a short while
// (Config.Hold): most are receipts that beat their submit_sm_resp by a few
// milliseconds. One still waiting then is written to the store as a
// dlr.Waiting receipt and its SMSC answered ESME_ROK, so that it holds no
// slot of the SMSC's window however long it waits; it is relayed when its
// mapping lands, also after a restart (RestoreWaiting), and becomes a dead
// letter when receipts.wait_for_mapping passes first. When the store
// cannot keep it, its SMSC gets ESME_RX_T_APPN and sends it again later.

// DefaultHold is how long a receipt without its mapping waits before it is
// kept durably and its SMSC answered.
const DefaultHold = 250 * time.Millisecond

// hold starts p's short wait unanswered.
func (r *Relay) hold(p *parked) {
	if p.isWaiting() {
		return // answered before a restart
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.ended {
		// Dropped when the receipt is relayed: most are within
		// milliseconds.
		p.holds = r.holds
		p.holdNo = r.holds.Add(p, p.arrived.Add(r.cfg.Hold))
	}
}

// holdEnded runs holdOver for p, on the holds' timer; a panic hands p
// back to its SMSC (recoverReceipt).
func (r *Relay) holdEnded(p *parked) {
	defer r.recoverReceipt(p, "receipt hold")
	r.holdOver(p)
}

// testHookHoldOver, when set by a test, is called as a receipt's hold
// ends, on the hold's timer.
var testHookHoldOver func(p *parked)

// holdOver keeps p durably, if it still waits, and answers its SMSC.
func (r *Relay) holdOver(p *parked) {
	if testHookHoldOver != nil {
		testHookHoldOver(p)
	}
	r.gate.RLock()
	if r.closed || !r.parking.Holds(p.entry) {
		r.gate.RUnlock()
		return // relayed, given up, or handed back by ReleaseParked
	}
	w := &dlr.Waiting{Upstream: p.upstream, Arrived: p.arrived, Raw: p.frame.Raw}
	r.gate.RUnlock()
	r.cfg.Store.PutWaiting(w, func(err error) {
		defer r.recoverReceipt(p, "receipt kept waiting")
		if err != nil {
			r.waitLog.log(r.log, "keeping a receipt that waits for its mapping failed: its SMSC gets ESME_RX_T_APPN and sends it again",
				zap.String("upstream", p.upstream), zap.Error(err))
			if r.parking.Reclaim(p.entry) {
				p.answer(pdu.StatusXTAppn)
				p.end(r.cfg.Store, false)
			}
			return
		}
		p.mu.Lock()
		if p.ended {
			// Relayed or given back meanwhile.
			p.mu.Unlock()
			r.cfg.Store.DeleteWaiting(w.Upstream, w.Seq)
			return
		}
		p.waiting = w
		p.mu.Unlock()
		r.Stats.ReceiptsWaiting.Add(1)
		p.answer(pdu.StatusOK)
	})
}

// giveUp ends a receipt that matched no single message in time: it
// becomes a dead letter, under dlr.UnmatchedOf its upstream, and its SMSC
// is answered ESME_ROK once that is durable (ESME_RX_T_APPN, to send it
// again, if it cannot be and the SMSC was not answered yet).
func (r *Relay) giveUp(p *parked, reason dlr.DeadReason) {
	d := &dlr.DeadLetter{SystemID: dlr.UnmatchedOf(p.upstream), Raw: pdu.Resend(p.frame.Raw, 0),
		Arrived: p.arrived, Reason: reason}
	r.cfg.Store.PutDeadLetter(d, 0, func(err error) {
		defer r.recoverReceipt(p, "receipt made a dead letter")
		if err != nil {
			r.log.Error("keeping a receipt that matched no message as a dead letter failed",
				zap.String("upstream", p.upstream), zap.Error(err))
			if !p.isWaiting() {
				p.answer(pdu.StatusXTAppn)
				p.end(r.cfg.Store, false)
			} else {
				// It waits again after a restart.
				p.end(r.cfg.Store, true)
			}
			return
		}
		r.Stats.DeadLetters.Add(1)
		r.changes.fire()
		r.cfg.Metrics.DeadLetter(d.SystemID, string(reason))
		p.answer(pdu.StatusOK)
		p.end(r.cfg.Store, false)
	})
}

// redeliver tries again, after a while, to queue a waiting receipt whose
// mapping was found but whose outbox refused it.
func (r *Relay) redeliver(p *parked, route dlr.Origin) {
	r.after("receipt redelivery", time.Second, p, func() {
		r.gate.RLock()
		closed := r.closed
		r.gate.RUnlock()
		if closed {
			p.end(r.cfg.Store, true)
			return
		}
		r.deliverReceipt(p, route)
	})
}

// RestoreWaiting reads the receipts kept waiting for their mapping by an
// earlier run and lets them wait again, for what is left of their wait.
// Call it once, before the upstreams bind.
func (r *Relay) RestoreWaiting() (int, error) {
	var ws []*dlr.Waiting
	if err := r.cfg.Store.LoadWaiting(func(w *dlr.Waiting) { ws = append(ws, w) }); err != nil {
		return 0, err
	}
	// Parked in arrival order, so that they expire in that order.
	slices.SortFunc(ws, func(a, b *dlr.Waiting) int { return a.Arrived.Compare(b.Arrived) })
	for _, w := range ws {
		p := &parked{upstream: w.Upstream, frame: pdu.Frame{Header: pdu.ParseHeader(w.Raw), Raw: w.Raw},
			ack: func(pdu.Status) {}, seq: r.cfg.Store.NextSeq(), arrived: w.Arrived, waiting: w}
		p.answered.Store(true)
		if mo, err := r.read(p); mo != nil || err != nil {
			r.log.Warn("a kept waiting receipt cannot be read: dropped", zap.String("upstream", w.Upstream), zap.Error(err))
			r.cfg.Store.DeleteWaiting(w.Upstream, w.Seq)
			continue
		}
		r.arrive(p)
	}
	return len(ws), nil
}
