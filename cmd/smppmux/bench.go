package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
)

const (
	// benchBindTimeout bounds the connect and the bind.
	benchBindTimeout = 10 * time.Second
	// benchBarrierTimeout bounds the enquire_link that ends a run.
	benchBarrierTimeout = 10 * time.Second
	// benchUnbindTimeout bounds the unbind at the end.
	benchUnbindTimeout = 5 * time.Second
	// benchPaceQuantum is the shortest pause of a paced run: submits due
	// meanwhile go out together, so the rate does not rest on how
	// precisely a sleep of one message's interval wakes up.
	benchPaceQuantum = time.Millisecond
)

const benchUsage = `usage: smppmux bench [flags]

Binds as an ESME (to smppmux, to an SMSC, or to anything relaying SMPP),
submits -n submit_sm over a window of -window outstanding requests, waits
for every submit_sm_resp and, with -receipts, for the delivery receipt of
every accepted message, then prints what it saw:

  throughput   accepted messages per second, from the first submit to the
               last response or receipt, whichever came later
  p50, p99     submit_sm_resp latency, from the moment the submit is queued
               to its connection's writer to the moment its response is read
  load CPU     this process's own CPU time per message

With -cpu-pid, the user+system CPU time of that process (utime+stime of
/proc/PID/stat, every thread) is read just before the first submit and
again at the end, after the last receipt and an enquire_link round trip
that makes the process read every deliver_sm_resp sent before it; the
difference per accepted message is printed, with the process's resident
memory (VmRSS, and VmHWM, its peak) at the end.

-rate paces the submits against the start: those due by now go out
together, after pauses of at least 1 ms.

-refuse-every N answers every Nth receipt delivered (counting retries)
with ESME_RX_T_APPN; -refuse-first answers every delivery of the first
message's receipt so. A refused receipt is not counted as received: the
run waits for the receipts still owed, those of -refuse-first excepted.

-summary adds one line of key=value pairs for scripts, starting with
"summary ". -strict exits non-zero unless every submit was sent and
answered and every accepted message's receipt came back matched to the
message_id it was given; submits refused with an error status are
counted, not failed.

flags:
`

// benchOptions is a parsed smppmux bench command line.
type benchOptions struct {
	addr, systemID, password string
	n, window, progress      int
	receipts                 bool
	wait                     time.Duration
	rate                     float64
	cpuPID                   int
	clkTck                   int
	label                    string
	summary, strict          bool
	refuseEvery              int
	refuseFirst              bool
	nagle, splitWrites       bool
}

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

// procSample is a reading of a process's CPU time and memory.
type procSample struct {
	ticks     uint64 // utime+stime, in clock ticks
	rssKB     uint64 // VmRSS
	hwmKB     uint64 // VmHWM
	sampledAt time.Time
}

// readProc reads pid's CPU time from /proc/PID/stat and its memory from
// /proc/PID/status.
func readProc(pid int) (procSample, error) {
	s := procSample{sampledAt: time.Now()}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return s, err
	}
	if s.ticks, err = parseStatTicks(stat); err != nil {
		return s, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return s, err
	}
	s.rssKB = statusKB(status, "VmRSS:")
	s.hwmKB = statusKB(status, "VmHWM:")
	return s, nil
}

// parseStatTicks returns utime+stime (fields 14 and 15) of a
// /proc/PID/stat line. The command name, field 2, is in parentheses and
// may hold spaces and parentheses itself: fields are counted after the
// last ')'.
func parseStatTicks(stat []byte) (uint64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("no command name")
	}
	f := bytes.Fields(stat[i+1:]) // f[0] is field 3, the state
	const utime, stime = 14 - 3, 15 - 3
	if len(f) <= stime {
		return 0, fmt.Errorf("%d fields after the command name, want more than %d", len(f), stime)
	}
	u, err := strconv.ParseUint(string(f[utime]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("utime: %w", err)
	}
	s, err := strconv.ParseUint(string(f[stime]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stime: %w", err)
	}
	return u + s, nil
}

// statusKB returns the value in kB of a /proc/PID/status line starting
// with key, 0 when there is none.
func statusKB(status []byte, key string) uint64 {
	for line := range bytes.Lines(status) {
		if v, ok := bytes.CutPrefix(line, []byte(key)); ok {
			f := bytes.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseUint(string(f[0]), 10, 64)
				return n
			}
		}
	}
	return 0
}

// selfCPU returns this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pacer spaces submits at rate per second counted from start; a zero
// rate does not pace.
type pacer struct {
	start time.Time
	rate  float64
}

// wait returns once submit i (from 0) is due. Submits that fell behind
// go at once, so a late wake-up is caught up instead of lowering the
// rate; an early one sleeps at least benchPaceQuantum.
func (p pacer) wait(ctx context.Context, i int) {
	if p.rate <= 0 {
		return
	}
	due := p.start.Add(time.Duration(float64(i) / p.rate * float64(time.Second)))
	for ctx.Err() == nil {
		d := time.Until(due)
		if d <= 0 {
			return
		}
		time.Sleep(max(d, benchPaceQuantum))
	}
}

