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

// newMark returns the mark of a receipt of upstream naming id in state
// st, nil when st is 0: a receipt that reports no state is not
// recognised when sent again.
func (r *Relay) newMark(upstream, id string, st byte) *dlr.Mark {
	if st == 0 {
		return nil
	}
	return &dlr.Mark{Upstream: upstream, ID: id, State: st, Expires: time.Now().Add(r.cfg.ResendWindow)}
}

// arrive goes on with a receipt that names its message: one the store
// has a mark of was relayed already (the carrier sent it again) and is
// answered ESME_ROK without being relayed twice; one being relayed right
// now, arrived again on another bind, is answered ESME_RX_T_APPN, so that
// the carrier sends it again once the first is settled. Others are looked
// up.
func (r *Relay) arrive(p *parked) {
	if p.mark == nil {
		r.lookup(p, onArrival)
		return
	}
	k := relayingKey{p.mark.Upstream, p.mark.ID, p.mark.State}
	r.relayingMu.Lock()
	if _, busy := r.relaying[k]; busy {
		r.relayingMu.Unlock()
		// Not this receipt's to end: the other holds the mark.
		if p.isWaiting() {
			p.end(r.cfg.Store, false)
		} else {
			p.answer(pdu.StatusXTAppn)
		}
		return
	}
	if r.relaying == nil {
		r.relaying = make(map[relayingKey]struct{})
	}
	r.relaying[k] = struct{}{}
	r.relayingMu.Unlock()
	p.release = func() {
		r.relayingMu.Lock()
		delete(r.relaying, k)
		r.relayingMu.Unlock()
	}
	relayed := func(ok bool, err error) {
		switch {
		case err != nil:
			// Unknown: relayed at worst twice, never lost.
			r.log.Warn("looking for the mark of a relayed receipt failed", zap.String("upstream", p.upstream), zap.Error(err))
			r.lookup(p, onArrival)
		case ok:
			r.Stats.ReceiptsRepeated.Add(1)
			r.cfg.Metrics.Receipt(p.upstream, metrics.ReceiptRepeated)
			r.log.Debug("receipt sent again by the SMSC: answered, not relayed twice", zap.String("upstream", p.upstream))
			p.answer(pdu.StatusOK)
			p.end(r.cfg.Store, false)
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
		ag.RelayedAsync(*p.mark, relayed)
		return
	}
	ok, err := r.cfg.Store.Relayed(*p.mark)
	r.gate.RUnlock()
	relayed(ok, err)
}
