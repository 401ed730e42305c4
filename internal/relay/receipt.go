package relay

import (
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/router"
	"github.com/smppmux/smppmux/metrics"
	"github.com/smppmux/smppmux/upstream"
)

// parked is a receipt waiting for its mapping.
type parked struct {
	upstream string
	frame    pdu.Frame
	sm       *pdu.SM         // deliver_sm receipts
	dsm      *pdu.DataSMBody // data_sm receipts
	ack      func(pdu.Status)
	seq      uint64 // outbox place, taken on arrival
	key      string // the canonical upstream id it waits for
}

// HandleDeliver implements upstream.DeliverHandler.
func (r *Relay) HandleDeliver(u *upstream.Upstream, f pdu.Frame, ack func(pdu.Status)) {
	p := &parked{upstream: u.Name(), frame: f, ack: ack, seq: r.cfg.Store.NextSeq()}
	var key string
	var err error
	switch f.ID {
	case pdu.DeliverSM:
		p.sm = new(pdu.SM)
		if err = pdu.ParseSM(f.Body(), p.sm); err == nil {
			if !pdu.IsReceipt(p.sm.ESMClass) {
				r.mobileOriginated(u, f, router.Message{SystemID: u.Name(), Source: p.sm.SourceAddr,
					Destination: p.sm.DestAddr, ServiceType: p.sm.ServiceType}, ack)
				return
			}
			var learnt dlr.IDForm
			var changed bool
			key, learnt, changed, err = r.idReader(u.Name()).Key(p.sm)
			if changed {
				r.log.Info("receipt id form of the upstream learnt", zap.String("upstream", u.Name()),
					zap.Stringer("id_format", learnt))
			}
		}
	case pdu.DataSM:
		p.dsm = new(pdu.DataSMBody)
		if err = pdu.ParseDataSM(f.Body(), p.dsm); err == nil {
			if !pdu.IsReceipt(p.dsm.ESMClass) {
				r.mobileOriginated(u, f, router.Message{SystemID: u.Name(), Source: p.dsm.SourceAddr,
					Destination: p.dsm.DestAddr, ServiceType: p.dsm.ServiceType}, ack)
				return
			}
			v, _ := pdu.FindTLV(p.dsm.TLVs, pdu.TagReceiptedMessageID)
			if id := trimNUL(v); len(id) > 0 {
				key = dlr.Canonical(id)
			} else {
				err = dlr.ErrNoID
			}
		}
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
	p.key = key
	r.lookup(p.upstream, key, func(route dlr.Route, ok bool) {
		if ok {
			r.deliverReceipt(p, route)
			return
		}
		// Park first, then look again: the mapping may have landed in
		// between, and whoever claims the entry delivers it.
		r.Stats.ReceiptsParked.Add(1)
		r.cfg.Metrics.Receipt(p.upstream, metrics.ReceiptParked)
		e := r.parking.Park(p.upstream, []string{key}, p, r.expire)
		r.lookup(p.upstream, key, func(route dlr.Route, ok bool) {
			if ok {
				if r.parking.Reclaim(e) {
					r.deliverReceipt(p, route)
				}
				return
			}
			if _, shared := r.cfg.Store.(dlr.SharedStore); shared {
				r.recheck(e, p, time.Now().Add(r.cfg.ParkTimeout), 2*time.Millisecond)
			}
		})
	})
}

// recheck looks for a parked receipt's mapping again after wait, then
// after twice as long, up to a second apart, until it is found or until.
// With a store shared by several instances the message may have been
// submitted through another instance, whose write cannot claim the
// receipts parked here; an SMSC that sends the receipt to another bind
// right after the submit_sm_resp makes that the usual case.
func (r *Relay) recheck(e *dlr.Parked, p *parked, until time.Time, wait time.Duration) {
	time.AfterFunc(wait, func() {
		r.lookup(p.upstream, p.key, func(route dlr.Route, ok bool) {
			if ok {
				// Claimed here, or already by the local write or the
				// expiry.
				if r.parking.Reclaim(e) {
					r.deliverReceipt(p, route)
				}
				return
			}
			if next := min(2*wait, time.Second); time.Now().Add(next).Before(until) {
				r.recheck(e, p, until, next)
			}
		})
	})
}

// idReader returns the receipt id reader of an upstream.
func (r *Relay) idReader(upstream string) *dlr.IDReader {
	if rd, ok := r.rt().IDReaders[upstream]; ok {
		return rd
	}
	return sameForm
}

var sameForm = dlr.NewIDReader(dlr.FormSame, false)

// lookup finds the route of an upstream's message id and calls fn with
// it: at once from a store on this machine, later and possibly on another
// goroutine from a store on the network, so that the upstream's reader
// goes on reading.
func (r *Relay) lookup(upstreamName, key string, fn func(dlr.Route, bool)) {
	answer := func(route dlr.Route, ok bool, err error) {
		if err != nil {
			r.log.Error("message id lookup failed", zap.Error(err))
			ok = false
		}
		fn(route, ok)
	}
	if ag, ok := r.cfg.Store.(dlr.AsyncGetter); ok {
		ag.GetAsync(upstreamName, key, answer)
		return
	}
	answer(r.cfg.Store.Get(upstreamName, key))
}

// expire gives up on a parked receipt, after one last look: with a store
// shared by several instances the mapping may have been written by
// another instance, which cannot claim this one's parked receipts.
func (r *Relay) expire(v any) {
	p := v.(*parked)
	r.lookup(p.upstream, p.key, func(route dlr.Route, ok bool) {
		if ok {
			r.deliverReceipt(p, route)
			return
		}
		r.Stats.ReceiptsUnmatched.Add(1)
		r.cfg.Metrics.Receipt(p.upstream, metrics.ReceiptUnmatched)
		r.log.Warn("receipt matched no message in time", zap.String("upstream", p.upstream))
		p.ack(pdu.StatusOK)
	})
}

// deliverReceipt rewrites the receipt to the client's id, queues it in the
// client's outbox and only then answers the SMSC.
func (r *Relay) deliverReceipt(p *parked, route dlr.Route) {
	var out []byte
	if p.sm != nil {
		out = dlr.RewriteReceipt(p.frame.Raw, p.sm, route.ClientID)
		if final, delivered := dlr.Outcome(p.sm); final {
			var delay time.Duration
			if route.Submitted > 0 {
				delay = time.Since(time.Unix(0, route.Submitted))
			}
			r.cfg.Metrics.FinalReceipt(p.upstream, delivered, delay)
			if gs := r.rt().GroupsOf; gs != nil {
				for _, g := range gs(p.upstream) {
					g.RecordReceipt(p.upstream, delivered)
				}
			}
		}
	} else {
		out = dlr.RewriteDataSM(p.frame.Raw, p.dsm, route.ClientID)
	}
	r.outbox.Enqueue(route.SystemID, &dlr.Item{Raw: out, Origin: route.Session, Seq: p.seq}, func(err error) {
		if err != nil {
			// The SMSC keeps it and sends it again later.
			r.log.Warn("outbox refused a receipt", zap.String("system_id", route.SystemID), zap.Error(err))
			p.ack(pdu.StatusXTAppn)
			return
		}
		r.Stats.ReceiptsMatched.Add(1)
		r.cfg.Metrics.Receipt(p.upstream, metrics.ReceiptMatched)
		p.ack(pdu.StatusOK)
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
	r.outbox.Enqueue(systemID, &dlr.Item{Raw: raw}, func(err error) {
		if err != nil {
			r.log.Warn("outbox refused an MO message", zap.String("system_id", systemID), zap.Error(err))
			ack(pdu.StatusXTAppn)
			return
		}
		r.Stats.MORouted.Add(1)
		r.cfg.Metrics.MO(metrics.MORouted)
		ack(pdu.StatusOK)
	})
}

func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}
