package smppconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/quickack"
)

// Errors passed to response callbacks and returned by Request.
var (
	// ErrClosed means the connection closed before a response arrived,
	// after the request was written or while it was: it may or may not
	// have reached the peer.
	ErrClosed = errors.New("smpp: connection closed")
	// ErrTimeout means no response arrived within the response timeout.
	ErrTimeout = errors.New("smpp: response timeout")
	// ErrSlowConsumer means the peer did not read fast enough: the output
	// queue overflowed and the connection was closed.
	ErrSlowConsumer = errors.New("smpp: output queue full, peer not reading")
	// ErrNotSent means the connection closed before the writer took the
	// request: the peer certainly never saw it. Its NotSent method says
	// so to packages that know only the error interface. It is also
	// ErrClosed (errors.Is), for callers that ask only whether the
	// connection ended.
	ErrNotSent error = notSentError{}
)

type notSentError struct{}

func (notSentError) Error() string { return "smpp: connection closed before the request was written" }

// NotSent reports true: the request was never written.
func (notSentError) NotSent() bool { return true }

// Is reports whether target is ErrClosed: a request never written is one
// the closed connection failed.
func (notSentError) Is(target error) bool { return target == ErrClosed }

// Config holds a connection's settings. Zero values take the defaults
// shown.
type Config struct {
	MaxPDU              int           // largest command_length read; pdu.DefaultMaxLen
	WriteTimeout        time.Duration // deadline of one batched write; 10s
	Window              int           // outstanding requests sent by this side; 10
	QueueLen            int           // output queue capacity; 2*Window+256
	ResponseTimeout     time.Duration // for enquire_link; 10s
	EnquireLinkInterval time.Duration // idle time before sending enquire_link; 0 disables
	InactivityTimeout   time.Duration // idle time before closing as a dead peer; 0 disables
	// ProbeTimeout, when positive, makes a request that times out send an
	// enquire_link at once (unless one is out already): the connection is
	// Suspect until it is answered, and closed as a dead peer if it is not
	// answered within ProbeTimeout. 0 disables.
	ProbeTimeout time.Duration
	Logger       *zap.Logger
	// OnClose is called once, from the goroutine that closed the connection.
	OnClose func(r Reason, err error)
	// OnUnmatched is called, from the reader, for a response that
	// matches no pending request (a late response after a timeout, say),
	// once it was dropped.
	OnUnmatched func(f pdu.Frame)
}