// benchRun is one run of the bench command.
type benchRun struct {
	o        benchOptions
	c        *esmetest.Client
	res      *benchResult
	rcpt     *receiptLog
	slots    chan struct{} // window slots, taken before a submit is queued
	start    time.Time
	sendTime time.Duration // first to last submit queued
	sent     int
	complete bool // every receipt owed arrived
	// windowWaits counts submits that waited for a window slot.
	windowWaits int
	before      procSample
	after       procSample
	procErr     error
	cpuLoad     time.Duration // this process, over the run
}

// bench binds as an ESME, submits -n messages with a window, then waits
// for their receipts and prints a summary.
func bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseBench(args, stdout, stderr)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, benchBindTimeout)
	var verdicts chan bool
	var judge func(pdu.Frame) pdu.Status
	if o.refuseEvery > 0 || o.refuseFirst {
		verdicts = make(chan bool, 1<<16)
		judge = refusing(o, verdicts)
	}
	c, err := esmetest.Dial(dctx, esmetest.Config{
		Addr: o.addr, SystemID: o.systemID, Password: o.password,
		Bind: pdu.BindTransceiver, Window: o.window, DeliveryBuffer: 1 << 16, DeliverStatus: judge,
		Nagle: o.nagle, SplitWrites: o.splitWrites,
	})
	cancel()
	if err != nil {
		return fmt.Errorf("bind to %s: %w", o.addr, err)
	}
	defer c.Close()
	r := &benchRun{
		o:     o,
		c:     c,
		res:   &benchResult{refused: map[pdu.Status]int{}, issued: make(map[string]bool, o.n)},
		rcpt:  collect(c, o.n, verdicts),
		slots: make(chan struct{}, o.window),
	}
	runErr := r.run(ctx, stdout)
	r.report(stdout)
	uctx, ucancel := context.WithTimeout(context.Background(), benchUnbindTimeout)
	_ = c.Unbind(uctx)
	ucancel()
	<-r.rcpt.done
	if runErr != nil {
		return runErr
	}
	return r.check()
}

// run sends the load and waits for what it owes: responses, receipts, and
// the process readings around them, taken even when the run breaks.
func (r *benchRun) run(ctx context.Context, stdout io.Writer) error {
	if r.o.cpuPID > 0 {
		r.before, r.procErr = readProc(r.o.cpuPID)
	}
	cpu0 := selfCPU()
	defer func() {
		r.cpuLoad = selfCPU() - cpu0
		if r.o.cpuPID > 0 && r.procErr == nil {
			r.after, r.procErr = readProc(r.o.cpuPID)
		}
		if r.procErr == nil && r.after.ticks < r.before.ticks {
			r.procErr = fmt.Errorf("CPU time went from %d to %d ticks: not the same process", r.before.ticks, r.after.ticks)
		}
	}()
	if err := r.send(ctx, stdout); err != nil {
		return err
	}
	owed := r.owed()
	r.complete = true
	if r.o.receipts && owed > 0 {
		r.complete = r.rcpt.waitFor(ctx, owed, r.o.wait)
	}
	// An enquire_link answered means every deliver_sm_resp written before
	// it was read by the peer: its work on them is inside the window.
	bctx, cancel := context.WithTimeout(ctx, benchBarrierTimeout)
	defer cancel()
	if _, err := r.c.Send(bctx, pdu.EnquireLink, nil); err != nil {
		return fmt.Errorf("enquire_link after the run: %w", err)
	}
	return ctx.Err()
}

// send submits the messages, paced if asked, and waits for every
// response.
func (r *benchRun) send(ctx context.Context, stdout io.Writer) error {
	var rd byte
	if r.o.receipts {
		rd = 1
	}
	r.start = time.Now()
	p := pacer{start: r.start, rate: r.o.rate}
	var wg sync.WaitGroup
	defer func() {
		r.sendTime = time.Since(r.start)
		wg.Wait()
	}()
	done := func(t0 time.Time, first bool) func(esmetest.Resp, error) {
		return func(resp esmetest.Resp, err error) {
			defer wg.Done()
			answered := r.res.record(t0, first, resp, err)
			<-r.slots
			if r.o.progress > 0 && answered%r.o.progress == 0 {
				r.res.mu.Lock()
				fmt.Fprintf(stdout, "  %6d answered: %d accepted, %d refused, %d without answer\n",
					answered, r.res.accepted, total(r.res.refused), r.res.failed)
				r.res.mu.Unlock()
			}
		}
	}
	for i := 0; i < r.o.n && ctx.Err() == nil; i++ {
		p.wait(ctx, i)
		body := esmetest.SubmitBody("Bench", benchDestination(i), []byte("smppmux bench message"), rd, nil)
		select {
		case r.slots <- struct{}{}:
		default:
			// The window is full: a paced submit goes out late, and its
			// wait is not in its latency.
			r.windowWaits++
			select {
			case r.slots <- struct{}{}:
			case <-r.c.Done():
			}
		}
		wg.Add(1)
		if err := r.c.SubmitAsync(body, done(time.Now(), i == 0)); err != nil {
			wg.Done()
			return fmt.Errorf("connection lost after %d submits: %w", r.sent, err)
		}
		r.sent++
	}
	return nil
}

