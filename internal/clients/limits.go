package clients

import (
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/smppmux/smppmux/internal/pdu"
)

// Limits holds the limits of one client. Its state (token bucket, recent
// destinations) lives as long as the Limits, so a reload that does not
// change the client keeps it (see NewTable).
type Limits struct {
	tps       *rate.Limiter // nil: no cap
	sources   []string      // exact, or prefixes ending in '*'; empty: any
	dest      *destLimiter  // nil: no per-destination limit
	destState pdu.Status
}

// LimitsConfig describes a client's Limits.
type LimitsConfig struct {
	TPS            int
	AllowedSources []string
	DestCount      int
	DestPer        time.Duration
	DestStatus     pdu.Status
}

// NewLimits returns the limits cfg describes.
func NewLimits(cfg LimitsConfig) *Limits {
	p := &Limits{sources: cfg.AllowedSources, destState: cfg.DestStatus}
	if cfg.TPS > 0 {
		p.tps = rate.NewLimiter(rate.Limit(cfg.TPS), max(1, cfg.TPS/10))
	}
	if cfg.DestCount > 0 && cfg.DestPer > 0 {
		p.dest = newDestLimiter(cfg.DestCount, cfg.DestPer)
		if p.destState == pdu.StatusOK {
			p.destState = pdu.StatusThrottled
		}
	}
	return p
}

// Check returns the status a submit from src to dest gets under the
// limits, StatusOK when it may go, and the reason for metrics. A nil
// Limits lets everything go.
func (p *Limits) Check(src, dest []byte, now time.Time) (pdu.Status, string) {
	if p == nil {
		return pdu.StatusOK, ""
	}
	if len(p.sources) > 0 && !sourceAllowed(p.sources, src) {
		return pdu.StatusInvSrcAdr, "source"
	}
	if p.tps != nil && !p.tps.AllowN(now, 1) {
		return pdu.StatusThrottled, "throttled"
	}
	if p.dest != nil && !p.dest.allow(dest, now) {
		return p.destState, "destination_limit"
	}
	return pdu.StatusOK, ""
}

func sourceAllowed(allowed []string, src []byte) bool {
	for _, a := range allowed {
		if prefix, ok := strings.CutSuffix(a, "*"); ok {
			if strings.HasPrefix(string(src), prefix) {
				return true
			}
		} else if a == string(src) {
			return true
		}
	}
	return false
}

// destLimiter allows at most count messages per destination in any
// window of length per (a sliding log of the last count sends).
//
// LOCKING: each shard's mutex guards its map.
type destLimiter struct {
	count  int
	per    time.Duration
	shards [32]destShard
}

type destShard struct {
	mu    sync.Mutex
	sends map[string]*destSends
	adds  int
}

// destSends holds the last sends to one destination, oldest first, at
// most count, in an array allocated once.
type destSends struct{ t []int64 }

func newDestLimiter(count int, per time.Duration) *destLimiter {
	l := &destLimiter{count: count, per: per}
	for i := range l.shards {
		l.shards[i].sends = make(map[string]*destSends)
	}
	return l
}

func (l *destLimiter) allow(dest []byte, now time.Time) bool {
	var h uint32 = 2166136261
	for i := 0; i < len(dest); i++ {
		h = (h ^ uint32(dest[i])) * 16777619
	}
	sh := &l.shards[h%uint32(len(l.shards))]
	t := now.UnixNano()
	horizon := t - int64(l.per)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	d := sh.sends[string(dest)] // no copy of dest for a lookup
	if d == nil {
		d = &destSends{t: make([]int64, 0, l.count)}
		sh.sends[string(dest)] = d
	}
	k := 0
	for k < len(d.t) && d.t[k] <= horizon {
		k++
	}
	if k > 0 {
		d.t = d.t[:copy(d.t, d.t[k:])]
	}
	if len(d.t) >= l.count {
		return false
	}
	d.t = append(d.t, t)
	// Forget destinations gone quiet, a shard at a time, now and then.
	if sh.adds++; sh.adds >= 4096 {
		sh.adds = 0
		for key, s := range sh.sends {
			if len(s.t) == 0 || s.t[len(s.t)-1] <= horizon {
				delete(sh.sends, key)
			}
		}
	}
	return true
}