func (c *Config) setDefaults() {
	if c.MaxPDU <= 0 {
		c.MaxPDU = pdu.DefaultMaxLen
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.Window <= 0 {
		c.Window = 10
	}
	if c.QueueLen <= 0 {
		c.QueueLen = 2*c.Window + 256
	}
	if c.ResponseTimeout <= 0 {
		c.ResponseTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
}

type key struct {
	id  pdu.ID
	seq uint32
}

type call struct {
	done     func(pdu.Frame, error)
	deadline time.Time
	windowed bool
	// taken says the writer took the request to write it, so the peer may
	// have it. Guarded by Conn.mu; final once the connection is closed.
	taken bool
}

type outItem struct {
	b      []byte
	call   *call // the request's, nil for what expects no response
	close  bool
	reason Reason
	err    error
}

// Conn is one SMPP connection, either side.
type Conn struct {
	nc  net.Conn
	cfg Config
	log *zap.Logger
	rd  *pdu.Reader
	// The output queue grows as PDUs are queued, so an idle connection
	// holds none of it; qsig wakes the writer.
	qmu   sync.Mutex
	queue []outItem
	spare []outItem // the writer's, reused between batches
	qsig  chan struct{}
	// drained wakes a reader waiting in waitWriter.
	drained chan struct{}
	// idle wakes WaitIdle when the last pending request is answered.
	idle chan struct{}
	done chan struct{}
	sem  chan struct{}
	wg   sync.WaitGroup

	// The reader's: responses that matched no request since the last
	// line saying so, and when that line was logged.
	strays      uint64
	strayLogged time.Time

	lastRead   atomic.Int64 // unix nanoseconds of the last PDU read
	lastResp   atomic.Int64 // unix nanoseconds of the last response read
	enquireOut atomic.Bool
	suspect    atomic.Bool // a probe is out after a request timed out
	congested  atomic.Bool // see Congested
	closing    atomic.Bool // SendAndClose was called: serve no further request
	// unbinding is the reason of an Unbind under way: the peer closing
	// once it answered (or instead) ends the connection for that reason.
	unbinding atomic.Int32

	mu        sync.Mutex
	keepalive *time.Timer
	seq       uint32
	pending   map[key]*call
	// One timer, armed at expiryAt for the earliest deadline it knows of,
	// serves the timeouts of every pending call: a response costs no
	// timer of its own.
	expiry      *time.Timer
	expiryArmed bool
	expiryAt    time.Time
	closed      bool
	reason      Reason
	closeErr    error
}

// New wraps nc. Nothing is read or written until Start.
func New(nc net.Conn, cfg Config) *Conn {
	cfg.setDefaults()
	c := &Conn{
		nc:      nc,
		cfg:     cfg,
		log:     cfg.Logger,
		rd:      pdu.NewReader(quickack.Reader(nc), cfg.MaxPDU), // no ACK held back: see package quickack
		qsig:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		sem:     make(chan struct{}, cfg.Window),
		drained: make(chan struct{}, 1),
		idle:    make(chan struct{}, 1),
		pending: make(map[key]*call),
	}
	now := time.Now().UnixNano()
	c.lastRead.Store(now)
	c.lastResp.Store(now)
	return c
}

// Run reads and dispatches PDUs in the calling goroutine, with the writer
// in a goroutine of its own, and returns when the connection is closed and
// the writer has stopped. The reader calls handle for every request PDU
// with a known command id; responses go to the callbacks of Request (one
// that matches none is logged and dropped, never answered), requests of
// unknown command ids get generic_nack ESME_RINVCMDID, and a bad
// command_length gets generic_nack ESME_RINVCMDLEN and closes the
// connection.
func (c *Conn) Run(handle func(pdu.Frame)) {
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	if d := c.keepaliveDelay(0); d > 0 {
		c.mu.Lock()
		c.keepalive = time.AfterFunc(d, c.checkAlive)
		c.mu.Unlock()
	}
	c.readLoop(handle)
	<-writerDone
}

// Start is Run in a goroutine of its own; Wait waits for it.
func (c *Conn) Start(handle func(pdu.Frame)) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.Run(handle)
	}()
}

// Done is closed when the connection is closed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Wait blocks until the goroutines of Start have returned.
func (c *Conn) Wait() { c.wg.Wait() }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// LocalAddr returns the local address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// Reason returns why the connection closed, ReasonNone while open.
func (c *Conn) Reason() Reason {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// Pending returns how many requests await a response.
func (c *Conn) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// Send queues a PDU built by the caller, typically a response. It never
// blocks: when the output queue is full the peer is not reading and the
// connection is closed as a slow consumer.
func (c *Conn) Send(b []byte) error {
	return c.enqueue(outItem{b: b})
}

// SendAndClose queues b and closes the connection with reason once b is
// written. Requests read after it are not handed to the frame handler:
// their answers could never be written.
func (c *Conn) SendAndClose(b []byte, r Reason, err error) {
	c.closing.Store(true)
	if c.enqueue(outItem{b: b, close: true, reason: r, err: err}) != nil {
		c.Close(r, err)
	}
}

func (c *Conn) enqueue(it outItem) error {
	select {
	case <-c.done:
		return ErrClosed
	default:
	}
	c.qmu.Lock()
	if len(c.queue) >= c.cfg.QueueLen {
		c.qmu.Unlock()
		c.Close(ReasonSlowPending, ErrSlowConsumer)
		return ErrSlowConsumer
	}
	c.queue = append(c.queue, it)
	c.qmu.Unlock()
	select {
	case c.qsig <- struct{}{}:
	default:
	}
	return nil
}

// Request sends the request PDU b under this connection's next sequence
// number, which it writes into b, so b must belong to the caller. It waits
// for a window slot until ctx is done. done is called exactly once, from
// the reader goroutine with the response, or with ErrTimeout, ErrClosed or
// ErrNotSent.
// When Request returns an error, done is not called and b was not sent.
func (c *Conn) Request(ctx context.Context, b []byte, timeout time.Duration, done func(pdu.Frame, error)) error {
	select {
	case c.sem <- struct{}{}:
	default:
		select {
		case c.sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return ErrClosed
		}
	}
	return c.request(b, timeout, done, true)
}

// TryRequest is Request that fails at once with ErrWindowFull when no
// window slot is free, or ErrClosed once the connection is closed.
func (c *Conn) TryRequest(b []byte, timeout time.Duration, done func(pdu.Frame, error)) error {
	select {
	case c.sem <- struct{}{}:
	default:
		// Close does not give back the slots of the calls it fails.
		select {
		case <-c.done:
			return ErrClosed
		default:
		}
		return ErrWindowFull
	}
	return c.request(b, timeout, done, true)
}

// ErrWindowFull is returned by TryRequest when the window is in use.
var ErrWindowFull = errors.New("smpp: window full")

// WindowFree reports how many requests can be sent before the window is
// full.
func (c *Conn) WindowFree() int { return cap(c.sem) - len(c.sem) }

func (c *Conn) request(b []byte, timeout time.Duration, done func(pdu.Frame, error), windowed bool) error {
	h := pdu.ParseHeader(b)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		if windowed {
			<-c.sem
		}
		return ErrClosed
	}
	c.seq = pdu.NextSeq(c.seq)
	seq := c.seq
	pdu.SetSeq(b, seq)
	k := key{pdu.RespID(h.ID), seq}
	cl := &call{done: done, deadline: time.Now().Add(timeout), windowed: windowed}
	c.pending[k] = cl
	if !c.expiryArmed || cl.deadline.Before(c.expiryAt) {
		c.armExpiryLocked(cl.deadline)
	}
	c.mu.Unlock()
	// If the queue refuses, the connection is closed and Close fails the
	// pending call, so done is still called exactly once.
	_ = c.enqueue(outItem{b: b, call: cl})
	return nil
}

