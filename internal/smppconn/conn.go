package smppconn

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/smppmux/smppmux/internal/defaults"
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
	// OnSuspect, if set, is called each time Suspect changes, with its
	// new value.
	OnSuspect func(suspect bool)
	// OnClose is called once, from the goroutine that closed the connection.
	OnClose func(r Reason, err error)
	// OnStop, if set, is called once, from the reader's goroutine, when
	// the connection is closed and its reader and writer have stopped:
	// no handler or callback runs any more.
	OnStop func()
	// OnUnmatched is called, from the reader, for a response that
	// matches no pending request (a late response after a timeout, say),
	// once it was dropped.
	OnUnmatched func(f pdu.Frame)
	// LoggerFunc, if set, is called for the logger each time the
	// connection logs, in place of Logger: a connection then holds no
	// logger of its own while it has nothing to say.
	LoggerFunc func() *zap.Logger
	// Poller, if set, waits for the socket while the connection is idle,
	// so that an idle connection keeps no goroutine (see idle.go).
	Poller *Poller
}

func (c *Config) setDefaults() {
	defaults.Positive(&c.MaxPDU, pdu.DefaultMaxLen)
	defaults.Positive(&c.WriteTimeout, 10*time.Second)
	defaults.Positive(&c.Window, 10)
	defaults.Positive(&c.QueueLen, 2*c.Window+256)
	defaults.Positive(&c.ResponseTimeout, 10*time.Second)
	if c.Logger == nil && c.LoggerFunc == nil {
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
	nc net.Conn
	// raw is nc's socket when the reader can wait for it to be readable
	// without reading (see idle.go), nil otherwise.
	raw syscall.RawConn
	cfg Config
	src io.Reader // nc, re-arming TCP_QUICKACK
	// rd frames what the reader reads; nil while an idle connection's
	// reader waits (see idle.go).
	rd     *pdu.Reader
	handle func(pdu.Frame) // Start's
	// The reader's: how long the connection reads nothing before its
	// reader goes idle, and since when it is idle (see nextIdleAfter).
	idleAfter time.Duration
	idleSince time.Time
	// parkID is the connection's registration with Config.Poller while
	// it is idle, 0 otherwise; polled says its socket was added to the
	// Poller once.
	parkID atomic.Uint64
	polled atomic.Bool
	// The output queue grows as PDUs are queued, so an idle connection
	// holds none of it. The writer goroutine runs while there is
	// something to write: the first PDU queued starts it (writing), and
	// it ends once it finds the queue empty, so an idle connection has
	// no writer. qclosed, set by Close, starts no writer any more, and
	// writers counts the one running, for the last reader to wait for.
	qmu     sync.Mutex
	queue   []outItem
	spare   []outItem // the writer's, reused between batches
	writing bool
	qclosed bool
	writers sync.WaitGroup
	// drained wakes a reader waiting in waitWriter; made by the first
	// wait, guarded by qmu.
	drained chan struct{}
	// idle wakes WaitIdle when the last pending request is answered;
	// made by the first wait, guarded by mu.
	idle chan struct{}
	done chan struct{}
	// sem holds a slot per windowed request under way; made on first
	// use (window).
	sem atomic.Pointer[chan struct{}]
	wg  sync.WaitGroup

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
	// idleChecked, set by tests before Start, hears what the reader
	// decided each time its idle deadline passed (see goIdle).
	idleChecked func(handedOver bool)
	// unbinding is the reason of an Unbind under way: the peer closing
	// once it answered (or instead) ends the connection for that reason.
	unbinding atomic.Int32

	mu        sync.Mutex
	keepalive *time.Timer
	seq       uint32
	pending   map[key]*call // made by the first request
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
		nc:   nc,
		cfg:  cfg,
		raw:  rawConn(nc),
		src:  quickack.Reader(nc), // no ACK held back: see package quickack
		done: make(chan struct{}),

		idleAfter: idleAfterMin,
	}
	now := time.Now().UnixNano()
	c.lastRead.Store(now)
	c.lastResp.Store(now)
	return c
}

