package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
)

// benchResult is what a load run saw of its responses.
type benchResult struct {
	mu        sync.Mutex
	accepted  int
	refused   map[pdu.Status]int
	failed    int // no response: connection lost or timeout
	latencies []time.Duration
	issued    map[string]bool
	firstID   string    // the first message's id, once accepted
	last      time.Time // last response
}

func (r *benchResult) record(start time.Time, first bool, resp esmetest.Resp, err error) int {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = now
	switch {
	case err != nil:
		r.failed++
	case resp.Status != pdu.StatusOK:
		r.refused[resp.Status]++
	default:
		r.accepted++
		r.latencies = append(r.latencies, now.Sub(start))
		r.issued[resp.MessageID] = true
		if first {
			r.firstID = resp.MessageID
		}
	}
	return r.accepted + total(r.refused) + r.failed
}

// benchFigures are the numbers a run is judged by.
type benchFigures struct {
	accepted, refused, failed int
	receipts, matched, dups   int
	outOfOrder                int
	acceptPerSec              float64 // accepted over first submit to last response
	seconds, msgPerSec        float64
	sendRate                  float64
	p50, p99                  time.Duration
	loadCPUPerMsg             float64 // µs
	procTicks                 uint64
	procCPUPerMsg             float64 // µs
	rssKB, hwmKB              uint64
}

func (r *benchRun) figures() benchFigures {
	var f benchFigures
	f.matched = r.matched()
	r.res.mu.Lock()
	f.accepted, f.refused, f.failed = r.res.accepted, total(r.res.refused), r.res.failed
	slices.Sort(r.res.latencies)
	if len(r.res.latencies) > 0 {
		f.p50 = quantile(r.res.latencies, 0.50)
		f.p99 = quantile(r.res.latencies, 0.99)
	}
	r.res.mu.Unlock()
	r.rcpt.mu.Lock()
	f.receipts, f.dups, f.outOfOrder = r.rcpt.seen, r.rcpt.dups, r.rcpt.outOfOrder
	r.rcpt.mu.Unlock()
	r.res.mu.Lock()
	if resp := r.res.last.Sub(r.start); resp > 0 {
		f.acceptPerSec = float64(f.accepted) / resp.Seconds()
	}
	r.res.mu.Unlock()
	el := r.elapsed()
	f.seconds = el.Seconds()
	if el > 0 {
		f.msgPerSec = float64(f.accepted) / el.Seconds()
	}
	if r.sendTime > 0 {
		f.sendRate = float64(r.sent) / r.sendTime.Seconds()
	}
	if f.accepted > 0 {
		f.loadCPUPerMsg = float64(r.cpuLoad.Microseconds()) / float64(f.accepted)
	}
	if r.o.cpuPID > 0 && r.procErr == nil {
		f.procTicks = r.after.ticks - r.before.ticks
		if f.accepted > 0 {
			f.procCPUPerMsg = float64(f.procTicks) * 1e6 / float64(r.o.clkTck) / float64(f.accepted)
		}
		f.rssKB, f.hwmKB = r.after.rssKB, r.after.hwmKB
	}
	return f
}