// Call sends a request and waits for its response or ctx.
func (c *Conn) Call(ctx context.Context, b []byte, timeout time.Duration) (pdu.Frame, error) {
	type result struct {
		f   pdu.Frame
		err error
	}
	ch := make(chan result, 1)
	if err := c.request(b, timeout, func(f pdu.Frame, err error) { ch <- result{f, err} }, false); err != nil {
		return pdu.Frame{}, err
	}
	select {
	case r := <-ch:
		return r.f, r.err
	case <-ctx.Done():
		return pdu.Frame{}, ctx.Err()
	}
}

func (c *Conn) armExpiryLocked(at time.Time) {
	c.expiryArmed, c.expiryAt = true, at
	d := time.Until(at)
	if c.expiry == nil {
		c.expiry = time.AfterFunc(d, c.expireDue)
	} else {
		c.expiry.Reset(d)
	}
}

// expireDue runs on the timer: the calls past their deadline fail with
// ErrTimeout, and the timer is armed for the earliest deadline left. The
// timer fires about once per response timeout under steady traffic (it
// is not moved when the call it was armed for is answered), so going
// through the pending calls, at most a window's worth, costs little.
func (c *Conn) expireDue() {
	type expired struct {
		key key
		cl  *call
	}
	var due []expired
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	now := time.Now()
	var next time.Time
	for k, cl := range c.pending {
		switch {
		case !cl.deadline.After(now):
			due = append(due, expired{k, cl})
		case next.IsZero() || cl.deadline.Before(next):
			next = cl.deadline
		}
	}
	for _, e := range due {
		delete(c.pending, e.key)
	}
	if len(due) > 0 {
		c.signalIdleLocked()
	}
	if next.IsZero() {
		c.expiryArmed = false
	} else {
		c.armExpiryLocked(next)
	}
	c.mu.Unlock()
	slices.SortFunc(due, func(a, b expired) int { return a.cl.deadline.Compare(b.cl.deadline) })
	// The connection is suspect before anyone hears of the timeout, so
	// that what the callbacks do next avoids it.
	if c.cfg.ProbeTimeout > 0 && slices.ContainsFunc(due, func(e expired) bool { return e.cl.windowed }) {
		c.probe()
	}
	for _, e := range due {
		if e.cl.windowed {
			<-c.sem
		}
		e.cl.done(pdu.Frame{}, ErrTimeout)
	}
}

// probe checks a connection whose request went unanswered: an
// enquire_link at once, and the connection closed as a dead peer if that
// is not answered within ProbeTimeout. The connection is Suspect until
// then.
func (c *Conn) probe() {
	c.suspect.Store(true)
	if !c.enquireOut.CompareAndSwap(false, true) {
		// The keepalive's enquire_link is out: its answer decides.
		return
	}
	_ = c.request(pdu.Empty(pdu.EnquireLink, pdu.StatusOK, 0), c.cfg.ProbeTimeout, func(_ pdu.Frame, err error) {
		c.enquireOut.Store(false)
		switch {
		case err == nil:
			c.suspect.Store(false)
		case errors.Is(err, ErrTimeout):
			c.Close(ReasonDeadPeer, errors.New("enquire_link unanswered after a request timed out"))
		}
	}, false)
}

