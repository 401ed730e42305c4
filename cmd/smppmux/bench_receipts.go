package main

import (
	"bytes"
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
)

// receiptLog counts the receipts of a run. Its goroutine, started by
// collect, reads the client's deliveries until the connection ends.
type receiptLog struct {
	more chan struct{} // a receipt arrived: capacity 1, never blocks the reader
	done chan struct{} // the deliveries channel was closed

	// verdicts holds, in order, whether each delivery was accepted, when
	// some are refused; nil when all are accepted.
	verdicts chan bool

	mu      sync.Mutex
	ids     map[string]bool
	seen    int
	dups    int
	refused int       // deliveries refused
	last    time.Time // last receipt
	// outOfOrder counts the receipts whose message_id, read as a hex
	// number, is below one received before: ids are issued in increasing
	// order, so with an SMSC that sends each receipt at once it counts
	// the messages that reached it out of the order submitted.
	outOfOrder int
	top        uint64
}

func collect(c *esmetest.Client, n int, verdicts chan bool) *receiptLog {
	l := &receiptLog{more: make(chan struct{}, 1), done: make(chan struct{}), ids: make(map[string]bool, n), verdicts: verdicts}
	go func() {
		defer close(l.done)
		for d := range c.Deliveries() {
			now := time.Now()
			l.mu.Lock()
			if l.verdicts != nil && !<-l.verdicts {
				l.refused++
				l.mu.Unlock()
				continue
			}
			l.seen++
			if l.ids[d.ReceiptID] {
				l.dups++
			}
			l.ids[d.ReceiptID] = true
			if n, err := strconv.ParseUint(d.ReceiptID, 16, 64); err == nil {
				if n < l.top {
					l.outOfOrder++
				}
				l.top = max(l.top, n)
			}
			l.last = now
			l.mu.Unlock()
			select {
			case l.more <- struct{}{}:
			default:
			}
		}
	}()
	return l
}

// waitFor waits until n receipts arrived, for at most d; it reports
// whether they did.
func (l *receiptLog) waitFor(ctx context.Context, n int, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		l.mu.Lock()
		seen := l.seen
		l.mu.Unlock()
		if seen >= n {
			return true
		}
		select {
		case <-l.more:
		case <-l.done:
			return false
		case <-t.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// matched counts the receipts whose id is one the run was given.
func (r *benchRun) matched() int {
	r.res.mu.Lock()
	defer r.res.mu.Unlock()
	r.rcpt.mu.Lock()
	defer r.rcpt.mu.Unlock()
	n := 0
	for id := range r.rcpt.ids {
		if r.res.issued[id] {
			n++
		}
	}
	return n
}

// refusing returns the DeliverStatus of -refuse-every and -refuse-first.
// It runs on the client's reader, before the delivery is handed on, and
// tells collect of each verdict in that order.
func refusing(o benchOptions, verdicts chan<- bool) func(pdu.Frame) pdu.Status {
	first := []byte(benchDestination(0))
	n := 0
	return func(f pdu.Frame) pdu.Status {
		n++
		refuse := o.refuseEvery > 0 && n%o.refuseEvery == 0
		if o.refuseFirst && !refuse {
			var sm pdu.SM
			refuse = pdu.ParseSM(f.Body(), &sm) == nil && bytes.Equal(sm.SourceAddr, first)
		}
		verdicts <- !refuse
		if refuse {
			return pdu.StatusXTAppn
		}
		return pdu.StatusOK
	}
}

// owed is how many receipts the run waits for: one per accepted message,
// but for the first with -refuse-first.
func (r *benchRun) owed() int {
	r.res.mu.Lock()
	defer r.res.mu.Unlock()
	if r.o.refuseFirst && r.res.firstID != "" {
		return r.res.accepted - 1
	}
	return r.res.accepted
}

func (r *benchRun) refusedDeliveries() int {
	r.rcpt.mu.Lock()
	defer r.rcpt.mu.Unlock()
	return r.rcpt.refused
}