// report prints what the run saw.
func (r *benchRun) report(w io.Writer) {
	f := r.figures()
	fmt.Fprintf(w, "\nsent %d submit_sm in %s over window %d", r.sent, r.sendTime.Round(time.Millisecond), r.o.window)
	if r.o.rate > 0 {
		fmt.Fprintf(w, ", paced at %.0f/s (achieved %.0f/s)", r.o.rate, f.sendRate)
	}
	fmt.Fprintln(w)
	if r.o.rate > 0 && r.windowWaits > 0 {
		fmt.Fprintf(w, "  window full           %d submits waited for a slot, went out late, and their wait is not in the latency below\n", r.windowWaits)
	}
	fmt.Fprintf(w, "  accepted (ESME_ROK)   %d\n", f.accepted)
	r.res.mu.Lock()
	for st, k := range r.res.refused {
		fmt.Fprintf(w, "  refused 0x%08x    %d (%s)\n", uint32(st), k, st.Error())
	}
	r.res.mu.Unlock()
	if f.failed > 0 {
		fmt.Fprintf(w, "  without answer        %d\n", f.failed)
	}
	if r.o.receipts {
		fmt.Fprintf(w, "  receipts received     %d\n", f.receipts)
		fmt.Fprintf(w, "  receipts matched      %d of %d accepted (by the message_id the client was given)\n", f.matched, f.accepted)
		if f.dups > 0 {
			fmt.Fprintf(w, "  duplicate receipts    %d\n", f.dups)
		}
		if r.o.refuseEvery > 0 || r.o.refuseFirst {
			fmt.Fprintf(w, "  deliveries refused    %d (ESME_RX_T_APPN; refused receipts owed: %d)\n", r.refusedDeliveries(), r.owed())
		}
	}
	fmt.Fprintf(w, "  throughput            %.0f msg/s (%d in %s, first submit to last response or receipt)\n",
		f.msgPerSec, f.accepted, (time.Duration(f.seconds * float64(time.Second))).Round(time.Millisecond))
	if f.accepted > 0 {
		fmt.Fprintf(w, "  submit_sm_resp p50    %s\n", f.p50)
		fmt.Fprintf(w, "  submit_sm_resp p99    %s\n", f.p99)
		fmt.Fprintf(w, "  load generator CPU    %.1f µs/msg\n", f.loadCPUPerMsg)
	}
	switch {
	case r.o.cpuPID <= 0:
	case r.procErr != nil:
		fmt.Fprintf(w, "  process %d: %v\n", r.o.cpuPID, r.procErr)
	default:
		fmt.Fprintf(w, "  CPU of pid %-10d %.1f µs/msg (%d ticks of 1/%d s, utime+stime)\n",
			r.o.cpuPID, f.procCPUPerMsg, f.procTicks, r.o.clkTck)
		fmt.Fprintf(w, "  RSS of pid %-10d %.1f MB (peak %.1f MB)\n", r.o.cpuPID, mbOf(f.rssKB), mbOf(f.hwmKB))
	}
	if r.o.summary {
		fmt.Fprintln(w, r.summaryLine(f))
	}
}

// summaryLine is the run's figures as one line of key=value pairs;
// durations in µs, memory in kB, -1 for what was not measured.
func (r *benchRun) summaryLine(f benchFigures) string {
	ticks, cpu, rss, hwm := "-1", "-1", "-1", "-1"
	if r.o.cpuPID > 0 && r.procErr == nil {
		ticks = strconv.FormatUint(f.procTicks, 10)
		cpu = strconv.FormatFloat(f.procCPUPerMsg, 'f', 2, 64)
		rss = strconv.FormatUint(f.rssKB, 10)
		hwm = strconv.FormatUint(f.hwmKB, 10)
	}
	label := r.o.label
	if label == "" {
		label = "-"
	}
	return fmt.Sprintf("summary label=%s n=%d sent=%d accepted=%d refused=%d failed=%d receipts=%d matched=%d dups=%d "+
		"seconds=%.3f msg_per_s=%.0f send_rate=%.0f p50_us=%d p99_us=%d load_cpu_us_per_msg=%.2f "+
		"window_waits=%d cpu_ticks=%s cpu_us_per_msg=%s rss_kb=%s hwm_kb=%s accept_msg_per_s=%.0f out_of_order=%d",
		label, r.o.n, r.sent, f.accepted, f.refused, f.failed, f.receipts, f.matched, f.dups,
		f.seconds, f.msgPerSec, f.sendRate, f.p50.Microseconds(), f.p99.Microseconds(), f.loadCPUPerMsg,
		r.windowWaits, ticks, cpu, rss, hwm, f.acceptPerSec, f.outOfOrder)
}

// check is the exit status: an error when nothing was accepted or, with
// -strict, when a submit went unsent or unanswered or a receipt is
// missing. Submits refused with an error status are counted and printed,
// not failed: they are an answer.
func (r *benchRun) check() error {
	f := r.figures()
	switch {
	case f.accepted == 0:
		return errors.New("no message was accepted")
	case !r.o.strict:
		return nil
	case r.sent < r.o.n:
		return fmt.Errorf("%d of %d submits sent", r.sent, r.o.n)
	case f.failed > 0:
		return fmt.Errorf("%d of %d submits without answer", f.failed, r.o.n)
	case r.o.receipts && (!r.complete || f.matched < r.owed()):
		return fmt.Errorf("receipts: %d received, %d matched, of %d accepted (%d owed)", f.receipts, f.matched, f.accepted, r.owed())
	case r.o.cpuPID > 0 && r.procErr != nil:
		return fmt.Errorf("process %d: %w", r.o.cpuPID, r.procErr)
	}
	return nil
}

func total(m map[pdu.Status]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q * float64(len(sorted)-1))
	return sorted[i].Round(time.Microsecond)
}