// Suspect reports whether a request went unanswered and the enquire_link
// sent to check the peer is not answered yet (see Config.ProbeTimeout).
func (c *Conn) Suspect() bool { return c.suspect.Load() }

// Congested reports whether the window is stalled: it became congested
// when every slot was in use and no response had arrived for stall, and
// stays so until half the window is free again. New requests are better
// sent elsewhere meanwhile: those in the window are likely lost.
func (c *Conn) Congested(stall time.Duration) bool {
	used, size := len(c.sem), cap(c.sem)
	if c.congested.Load() {
		if used > size/2 {
			return true
		}
		c.congested.Store(false)
		return false
	}
	if used < size || time.Since(time.Unix(0, c.lastResp.Load())) < stall {
		return false
	}
	c.congested.Store(true)
	return true
}

// signalIdleLocked wakes WaitIdle when nothing is pending any more.
// Called with c.mu held.
func (c *Conn) signalIdleLocked() {
	if len(c.pending) == 0 {
		select {
		case c.idle <- struct{}{}:
		default:
		}
	}
}

// WaitIdle waits until no request awaits a response, the connection is
// closed, or ctx is done, and reports whether nothing is pending.
func (c *Conn) WaitIdle(ctx context.Context) bool {
	for {
		if c.Pending() == 0 {
			return true
		}
		select {
		case <-c.idle:
		case <-c.done:
			return c.Pending() == 0
		case <-ctx.Done():
			return false
		}
	}
}

func (c *Conn) dispatchResponse(f pdu.Frame) {
	c.mu.Lock()
	k := key{f.ID, f.Seq}
	cl := c.pending[k]
	if cl == nil && f.ID == pdu.GenericNack {
		// generic_nack answers whatever request carried its sequence.
		for pk, pc := range c.pending {
			if pk.seq == f.Seq {
				k, cl = pk, pc
				break
			}
		}
	}
	if cl != nil {
		delete(c.pending, k)
		c.signalIdleLocked()
	}
	c.mu.Unlock()
	c.lastResp.Store(time.Now().UnixNano())
	if cl == nil {
		c.strayResponse(f)
		return
	}
	if cl.windowed {
		<-c.sem
	}
	cl.done(f, nil)
}

func (c *Conn) readLoop(handle func(pdu.Frame)) {
	defer c.recoverReader()
	for {
		if !c.waitWriter() {
			return
		}
		f, err := c.rd.Read()
		if err != nil {
			c.readFailed(err)
			return
		}
		c.lastRead.Store(time.Now().UnixNano())
		switch {
		case pdu.IsResponse(f.ID):
			// Before the check of the command id: a response, even of
			// a command_id SMPP does not define, is never answered.
			c.dispatchResponse(f)
		case !pdu.Known(f.ID):
			c.unknownCommand(f.Header)
		case c.closing.Load():
			// See SendAndClose.
		default:
			handle(f)
		}
	}
}

// The reader's rare paths live in functions of their own: the frame of
// readLoop stays small, and with it the stack each idle connection's
// reader holds while it waits.

