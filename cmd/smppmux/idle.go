package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
)

const (
	// idleSpareFiles are the descriptors kept for everything but the
	// connections: standard streams, the runtime's poller, resolvers.
	idleSpareFiles = 64
	// idleUnbindTimeout bounds the unbind exchange at the end.
	idleUnbindTimeout = 5 * time.Second
	// idleWriteTimeout bounds one write: a bind, an answer, an unbind.
	idleWriteTimeout = 5 * time.Second
	// Sequence numbers of the only two requests an idle connection sends.
	idleBindSeq   = 1
	idleUnbindSeq = 2
)

const idleUsage = `usage: smppmux idle [flags]

Opens -n connections, binds each (at most -concurrency binds in flight)
and keeps them bound and idle, to see what many quiet clients cost the
server. It prints "bound N" once every bind is answered, holds the binds
for -hold (0: until SIGINT or SIGTERM), then unbinds and closes them all.

Each connection answers enquire_link and unbind and sends nothing on its
own. deliver_sm and data_sm are answered ESME_RX_T_APPN, so receipts and
MO messages stay with the server for a real client.

The soft limit on open files is raised to the hard limit; -n plus 64 must
fit under it. It exits non-zero when a bind failed or a held connection
was closed by the server.

flags:
`

// idleOptions is a parsed smppmux idle command line.
type idleOptions struct {
	addr, systemID, password string
	bind                     pdu.ID
	n, concurrency, progress int
	hold, timeout            time.Duration
}

// idleConn is one bound connection. Its goroutine reads; writes (answers
// from that goroutine, the unbind at the end) are serialised by wmu.
type idleConn struct {
	conn net.Conn
	hdr  [pdu.HeaderLen]byte // used by the reading goroutine only
	wmu  sync.Mutex
}

// bindResult is the outcome of one connection's bind.
type bindResult struct {
	c   *idleConn // nil when err is set
	err error
}

// bindRefused is a bind answered with an error status.
type bindRefused struct{ status pdu.Status }

func (e *bindRefused) Error() string { return "bind refused: " + statusText(e.status) }

// idleRun is one run of the idle command. Goroutines: one per connection,
// started through wg, which binds and then reads until the connection
// ends; a connection's goroutine is its only reader.
type idleRun struct {
	o       idleOptions
	sem     chan struct{} // binds in flight
	results chan bindResult
	wg      sync.WaitGroup
	closing atomic.Bool  // set before the unbinds go out
	unbound atomic.Int64 // unbind_resp received at the end

	mu   sync.Mutex
	lost map[string]int // connections closed while held, by reason
}

// idle opens and binds many connections and holds them idle.
func idle(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseIdle(args, stdout, stderr)
	if err != nil {
		return err
	}
	limit, err := raiseNoFile(uint64(o.n) + idleSpareFiles)
	if err != nil {
		return err
	}
	r := &idleRun{
		o:       o,
		sem:     make(chan struct{}, o.concurrency),
		results: make(chan bindResult),
		lost:    map[string]int{},
	}
	fmt.Fprintf(stdout, "binding %d connections to %s as system_id %s (%s), %d at a time (open files limit %d)\n",
		o.n, o.addr, o.systemID, pdu.IDName(o.bind), o.concurrency, limit)

	start := time.Now()
	for range o.n {
		r.wg.Go(func() { r.connect(ctx) })
	}
	var conns []*idleConn
	failed := map[string]int{}
	interrupted := 0
	for i := 1; i <= o.n; i++ {
		res := <-r.results
		switch {
		case res.err == nil:
			conns = append(conns, res.c)
		case ctx.Err() != nil && errors.Is(res.err, ctx.Err()):
			interrupted++
		default:
			failed[failReason(res.err)]++
		}
		if o.progress > 0 && i%o.progress == 0 && i < o.n {
			fmt.Fprintf(stdout, "  %d/%d answered: %d ok, %d failed\n", i, o.n, len(conns), sumCounts(failed))
		}
	}
	nfailed := sumCounts(failed)
	fmt.Fprintf(stdout, "bound %d in %s", len(conns), time.Since(start).Round(time.Millisecond))
	if nfailed+interrupted > 0 {
		fmt.Fprintf(stdout, " (of %d: %d failed, %d not attempted)", o.n, nfailed, interrupted)
	}
	fmt.Fprintln(stdout)
	printCounts(stdout, failed)

	// Every goroutine left is a bound connection's reader: when they are
	// all gone, the server closed every connection.
	allGone := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(allGone)
	}()
	if len(conns) > 0 && ctx.Err() == nil {
		r.holdUntil(ctx, len(conns), allGone, stdout)
	}
	r.closeAll(conns)
	<-allGone

	r.mu.Lock()
	lost := maps.Clone(r.lost)
	r.mu.Unlock()
	nlost := sumCounts(lost)
	unbound := int(r.unbound.Load())
	fmt.Fprintf(stdout, "closed %d connections: %d unbound, %d without unbind_resp, %d closed by the server while held\n",
		len(conns), unbound, len(conns)-unbound-nlost, nlost)
	printCounts(stdout, lost)

	switch {
	case nfailed > 0:
		return fmt.Errorf("idle: %d of %d binds failed", nfailed, o.n)
	case interrupted > 0:
		return fmt.Errorf("idle: interrupted with %d of %d binds not attempted", interrupted, o.n)
	case nlost > 0:
		return fmt.Errorf("idle: %d of %d bound connections were closed by the server while held", nlost, len(conns))
	}
	return nil
}

