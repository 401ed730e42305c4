package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
)

// benchResult is what a load run saw.
type benchResult struct {
	mu        sync.Mutex
	accepted  int
	refused   map[pdu.Status]int
	failed    int // no response: connection lost or timeout
	latencies []time.Duration
	issued    map[string]bool
}

func (r *benchResult) record(start time.Time, resp esmetest.Resp, err error) {
	d := time.Since(start)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err != nil:
		r.failed++
	case resp.Status != pdu.StatusOK:
		r.refused[resp.Status]++
	default:
		r.accepted++
		r.latencies = append(r.latencies, d)
		r.issued[resp.MessageID] = true
	}
}

// bench binds as an ESME, submits -n messages with a window, then waits
// for their receipts and prints a summary.
func bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("smppmux bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:2775", "SMPP address to bind to")
	systemID := fs.String("system-id", "shop", "system_id")
	password := fs.String("password", "secret", "password")
	n := fs.Int("n", 10000, "messages to send")
	window := fs.Int("window", 50, "outstanding submits")
	receipts := fs.Bool("receipts", true, "ask for delivery receipts and wait for them")
	wait := fs.Duration("receipt-timeout", 30*time.Second, "how long to wait for receipts after the last response")
	progress := fs.Int("progress", 0, "print a line every this many responses (0: never)")
	rate := fs.Float64("rate", 0, "submits per second (0: as fast as the window allows)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n <= 0 || *window <= 0 {
		return errors.New("-n and -window must be positive")
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	c, err := esmetest.Dial(dctx, esmetest.Config{
		Addr: *addr, SystemID: *systemID, Password: *password,
		Bind: pdu.BindTransceiver, Window: *window, DeliveryBuffer: 1 << 16,
	})
	cancel()
	if err != nil {
		return fmt.Errorf("bind to %s: %w", *addr, err)
	}
	defer c.Close()

	var rd byte
	if *receipts {
		rd = 1
	}
	res := &benchResult{refused: map[pdu.Status]int{}, issued: make(map[string]bool, *n)}
	var got sync.Map // receipt ids seen
	var receiptsSeen, receiptsMatched, receiptsDup int
	var rmu sync.Mutex
	rdone := make(chan struct{})
	go func() {
		defer close(rdone)
		for d := range c.Deliveries() {
			rmu.Lock()
			receiptsSeen++
			if _, dup := got.LoadOrStore(d.ReceiptID, true); dup {
				receiptsDup++
			}
			rmu.Unlock()
		}
	}()

	var wg sync.WaitGroup
	var answered int
	start := time.Now()
	sent := 0
	for i := 0; i < *n && ctx.Err() == nil; i++ {
		if *rate > 0 {
			// Pace against the start so that pauses do not accumulate.
			if d := time.Until(start.Add(time.Duration(float64(i) / *rate * float64(time.Second)))); d > 0 {
				time.Sleep(d)
			}
		}
		body := esmetest.SubmitBody("Bench", fmt.Sprintf("4477%08d", i), []byte("smppmux bench message"), rd, nil)
		t0 := time.Now()
		wg.Add(1)
		err := c.SubmitAsync(body, func(r esmetest.Resp, err error) {
			defer wg.Done()
			res.record(t0, r, err)
			if *progress > 0 {
				res.mu.Lock()
				answered++
				if answered%*progress == 0 {
					fmt.Fprintf(stdout, "  %6d answered: %d accepted, %d refused, %d without answer\n",
						answered, res.accepted, total(res.refused), res.failed)
				}
				res.mu.Unlock()
			}
		})
		if err != nil {
			wg.Done()
			return fmt.Errorf("connection to smppmux lost after %d submits: %w", sent, err)
		}
		sent++
	}
	wg.Wait()
	elapsed := time.Since(start)

	if *receipts && res.accepted > 0 {
		deadline := time.NewTimer(*wait)
		tick := time.NewTicker(50 * time.Millisecond)
	waitLoop:
		for {
			rmu.Lock()
			seen := receiptsSeen
			rmu.Unlock()
			if seen >= res.accepted {
				break
			}
			select {
			case <-tick.C:
			case <-deadline.C:
				break waitLoop
			case <-ctx.Done():
				break waitLoop
			}
		}
		tick.Stop()
		deadline.Stop()
	}
	rmu.Lock()
	got.Range(func(k, _ any) bool {
		if res.issued[k.(string)] {
			receiptsMatched++
		}
		return true
	})
	seen, dups := receiptsSeen, receiptsDup
	rmu.Unlock()

	slices.Sort(res.latencies)
	fmt.Fprintf(stdout, "\nsent %d submit_sm in %s over window %d\n", sent, elapsed.Round(time.Millisecond), *window)
	fmt.Fprintf(stdout, "  accepted (ESME_ROK)   %d\n", res.accepted)
	for st, k := range res.refused {
		fmt.Fprintf(stdout, "  refused 0x%08x    %d (%s)\n", uint32(st), k, st.Error())
	}
	if res.failed > 0 {
		fmt.Fprintf(stdout, "  without answer        %d\n", res.failed)
	}
	if *receipts {
		fmt.Fprintf(stdout, "  receipts received     %d\n", seen)
		fmt.Fprintf(stdout, "  receipts matched      %d of %d accepted (by the message_id the client was given)\n", receiptsMatched, res.accepted)
		if dups > 0 {
			fmt.Fprintf(stdout, "  duplicate receipts    %d\n", dups)
		}
	}
	fmt.Fprintf(stdout, "  throughput            %.0f msg/s\n", float64(res.accepted)/elapsed.Seconds())
	if len(res.latencies) > 0 {
		fmt.Fprintf(stdout, "  submit_sm_resp p50    %s\n", quantile(res.latencies, 0.50))
		fmt.Fprintf(stdout, "  submit_sm_resp p99    %s\n", quantile(res.latencies, 0.99))
	}
	uctx, ucancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = c.Unbind(uctx)
	ucancel()
	<-rdone
	if res.accepted == 0 {
		return errors.New("no message was accepted")
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