func (c *Conn) recoverReader() {
	if r := recover(); r != nil {
		c.log.Error("panic in connection reader, closing this connection",
			zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
		c.Close(ReasonPanic, fmt.Errorf("panic: %v", r))
	}
}

func (c *Conn) readFailed(err error) {
	var le *pdu.LengthError
	switch {
	case errors.As(err, &le):
		c.log.Warn("invalid command_length, closing",
			zap.Uint32("command_length", le.Header.Len), zap.Uint32("seq", le.Header.Seq))
		c.SendAndClose(pdu.Empty(pdu.GenericNack, pdu.StatusInvCmdLen, le.Header.Seq), ReasonBadLength, err)
	case errors.Is(err, io.EOF):
		r := ReasonPeerClosed
		if u := Reason(c.unbinding.Load()); u != ReasonNone {
			// Closed after (or instead of) answering our unbind.
			r = u
		}
		// The peer may have closed only its sending side: it still gets
		// the answers already queued.
		c.SendAndClose(nil, r, nil)
	case errors.Is(err, io.ErrUnexpectedEOF):
		// Closed mid-PDU: the PDUs before it are still answered.
		c.SendAndClose(nil, ReasonReadError, err)
	default:
		c.Close(ReasonReadError, err)
	}
}

// strayResponse drops a response that answers no request of ours: late
// (its request timed out), repeated, of a command_id SMPP does not
// define, or never asked for. SMPP 3.4 answers no response, not even
// with generic_nack. It is logged at info, once per strayLogEvery per
// connection at most with the count since the last line: a peer sending
// them by the thousand must not flood the log, and one that does so now
// and then is still seen, once.
func (c *Conn) strayResponse(f pdu.Frame) {
	c.strays++
	if now := time.Now(); c.strayLogged.IsZero() || now.Sub(c.strayLogged) >= strayLogEvery {
		c.log.Info("response matches no request, dropped",
			zap.String("command", pdu.IDName(f.ID)), zap.Uint32("command_id", uint32(f.ID)),
			zap.Uint32("seq", f.Seq), zap.Uint64("dropped_since_last_line", c.strays))
		c.strayLogged, c.strays = now, 0
	}
	if c.cfg.OnUnmatched != nil {
		c.cfg.OnUnmatched(f)
	}
}

// strayLogEvery is the least time between two lines about stray
// responses on one connection.
const strayLogEvery = time.Minute

func (c *Conn) unknownCommand(h pdu.Header) {
	c.log.Warn("unknown command_id, answering generic_nack",
		zap.Uint32("command_id", uint32(h.ID)), zap.Uint32("seq", h.Seq))
	_ = c.Send(pdu.Empty(pdu.GenericNack, pdu.StatusInvCmdID, h.Seq))
}

// waitWriter holds the reader while half the output queue awaits the
// writer: a peer that pipelines requests faster than it reads their
// answers is slowed down by TCP back-pressure instead of overflowing the
// queue, and the other half stays free for Send and Request from other
// goroutines. It reports false once the connection is closed, which the
// write timeout ensures when the peer reads nothing at all.
func (c *Conn) waitWriter() bool {
	for {
		c.qmu.Lock()
		n := len(c.queue)
		c.qmu.Unlock()
		if n < max(c.cfg.QueueLen/2, 1) {
			return true
		}
		select {
		case <-c.drained:
		case <-c.done:
			return false
		}
	}
}

// writeLoop is the only writer. It takes everything queued at once and
// writes it with as few syscalls as it can: one pooled buffer of up to
// maxBatch octets per write.
func (c *Conn) writeLoop() {
	for {
		select {
		case <-c.qsig:
		case <-c.done:
			return
		}
		for {
			c.qmu.Lock()
			items := c.queue
			if len(items) == 0 {
				// Idle again: what a burst grew goes.
				if cap(items) > idleQueueCap {
					c.queue = nil
				}
				if cap(c.spare) > idleQueueCap {
					c.spare = nil
				}
				c.qmu.Unlock()
				break
			}
			c.queue, c.spare = c.spare[:0], nil
			c.qmu.Unlock()
			select {
			case c.drained <- struct{}{}:
			default:
			}
			if !c.writeItems(items) {
				return
			}
			clear(items)
			// The two slices take turns while the writer is busy.
			c.spare = items[:0]
		}
	}
}

// writeItems writes items in order and reports whether the connection is
// still open.
func (c *Conn) writeItems(items []outItem) bool {
	if !c.take(items) {
		return false
	}
	for len(items) > 0 {
		if err := c.nc.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout)); err != nil {
			c.Close(ReasonWriteError, err)
			return false
		}
		bp := batchPool.Get().(*[]byte)
		buf := (*bp)[:0]
		var last outItem
		for len(items) > 0 && (len(buf) == 0 || len(buf) < maxBatch) {
			last, items = items[0], items[1:]
			buf = append(buf, last.b...)
			if last.close {
				break
			}
		}
		_, err := c.nc.Write(buf)
		*bp = buf
		if cap(buf) <= 4*maxBatch {
			batchPool.Put(bp)
		}
		if err != nil {
			c.Close(writeReason(err), err)
			return false
		}
		if last.close {
			c.Close(last.reason, last.err)
			return false
		}
	}
	return true
}