// Start starts the reader, which reads and dispatches PDUs until the
// connection is closed; the writer runs in a goroutine of its own while
// there is something to write. The reader calls handle for every request
// PDU with a known command id; responses go to the callbacks of Request
// (one that matches none is logged and dropped, never answered), requests
// of unknown command ids get generic_nack ESME_RINVCMDID, and a bad
// command_length gets generic_nack ESME_RINVCMDLEN and closes the
// connection. Once the connection is closed and the reader and the writer
// have stopped, Config.OnStop is called and Wait returns.
func (c *Conn) Start(handle func(pdu.Frame)) {
	c.wg.Add(1)
	c.handle = handle
	if d := c.keepaliveDelay(0); d > 0 {
		c.mu.Lock()
		c.keepalive = time.AfterFunc(d, c.checkAlive)
		c.mu.Unlock()
	}
	c.rd = pdu.NewReader(c.src, c.cfg.MaxPDU)
	c.armIdle(time.Now())
	go c.read(handle, false)
}

// read is the reader goroutine: it reads until the connection closes, or
// until it has been idle for c.idleAfter, when it ends and the Poller, or
// else a goroutine of its own (wait), waits for the peer's next PDU, then
// reads on in a new goroutine (see idle.go).
func (c *Conn) read(handle func(pdu.Frame), wait bool) {
	if wait {
		c.awaitReadable()
	}
	if c.rd == nil {
		c.awake()
	}
	if c.readLoop(handle) {
		if !c.cfg.Poller.park(c) {
			go c.read(handle, true)
		}
		return
	}
	// The reader may have stopped before the connection closed (the
	// peer closed its side: what is queued is written first). Close
	// starts no writer once done is closed, so the wait cannot miss one.
	<-c.done
	c.writers.Wait()
	if c.cfg.OnStop != nil {
		c.cfg.OnStop()
	}
	c.wg.Done()
}

// logger returns the logger of Config.LoggerFunc or Config.Logger.
func (c *Conn) logger() *zap.Logger {
	if f := c.cfg.LoggerFunc; f != nil {
		return f()
	}
	return c.cfg.Logger
}

// Done is closed when the connection is closed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Wait blocks until the reader and the writer have stopped and OnStop has
// returned.
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
	c.qmu.Lock()
	if c.qclosed {
		c.qmu.Unlock()
		return ErrClosed
	}
	if len(c.queue) >= c.cfg.QueueLen {
		c.qmu.Unlock()
		c.Close(ReasonSlowPending, ErrSlowConsumer)
		return ErrSlowConsumer
	}
	c.queue = append(c.queue, it)
	start := !c.writing
	if start {
		c.writing = true
		c.writers.Add(1)
	}
	c.qmu.Unlock()
	if start {
		go c.writeLoop()
	}
	return nil
}

// UnbindTimeout bounds how long Unbind waits for unbind_resp.
const UnbindTimeout = 2 * time.Second

// Unbind ends the connection politely: it sends unbind, waits for
// unbind_resp (at most UnbindTimeout) or ctx, and then closes the
// connection with reason r once what was queued meanwhile is written. A connection closed already stays as it was.
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
	// What was queued before the close, the answers to requests that
	// crossed the unbind on the wire, is written first, within what is
	// left of UnbindTimeout and ctx.
	if c.enqueue(outItem{close: true, reason: r}) == nil {
		select {
		case <-c.done:
			return
		case <-uctx.Done():
		}
	}
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

	c.qmu.Lock()
	c.qclosed = true
	c.qmu.Unlock()
	close(c.done)
	_ = c.nc.Close()
	// A reader registered with the Poller would hear nothing of it.
	c.cfg.Poller.unpark(c)
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