// holdUntil waits for -hold, ctx or the end of every connection.
func (r *idleRun) holdUntil(ctx context.Context, n int, allGone <-chan struct{}, stdout io.Writer) {
	var expired <-chan time.Time
	if r.o.hold > 0 {
		t := time.NewTimer(r.o.hold)
		defer t.Stop()
		expired = t.C
		fmt.Fprintf(stdout, "holding %d binds for %s\n", n, r.o.hold)
	} else {
		fmt.Fprintf(stdout, "holding %d binds until interrupted\n", n)
	}
	select {
	case <-expired:
	case <-ctx.Done():
	case <-allGone:
		fmt.Fprintln(stdout, "every connection was closed by the server")
	}
}

// connect binds one connection, reports it, then serves it until it ends.
func (r *idleRun) connect(ctx context.Context) {
	c, err := r.bind(ctx)
	r.results <- bindResult{c: c, err: err}
	if err == nil {
		r.serve(c)
	}
}

// bind dials and binds within -timeout, with at most -concurrency binds
// in flight.
func (r *idleRun) bind(ctx context.Context) (*idleConn, error) {
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-r.sem }()

	dctx, cancel := context.WithTimeout(ctx, r.o.timeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(dctx, "tcp", r.o.addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	c := &idleConn{conn: nc}
	dl, _ := dctx.Deadline()
	_ = nc.SetDeadline(dl)
	// An interrupt ends a bind in flight at once.
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	err = c.exchangeBind(r.o)
	if !stop() {
		err = ctx.Err()
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

// exchangeBind sends the bind and reads its response.
func (c *idleConn) exchangeBind(o idleOptions) error {
	req := pdu.Bind(o.bind, idleBindSeq, pdu.BindFields{
		SystemID: o.systemID, Password: o.password, Version: pdu.InterfaceVersion,
	})
	if _, err := c.conn.Write(req); err != nil {
		return err
	}
	h, err := c.readFrame()
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return errors.New("connection closed before the bind response")
		}
		return err
	}
	switch {
	case h.ID != pdu.RespID(o.bind) && h.ID != pdu.GenericNack:
		return fmt.Errorf("%s instead of the bind response", pdu.IDName(h.ID))
	case h.Status != pdu.StatusOK:
		return &bindRefused{status: h.Status}
	case h.ID == pdu.GenericNack:
		return errors.New("generic_nack with ESME_ROK to the bind")
	}
	return nil
}

// serve answers the server until the connection ends: unbind_resp after
// closeAll, unbind or close by the server, or a read error.
func (r *idleRun) serve(c *idleConn) {
	defer c.conn.Close()
	for {
		h, err := c.readFrame()
		if err != nil {
			if !r.closing.Load() {
				r.lose(closeReason(err))
			}
			return
		}
		switch h.ID {
		case pdu.EnquireLink:
			c.write(pdu.Empty(pdu.EnquireLinkResp, pdu.StatusOK, h.Seq))
		case pdu.Unbind:
			c.write(pdu.Empty(pdu.UnbindResp, pdu.StatusOK, h.Seq))
			if !r.closing.Load() {
				r.lose("unbound by the server")
			}
			return
		case pdu.UnbindResp:
			if h.Seq == idleUnbindSeq && r.closing.Load() {
				r.unbound.Add(1)
				return
			}
		case pdu.DeliverSM, pdu.DataSM:
			// Not taken: it stays with the server for a real client.
			c.write(pdu.Empty(pdu.RespID(h.ID), pdu.StatusXTAppn, h.Seq))
		default:
			if !pdu.IsResponse(h.ID) {
				c.write(pdu.Empty(pdu.GenericNack, pdu.StatusInvCmdID, h.Seq))
			}
		}
	}
}

// closeAll sends unbind on every connection; each connection's goroutine
// waits up to idleUnbindTimeout for unbind_resp and closes it.
func (r *idleRun) closeAll(conns []*idleConn) {
	r.closing.Store(true)
	dl := time.Now().Add(idleUnbindTimeout)
	req := pdu.Empty(pdu.Unbind, pdu.StatusOK, idleUnbindSeq)
	for _, c := range conns {
		_ = c.conn.SetReadDeadline(dl)
		c.write(req)
	}
}

func (r *idleRun) lose(reason string) {
	r.mu.Lock()
	r.lost[reason]++
	r.mu.Unlock()
}

// readFrame reads the next PDU header and skips its body: an idle
// connection needs no more, and keeps no buffer of its own.
func (c *idleConn) readFrame() (pdu.Header, error) {
	if _, err := io.ReadFull(c.conn, c.hdr[:]); err != nil {
		return pdu.Header{}, err
	}
	h := pdu.ParseHeader(c.hdr[:])
	if h.Len < pdu.HeaderLen || h.Len > pdu.DefaultMaxLen {
		return h, &pdu.LengthError{Header: h, Max: pdu.DefaultMaxLen}
	}
	if _, err := io.CopyN(io.Discard, c.conn, int64(h.Len-pdu.HeaderLen)); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return h, err
	}
	return h, nil
}