// take marks the requests among items as taken by the writer, unless the
// connection is closed: then Close has failed them as never sent, and
// take reports false so that nothing of them is written.
func (c *Conn) take(items []outItem) bool {
	first := slices.IndexFunc(items, func(it outItem) bool { return it.call != nil })
	if first < 0 {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	for _, it := range items[first:] {
		if it.call != nil {
			it.call.taken = true
		}
	}
	return true
}

// writeReason tells a write that missed its deadline, a slow consumer,
// from one that failed otherwise.
func writeReason(err error) Reason {
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return ReasonSlowDeadline
	}
	return ReasonWriteError
}

const maxBatch = 64 * 1024

// idleQueueCap is the most output queue capacity an idle connection
// keeps (two slices of it at most, 28 KiB). A writer goes idle between
// most batches even under load, and a busy connection's batches exceed
// 64 PDUs: below this cap they would be regrown from nothing each time.
// A connection that never queued more than 64 PDUs at once keeps no more.
const idleQueueCap = 256

var batchPool = sync.Pool{New: func() any { b := make([]byte, 0, maxBatch); return &b }}

// keepaliveDelay returns how long to wait before the next keepalive check
// given the current idle time, 0 when keepalive is off.
func (c *Conn) keepaliveDelay(idle time.Duration) time.Duration {
	var d time.Duration
	if iv := c.cfg.EnquireLinkInterval; iv > 0 {
		d = iv - idle%iv
	}
	if it := c.cfg.InactivityTimeout; it > 0 && (d == 0 || it-idle < d) {
		d = it - idle
	}
	if d > 0 && d < 10*time.Millisecond {
		d = 10 * time.Millisecond
	}
	return d
}

func (c *Conn) checkAlive() {
	select {
	case <-c.done:
		return
	default:
	}
	idle := time.Since(time.Unix(0, c.lastRead.Load()))
	if it := c.cfg.InactivityTimeout; it > 0 && idle >= it {
		c.Close(ReasonDeadPeer, fmt.Errorf("no PDU received for %s", idle.Round(time.Millisecond)))
		return
	}
	if iv := c.cfg.EnquireLinkInterval; iv > 0 && idle >= iv && c.enquireOut.CompareAndSwap(false, true) {
		err := c.request(pdu.Empty(pdu.EnquireLink, pdu.StatusOK, 0), c.cfg.ResponseTimeout, func(_ pdu.Frame, err error) {
			c.enquireOut.Store(false)
			switch {
			case err == nil:
				c.suspect.Store(false)
			case errors.Is(err, ErrTimeout):
				c.Close(ReasonDeadPeer, errors.New("enquire_link unanswered"))
			}
		}, false)
		if err != nil {
			return
		}
	}
	c.mu.Lock()
	if !c.closed {
		c.keepalive.Reset(c.keepaliveDelay(idle))
	}
	c.mu.Unlock()
}

// UnbindTimeout bounds how long Unbind waits for unbind_resp.
const UnbindTimeout = 2 * time.Second

// Unbind ends the connection politely: it sends unbind, waits for
// unbind_resp (at most UnbindTimeout) or ctx, and then closes the
// connection with reason r. A connection closed already stays as it was.
// Whoever calls it first lets the requests it cares about finish.
func (c *Conn) Unbind(ctx context.Context, r Reason) {
	select {
	case <-c.done:
		return
	default:
	}
	c.unbinding.CompareAndSwap(int32(ReasonNone), int32(r))
	uctx, cancel := context.WithTimeout(ctx, UnbindTimeout)
	defer cancel()
	_, _ = c.Call(uctx, pdu.Empty(pdu.Unbind, pdu.StatusOK, 0), UnbindTimeout)
	c.Close(r, nil)
}

// Close closes the connection once, failing every pending request with
// ErrClosed, or ErrNotSent when the writer never took it, and calling
// OnClose. Later calls do nothing.
func (c *Conn) Close(r Reason, err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.reason = r
	c.closeErr = err
	pending := c.pending
	c.pending = nil
	if c.keepalive != nil {
		c.keepalive.Stop()
	}
	if c.expiry != nil {
		c.expiry.Stop()
	}
	c.mu.Unlock()

	close(c.done)
	_ = c.nc.Close()
	// No taken flag changes once closed is set (see take).
	for _, cl := range pending {
		if cl.taken {
			cl.done(pdu.Frame{}, ErrClosed)
		} else {
			cl.done(pdu.Frame{}, ErrNotSent)
		}
	}
	if c.cfg.OnClose != nil {
		c.cfg.OnClose(r, err)
	}
}
