package relay

import (
	"time"

	"go.uber.org/zap"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/metrics"
)

// relayingKey names a receipt being relayed: upstream, id as written and
// message state.
type relayingKey struct {
	upstream, id string
	state        byte
}

// relayingHolder is the copy of a receipt being relayed, and the copies
// of it that arrived meanwhile.
type relayingHolder struct {
	p       *parked
	waiters []*parked
}

// newMark returns the mark of a receipt of upstream naming id in state
// st, nil when st is 0: a receipt that reports no state is not
// recognised when sent again. It is remembered for ResendWindow from
// from.
func (r *Relay) newMark(upstream, id string, st byte, from time.Time) *dlr.Mark {
	if st == 0 {
		return nil
	}
	return &dlr.Mark{Upstream: upstream, ID: id, State: st, Expires: from.Add(r.cfg.ResendWindow)}
}

// arrive goes on with a receipt that names its message: one the store
// has a mark of was relayed already (the carrier sent it again) and is
// answered ESME_ROK without being relayed twice; a copy of one being
// relayed right now, arrived again (on another bind, say), is answered
// ESME_ROK if the first is kept durably, and otherwise goes on once the
// first is settled. Others are looked up.
func (r *Relay) arrive(p *parked) {
	if err := r.cfg.Store.Health(); err != nil && !p.isWaiting() {
		// Fail closed: a receipt the store cannot keep stays with its
		// SMSC, which sends it again.
		r.lookupLog.log(r.log, "receipts refused with ESME_RX_T_APPN: the store takes no writes", zap.Error(err))
		p.answer(pdu.StatusXTAppn)
		return
	}
	if p.mark == nil {
		r.lookup(p, onArrival)
		return
	}
	k := relayingKey{p.mark.Upstream, p.mark.ID, p.mark.State}
	r.relayingMu.Lock()
	if h, busy := r.relaying[k]; busy {
		first := h.p
		if !first.isWaiting() {
			// The first copy is on its way: this one goes on once that
			// one is settled, and then finds its mark, or takes its
			// place.
			h.waiters = append(h.waiters, p)
			r.relayingMu.Unlock()
			return
		}
		r.relayingMu.Unlock()
		// The first copy is kept durably: this one is a repeat.
		r.Stats.ReceiptsRepeated.Add(1)
		r.cfg.Metrics.Receipt(p.upstream, metrics.ReceiptRepeated)
		p.answer(pdu.StatusOK)
		if p.isWaiting() {
			p.end(r.cfg.Store, false) // a second record of it
		}
		return
	}
	if r.relaying == nil {
		r.relaying = make(map[relayingKey]*relayingHolder)
	}
	r.relaying[k] = &relayingHolder{p: p}
	r.relayingMu.Unlock()
	p.release = func() {
		r.relayingMu.Lock()
		h := r.relaying[k]
		delete(r.relaying, k)
		r.relayingMu.Unlock()
		for _, w := range h.waiters {
			if p.relayed.Load() {
				// The first copy was relayed: its mark may not be
				// written yet (PutMark is not waited for).
				r.repeated(w)
				continue
			}
			r.arrive(w)
		}
	}
	relayed := func(ok bool, err error) {
		switch {
		case err != nil:
			r.lookupLog.log(r.log, "looking for the mark of a relayed receipt failed: its SMSC gets ESME_RX_T_APPN and sends it again",
				zap.String("upstream", p.upstream), zap.Error(err))
			r.giveBack(p)
		case ok:
			r.repeated(p)
		default:
			r.lookup(p, onArrival)
		}
	}
	r.gate.RLock()
	if r.closed {
		r.gate.RUnlock()
		r.giveBack(p)
		return
	}
	if ag, ok := r.cfg.Store.(dlr.AsyncGetter); ok {
		r.gate.RUnlock()
		ag.RelayedAsync(*p.mark, func(ok bool, err error) {
			defer r.recoverReceipt(p, "receipt mark looked up")
			relayed(ok, err)
		})
		return
	}
	ok, err := r.cfg.Store.Relayed(*p.mark)
	r.gate.RUnlock()
	relayed(ok, err)
}

// repeated answers a receipt relayed already, sent again by its SMSC,
// with ESME_ROK, without relaying it twice.
func (r *Relay) repeated(p *parked) {
	r.Stats.ReceiptsRepeated.Add(1)
	r.cfg.Metrics.Receipt(p.upstream, metrics.ReceiptRepeated)
	r.log.Debug("receipt sent again by the SMSC: answered, not relayed twice", zap.String("upstream", p.upstream))
	p.answer(pdu.StatusOK)
	p.end(r.cfg.Store, false)
}