// write sends one PDU; an error shows up as the next read's.
func (c *idleConn) write(b []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(idleWriteTimeout))
	_, _ = c.conn.Write(b)
}

// failReason names a failed bind for the summary: a bounded set of
// strings, never an address.
func failReason(err error) string {
	var br *bindRefused
	var le *pdu.LengthError
	var oe *net.OpError
	switch {
	case errors.As(err, &br):
		return br.Error()
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return "no connection or no bind response within -timeout"
	case errors.As(err, &le):
		return "bad command_length in the bind response"
	case errors.As(err, &oe):
		return oe.Op + ": " + oe.Err.Error()
	}
	return err.Error()
}

// closeReason names why a held connection ended.
func closeReason(err error) string {
	var le *pdu.LengthError
	var oe *net.OpError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed by the server"
	case errors.As(err, &le):
		return "bad command_length from the server"
	case errors.As(err, &oe):
		return oe.Op + ": " + oe.Err.Error()
	}
	return err.Error()
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// printCounts prints reason counts, most frequent first.
func printCounts(w io.Writer, m map[string]int) {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		if a < b {
			return -1
		}
		return 1
	})
	for _, k := range keys {
		fmt.Fprintf(w, "  %7d  %s\n", m[k], k)
	}
}

// raiseNoFile raises the soft limit on open files to the hard limit and
// returns it; it fails when need descriptors do not fit under it.
func raiseNoFile(need uint64) (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("idle: reading the open files limit: %w", err)
	}
	if need > rl.Max {
		return rl.Max, fmt.Errorf("idle: %d connections need %d open files; the hard limit (RLIMIT_NOFILE) is %d: lower -n or raise it (ulimit -Hn, LimitNOFILE=)",
			need-idleSpareFiles, need, rl.Max)
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return 0, fmt.Errorf("idle: raising the open files limit to %d: %w", rl.Max, err)
		}
	}
	return rl.Cur, nil
}

// parseIdle reads and checks the command line; usage and flag errors go
// to stderr.
func parseIdle(args []string, stdout, stderr io.Writer) (idleOptions, error) {
	fs := newFlagSet("smppmux idle", idleUsage)
	addr := fs.String("addr", "127.0.0.1:2775", "SMPP `host:port` to bind to")
	systemID := fs.String("system-id", "shop", "system_id to bind with")
	password := fs.String("password", "secret", "bind password")
	bind := fs.String("bind", "trx", "trx (bind_transceiver), tx (bind_transmitter) or rx (bind_receiver)")
	n := fs.Int("n", 10000, "connections to open and bind")
	concurrency := fs.Int("concurrency", 200, "binds in flight at once")
	hold := fs.Duration("hold", 0, "how long to hold the binds once all are answered (0: until SIGINT or SIGTERM)")
	timeout := fs.Duration("timeout", 10*time.Second, "connect plus bind, per connection")
	progress := fs.Int("progress", 1000, "print a line every this many bind responses (0: never)")
	if err := parseArgs(fs, args, 0, stdout, stderr); err != nil {
		return idleOptions{}, err
	}
	o := idleOptions{
		addr: *addr, systemID: *systemID, password: *password,
		n: *n, concurrency: *concurrency, progress: *progress,
		hold: *hold, timeout: *timeout,
	}
	switch {
	case o.n <= 0:
		return o, errors.New("idle: -n must be positive")
	case o.concurrency <= 0:
		return o, errors.New("idle: -concurrency must be positive")
	case o.hold < 0:
		return o, errors.New("idle: -hold must not be negative")
	case o.timeout <= 0:
		return o, errors.New("idle: -timeout must be positive")
	}
	if err := checkCredentials("idle", o.systemID, o.password); err != nil {
		return o, err
	}
	switch *bind {
	case "trx":
		o.bind = pdu.BindTransceiver
	case "tx":
		o.bind = pdu.BindTransmitter
	case "rx":
		o.bind = pdu.BindReceiver
	default:
		return o, fmt.Errorf("idle: -bind %q is neither trx, tx nor rx", *bind)
	}
	return o, nil
}