// elapsed is the run's duration: from the first submit to the last
// response or receipt.
func (r *benchRun) elapsed() time.Duration {
	r.res.mu.Lock()
	end := r.res.last
	r.res.mu.Unlock()
	r.rcpt.mu.Lock()
	if r.rcpt.last.After(end) {
		end = r.rcpt.last
	}
	r.rcpt.mu.Unlock()
	if end.Before(r.start) {
		return 0
	}
	return end.Sub(r.start)
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

// benchFigures are the numbers a run is judged by.
type benchFigures struct {
	accepted, refused, failed int
	receipts, matched, dups   int
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
	f.receipts, f.dups = r.rcpt.seen, r.rcpt.dups
	r.rcpt.mu.Unlock()
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
		"window_waits=%d cpu_ticks=%s cpu_us_per_msg=%s rss_kb=%s hwm_kb=%s",
		label, r.o.n, r.sent, f.accepted, f.refused, f.failed, f.receipts, f.matched, f.dups,
		f.seconds, f.msgPerSec, f.sendRate, f.p50.Microseconds(), f.p99.Microseconds(), f.loadCPUPerMsg,
		r.windowWaits, ticks, cpu, rss, hwm)
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

// parseBench reads and checks the command line; usage and flag errors go
// to stderr.
func parseBench(args []string, stdout, stderr io.Writer) (benchOptions, error) {
	fs := newFlagSet("smppmux bench", benchUsage)
	var o benchOptions
	fs.StringVar(&o.addr, "addr", "127.0.0.1:2775", "SMPP `host:port` to bind to")
	fs.StringVar(&o.systemID, "system-id", "shop", "system_id")
	fs.StringVar(&o.password, "password", "secret", "password")
	fs.IntVar(&o.n, "n", 10000, "messages to send")
	fs.IntVar(&o.window, "window", 50, "outstanding submits")
	fs.BoolVar(&o.receipts, "receipts", true, "ask for delivery receipts and wait for them")
	fs.DurationVar(&o.wait, "receipt-timeout", 30*time.Second, "how long to wait for receipts after the last response")
	fs.IntVar(&o.progress, "progress", 0, "print a line every this many responses (0: never)")
	fs.Float64Var(&o.rate, "rate", 0, "submits per second (0: as fast as the window allows)")
	fs.IntVar(&o.cpuPID, "cpu-pid", 0, "measure this process's CPU time and memory over the run (0: none)")
	fs.IntVar(&o.clkTck, "clk-tck", 100, "clock ticks per second of /proc/PID/stat (getconf CLK_TCK)")
	fs.StringVar(&o.label, "label", "", "name of the run in the summary line")
	fs.BoolVar(&o.summary, "summary", false, "print a machine-readable summary line")
	fs.IntVar(&o.refuseEvery, "refuse-every", 0, "answer every `N`th receipt delivery with ESME_RX_T_APPN (0: none)")
	fs.BoolVar(&o.refuseFirst, "refuse-first", false, "answer every delivery of the first message's receipt with ESME_RX_T_APPN")
	fs.BoolVar(&o.nagle, "nagle", false, "leave Nagle's algorithm on, as legacy ESMEs often do")
	fs.BoolVar(&o.splitWrites, "split-writes", false, "write each PDU as two writes, header then body, as legacy ESMEs often do")
	fs.BoolVar(&o.strict, "strict", false, "exit non-zero unless every submit was answered and every accepted message's receipt matched")
	if err := parseArgs(fs, args, 0, stdout, stderr); err != nil {
		return o, err
	}
	switch {
	case o.n <= 0 || o.window <= 0:
		return o, errors.New("bench: -n and -window must be positive")
	case o.rate < 0:
		return o, errors.New("bench: -rate must not be negative")
	case o.clkTck <= 0:
		return o, errors.New("bench: -clk-tck must be positive")
	case o.refuseEvery < 0:
		return o, errors.New("bench: -refuse-every must not be negative")
	case bytes.ContainsAny([]byte(o.label), " \t\n="):
		return o, errors.New("bench: -label must not hold spaces or '='")
	}
	return o, checkCredentials("bench", o.systemID, o.password)
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

func mbOf(kb uint64) float64 { return float64(kb) / 1024 }

// benchDestination is the destination of message i: a receipt comes from
// the destination of its message.
func benchDestination(i int) string { return fmt.Sprintf("4477%08d", i) }

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
