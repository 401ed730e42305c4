package relay

import (
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/ratelog"
	"github.com/smppmux/smppmux/metrics"
	"github.com/smppmux/smppmux/smppserver"
)

// A store that cannot take writes (Redis down or unreachable, a full or
// read-only disk) fails closed before the carrier, never after:
//
//   - a new submit is refused before it reaches a carrier, with
//     ESME_RTHROTTLED, which ESMEs treat as "try again later" and back off
//     on (ESME_RMSGQFUL, the other candidate, speaks of the session's own
//     window and many clients resend at once on it);
//   - a submit a carrier already accepted keeps its answer until its
//     mapping is durable: the write is tried again, after 50 ms doubling
//     to a second, for as long as it takes. At most MaxPendingWrites such
//     submits wait at once; past that bound the client gets ESME_RSYSERR
//     and the message is logged (its receipt will find no mapping), never
//     a silent ESME_ROK.

// DefaultMaxPendingWrites bounds the submits whose mapping write is being
// tried again.
const DefaultMaxPendingWrites = 10000

const (
	rewriteFirst = 50 * time.Millisecond
	rewriteMax   = time.Second
	// storeLogEvery is the least time between two lines about the same
	// kind of store trouble.
	storeLogEvery = 10 * time.Second
)

// PendingWrites returns how many submits an SMSC accepted wait for their
// mapping's write to be tried again.
func (r *Relay) PendingWrites() int { return int(r.rewrites.Load()) }

// storeDown refuses a submit because the store takes no writes.
func (r *Relay) storeDown(s *smppserver.Session, f pdu.Frame, err error) {
	r.Stats.Refused.Add(1)
	r.cfg.Metrics.SubmitRefused(s.SystemID(), metrics.RefusedStore)
	r.refuseLog.log(r.log, "submits refused: the store takes no writes", zap.Error(err))
	s.Respond(pdu.Empty(pdu.RespID(f.ID), pdu.StatusThrottled, f.Seq))
}

// record writes m and calls done once: with true when it is durable, or
// with false when it could not be and the bound of writes tried again was
// reached. A failed write is tried again until it lands.
func (r *Relay) record(m dlr.Mapping, done func(ok bool)) {
	r.recordWith(m, r.cfg.Store.PutMapping, done)
}

// recordWith is record with put in place of the store's PutMapping.
func (r *Relay) recordWith(m dlr.Mapping, put func(dlr.Mapping, func(error)), done func(ok bool)) {
	put(m, func(err error) {
		if err == nil {
			done(true)
			return
		}
		if int(r.rewrites.Add(1)) > r.cfg.MaxPendingWrites {
			r.rewrites.Add(-1)
			r.log.Error("recording a message id failed and too many wait to be tried again: the client gets ESME_RSYSERR; the message was accepted by the SMSC and its receipt will find no mapping",
				zap.String("system_id", m.SystemID), zap.String("client_id", m.ClientID),
				zap.String("upstream", m.Upstream), zap.String("upstream_id", m.UpstreamID),
				zap.Int("max_pending_writes", r.cfg.MaxPendingWrites), zap.Error(err))
			done(false)
			return
		}
		r.changes.fire()
		r.rewriteLog.log(r.log, "recording a message id failed: tried again while the client's answer waits", zap.Error(err))
		r.rewrite(m, put, rewriteFirst, done)
	})
}

// rewrite tries m's write again after wait, and again after twice as long
// (up to rewriteMax) each time it fails.
func (r *Relay) rewrite(m dlr.Mapping, put func(dlr.Mapping, func(error)), wait time.Duration, done func(ok bool)) {
	r.life.AfterFunc("mapping rewrite", wait, func() {
		put(m, func(err error) {
			switch {
			case errors.Is(err, dlr.ErrStoreClosed):
				// Shutting down: the client's session is gone or going.
				r.rewrites.Add(-1)
				r.changes.fire()
				r.log.Error("recording a message id failed and the store closed: the message was accepted by the SMSC and its receipt will find no mapping",
					zap.String("system_id", m.SystemID), zap.String("client_id", m.ClientID),
					zap.String("upstream", m.Upstream), zap.String("upstream_id", m.UpstreamID))
				done(false)
			case err != nil:
				r.rewrite(m, put, min(2*wait, rewriteMax), done)
			default:
				r.rewrites.Add(-1)
				r.changes.fire()
				done(true)
			}
		})
	})
}

// everyLog logs a message at most once per storeLogEvery, with how many
// times it was due since the last line.
type everyLog struct{ ratelog.Every }

func (e *everyLog) log(l *zap.Logger, msg string, fields ...zap.Field) {
	if ok, n := e.Allow(storeLogEvery); ok {
		l.Warn(msg, append(fields, zap.Int("more_since_last_line", n))...)
	}
}
