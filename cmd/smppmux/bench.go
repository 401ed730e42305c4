package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
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

// benchDestination is the destination of message i: a receipt comes from
// the destination of its message.
func benchDestination(i int) string { return fmt.Sprintf("4477%08d", i) }
