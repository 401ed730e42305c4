package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

const simUsage = `usage: smppmux sim [flags]

Runs a simulated SMSC until SIGINT or SIGTERM: every submit_sm is
accepted, and a delivery receipt goes back for each that asks for one.
SIGUSR1 prints its counters; so does the end.

flags:
`

// sim runs a simulated SMSC until ctx is done: every submit_sm accepted,
// a delivery receipt for each that asks for one. SIGUSR1 prints its
// counters; so does the end.
func sim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("smppmux sim", simUsage)
	listen := fs.String("listen", "127.0.0.1:2776", "address to listen on")
	name := fs.String("name", "sim", "name printed in the summary")
	systemID := fs.String("system-id", "", "only accept binds with this system_id (any when empty)")
	password := fs.String("password", "", "password required with -system-id")
	delay := fs.Duration("receipt-delay", 0, "delay between submit_sm_resp and the receipt")
	respDelay := fs.Duration("resp-delay", 0, "delay before each submit_sm_resp, as a real SMSC takes")
	idFormat := fs.String("id-format", "hex", "message ids issued: hex or decimal")
	maxTPS := fs.Int("max-tps", 0, "accept at most this many submits per second, answering ESME_RTHROTTLED above it, as a carrier does (0: no limit)")
	quickAck := fs.Bool("quickack", false, "acknowledge what is read at once (TCP_QUICKACK), as SMSCs that serve clients with Nagle on without delay do")
	hold := fs.Bool("hold-receipts", false, "keep each receipt until a deliver_sm_resp ESME_ROK answers it, and send it again on another session when its own ends first, as a carrier does")
	if err := parseArgs(fs, args, 0, stdout, stderr); err != nil {
		return err
	}
	cfg := smsctest.Config{
		SystemID:       *systemID,
		Password:       *password,
		ReceiptDelay:   *delay,
		QuickAck:       *quickAck,
		DiscardRecords: true,
		HoldReceipts:   *hold,
	}
	if *maxTPS > 0 || *respDelay > 0 {
		// A carrier's limit allows little burst: a twentieth of a second.
		var lim *rate.Limiter
		if *maxTPS > 0 {
			lim = rate.NewLimiter(rate.Limit(*maxTPS), max(1, *maxTPS/20))
		}
		cfg.Submit = func(*smsctest.SubmitRequest) smsctest.Reply {
			if lim != nil && !lim.Allow() {
				return smsctest.Reply{Status: pdu.StatusThrottled, Delay: *respDelay}
			}
			return smsctest.Reply{Delay: *respDelay}
		}
	}
	switch *idFormat {
	case "hex":
	case "decimal":
		cfg.IDFormat = func(n uint64) string { return strconv.FormatUint(n, 10) }
	default:
		return fmt.Errorf("-id-format: %q is neither hex nor decimal", *idFormat)
	}
	l, err := listenTCP(*listen)
	if err != nil {
		return err
	}
	s := smsctest.NewServerOn(l, cfg)
	fmt.Fprintf(stdout, "%s: simulated SMSC listening on %s\n", *name, s.Addr())
	report := func() {
		fmt.Fprintf(stdout, "%s: received %d, accepted %d, receipts acknowledged %d (at %s)\n",
			*name, s.Received(), s.Accepted(), s.ReceiptsAcked(), time.Now().Format("15:04:05.000"))
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	for {
		select {
		case <-usr1:
			report()
			continue
		case <-ctx.Done():
		}
		break
	}
	s.Close()
	report()
	return nil
}
