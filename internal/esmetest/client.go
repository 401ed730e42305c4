package esmetest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/smppmux/smppmux/internal/pdu"
)

// Errors returned by the Client.
var (
	// ErrClosed means the connection ended before the request was
	// answered, or was already over.
	ErrClosed = errors.New("esmetest: connection closed")
	// ErrUnbound means the peer unbound the connection.
	ErrUnbound = errors.New("esmetest: unbound by the peer")
	// ErrPeerClosed means the peer closed the connection.
	ErrPeerClosed = errors.New("esmetest: connection closed by the peer")
)

const (
	// DefaultWindow is the window of Config.Window when it is not set.
	DefaultWindow = 10
	// DefaultDeliveryBuffer is the capacity of the Deliveries channel when
	// Config.DeliveryBuffer is not set.
	DefaultDeliveryBuffer = 1 << 12

	queueLen = 4096
)

// BindError is a bind refused by the peer.
type BindError struct {
	// Status is the command_status of the bind response.
	Status pdu.Status
}

func (e *BindError) Error() string {
	return fmt.Sprintf("esmetest: bind refused: 0x%08X %v", uint32(e.Status), e.Status.Error())
}

// Config says how a Client binds and answers.
type Config struct {
	// Addr is the host:port to connect to.
	Addr string
	// SystemID and Password are the bind credentials.
	SystemID, Password string
	// Bind is the bind command id; pdu.BindTransceiver when zero.
	Bind pdu.ID
	// Window is how many submit_sm may be outstanding; DefaultWindow when
	// zero or negative.
	Window int
	// DeliverStatus decides the deliver_sm_resp (or data_sm_resp) status of
	// each deliver_sm (or data_sm) received. It runs on the reader
	// goroutine. Nil answers ESME_ROK, or the decoding error's status for a
	// malformed PDU.
	DeliverStatus func(f pdu.Frame) pdu.Status
	// EnquireLinkInterval is how often the Client sends enquire_link; zero
	// never sends it.
	EnquireLinkInterval time.Duration
	// DeliveryBuffer is the capacity of the Deliveries channel;
	// DefaultDeliveryBuffer when zero or negative.
	DeliveryBuffer int
	// Logger receives one line per connection event; nil logs nothing.
	Logger *zap.Logger
	// TLS, when set, makes the connection SMPP over TLS.
	TLS *tls.Config
	// Nagle leaves Nagle's algorithm on (TCP_NODELAY off), as many
	// legacy ESMEs do: a small segment waits while an earlier small one
	// is unacknowledged.
	Nagle bool
	// SplitWrites writes each PDU in two writes, its header and then its
	// body, as legacy ESMEs often do; with Nagle the body waits for the
	// peer's acknowledgement of the header.
	SplitWrites bool
}

// Resp is the response to a submit_sm.
type Resp struct {
	// Status is the command_status of the response (of a generic_nack if
	// that is what came back).
	Status pdu.Status
	// MessageID is the message_id of a successful response.
	MessageID string
	// Frame is the response as received.
	Frame pdu.Frame
}

// Delivery is a deliver_sm or data_sm received, after it was answered.
type Delivery struct {
	// Frame is the PDU as received.
	Frame pdu.Frame
	// SM holds the decoded fields; zero if decoding failed. For a data_sm
	// the fields it shares with deliver_sm are filled and ShortMessage is
	// the message_payload TLV, if any.
	SM pdu.SM
	// ReceiptID is the receipted message id: TLV receipted_message_id,
	// else the text after "id:", else "".
	ReceiptID string
}

// Client is a bound SMPP connection.
type Client struct {
	cfg        Config
	log        *zap.Logger
	conn       net.Conn
	out        chan []byte // nil: flush, then close
	done       chan struct{}
	once       sync.Once
	wg         sync.WaitGroup
	seq        atomic.Uint32
	window     chan struct{}
	unbound    atomic.Bool // the peer sent unbind: whatever ends the connection now, its unbind did
	deliveries chan Delivery

	mu      sync.Mutex
	closed  bool
	err     error
	pending map[uint32]call
}

// call is a request waiting for its response.
type call struct {
	resp   pdu.ID
	window bool
	ch     chan result       // Send and Submit
	done   func(Resp, error) // SubmitAsync
}

type result struct {
	f   pdu.Frame
	err error
}

// Dial connects to cfg.Addr and binds. A bind refused by the peer returns a
// *BindError. ctx bounds the connect and the bind.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	var conn net.Conn
	var err error
	if cfg.TLS != nil {
		d := tls.Dialer{Config: cfg.TLS}
		conn, err = d.DialContext(ctx, "tcp", cfg.Addr)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", cfg.Addr)
	}
	if err != nil {
		return nil, err
	}
	if cfg.Nagle {
		if err := setNagle(conn); err != nil {
			conn.Close()
			return nil, err
		}
	}
	c := newClient(conn, cfg)
	id := cfg.Bind
	if id == 0 {
		id = pdu.BindTransceiver
	}
	seq := c.nextSeq()
	raw := pdu.Bind(id, seq, pdu.BindFields{
		SystemID: cfg.SystemID,
		Password: cfg.Password,
		Version:  pdu.InterfaceVersion,
	})
	f, err := c.roundTrip(ctx, raw, seq, pdu.RespID(id))
	if err != nil {
		c.Close()
		return nil, err
	}
	if f.Status != pdu.StatusOK {
		c.Close()
		return nil, &BindError{Status: f.Status}
	}
	c.log.Debug("bound", zap.String("system_id", cfg.SystemID), zap.String("bind", pdu.IDName(id)))
	return c, nil
}

// Bind is Dial for the test tb: a failed connect or a refused bind fails
// the test, and the Client is closed when the test and its subtests are
// over.
func Bind(tb testing.TB, ctx context.Context, cfg Config) *Client {
	tb.Helper()
	c, err := Dial(ctx, cfg)
	if err != nil {
		tb.Fatalf("esmetest: bind as %q to %s: %v", cfg.SystemID, cfg.Addr, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// BindStatus is Dial for tests of bind refusals, for the test tb: a
// refused bind returns its status and no Client; a bound Client comes
// with pdu.StatusOK and is closed when the test and its subtests are
// over. Other failures (dialing, a closed connection) fail the test.
func BindStatus(tb testing.TB, ctx context.Context, cfg Config) (*Client, pdu.Status) {
	tb.Helper()
	c, err := Dial(ctx, cfg)
	var be *BindError
	switch {
	case err == nil:
		tb.Cleanup(func() { c.Close() })
		return c, pdu.StatusOK
	case errors.As(err, &be):
		return nil, be.Status
	}
	tb.Fatalf("esmetest: bind as %q to %s: %v", cfg.SystemID, cfg.Addr, err)
	return nil, 0
}

func newClient(conn net.Conn, cfg Config) *Client {
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.DeliveryBuffer <= 0 {
		cfg.DeliveryBuffer = DefaultDeliveryBuffer
	}
	c := &Client{
		cfg:        cfg,
		log:        log.Named("esmetest"),
		conn:       conn,
		out:        make(chan []byte, queueLen),
		done:       make(chan struct{}),
		window:     make(chan struct{}, cfg.Window),
		deliveries: make(chan Delivery, cfg.DeliveryBuffer),
		pending:    make(map[uint32]call),
	}
	c.wg.Add(2)
	go c.readLoop()
	go c.writeLoop()
	return c
}

// Deliveries returns the deliver_sm and data_sm received, each after it was
// answered. When the channel is full the reader waits, holding back the
// peer, rather than drop one. The channel is closed after the connection
// ended.
func (c *Client) Deliveries() <-chan Delivery { return c.deliveries }

// Done returns a channel closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended, nil while it is up.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// LocalAddr returns the local address of the connection.
func (c *Client) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// Close ends the connection abruptly, without unbind, and waits for the
// Client's goroutines. Requests still waiting fail. It must not be called
// from a SubmitAsync callback or from DeliverStatus, which run on the
// reader goroutine.
func (c *Client) Close() error {
	c.shutdown(ErrClosed)
	c.wg.Wait()
	return nil
}

// Unbind sends unbind, waits for unbind_resp, then closes the connection.
func (c *Client) Unbind(ctx context.Context) error {
	_, err := c.Send(ctx, pdu.Unbind, nil)
	c.Close()
	return err
}

// Send sends a request of command id with body and waits for its response:
// the PDU with the response id of id and the same sequence_number, or a
// generic_nack with that sequence_number. It does not take a window slot.
func (c *Client) Send(ctx context.Context, id pdu.ID, body []byte) (pdu.Frame, error) {
	seq := c.nextSeq()
	return c.roundTrip(ctx, pdu.Request(id, seq, body), seq, pdu.RespID(id))
}

// Submit sends a submit_sm with body once a window slot is free and waits
// for its response. A response with an error status is not an error: see
// Resp.Status.
func (c *Client) Submit(ctx context.Context, body []byte) (Resp, error) {
	select {
	case c.window <- struct{}{}:
	case <-c.done:
		return Resp{}, c.endErr()
	case <-ctx.Done():
		return Resp{}, ctx.Err()
	}
	seq := c.nextSeq()
	ch := make(chan result, 1)
	if err := c.register(seq, call{resp: pdu.SubmitSMResp, window: true, ch: ch}); err != nil {
		c.release()
		return Resp{}, err
	}
	if !c.queue(pdu.Request(pdu.SubmitSM, seq, body)) {
		c.abandon(seq)
		return Resp{}, c.endErr()
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return Resp{}, r.err
		}
		return toResp(r.f)
	case <-ctx.Done():
		c.abandon(seq)
		return Resp{}, ctx.Err()
	}
}

// SubmitAsync waits for a window slot, then sends a submit_sm with body and
// returns. done is called once with the response, or with an error if the
// connection ends first. It runs on the reader goroutine (or the goroutine
// ending the connection) and must not block; it may call SubmitAsync, as
// its own slot is already free. If SubmitAsync returns an error, done is
// not called. A nil done ignores the outcome.
func (c *Client) SubmitAsync(body []byte, done func(Resp, error)) error {
	if done == nil {
		done = func(Resp, error) {}
	}
	select {
	case c.window <- struct{}{}:
	case <-c.done:
		return c.endErr()
	}
	seq := c.nextSeq()
	if err := c.register(seq, call{resp: pdu.SubmitSMResp, window: true, done: done}); err != nil {
		c.release()
		return err
	}
	if !c.queue(pdu.Request(pdu.SubmitSM, seq, body)) {
		if c.abandon(seq) {
			return c.endErr()
		}
		// The connection ended and the reader already failed the call.
	}
	return nil
}

// roundTrip sends raw, a request with sequence seq, and waits for the
// response resp.
func (c *Client) roundTrip(ctx context.Context, raw []byte, seq uint32, resp pdu.ID) (pdu.Frame, error) {
	ch := make(chan result, 1)
	if err := c.register(seq, call{resp: resp, ch: ch}); err != nil {
		return pdu.Frame{}, err
	}
	if !c.queue(raw) {
		c.abandon(seq)
		return pdu.Frame{}, c.endErr()
	}
	select {
	case r := <-ch:
		return r.f, r.err
	case <-ctx.Done():
		c.abandon(seq)
		return pdu.Frame{}, ctx.Err()
	}
}

func toResp(f pdu.Frame) (Resp, error) {
	r := Resp{Status: f.Status, Frame: f}
	if f.Status != pdu.StatusOK || f.ID == pdu.GenericNack {
		return r, nil
	}
	id, err := pdu.ParseMessageIDResp(f.Body())
	if err != nil {
		return r, err
	}
	r.MessageID = string(id)
	return r, nil
}

func (c *Client) nextSeq() uint32 {
	for {
		old := c.seq.Load()
		n := pdu.NextSeq(old)
		if c.seq.CompareAndSwap(old, n) {
			return n
		}
	}
}

func (c *Client) register(seq uint32, cl call) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.err
	}
	c.pending[seq] = cl
	return nil
}

// abandon forgets the request seq if it is still waiting, freeing its
// window slot; it reports whether it was.
func (c *Client) abandon(seq uint32) bool {
	c.mu.Lock()
	cl, ok := c.pending[seq]
	delete(c.pending, seq)
	c.mu.Unlock()
	if ok && cl.window {
		c.release()
	}
	return ok
}

func (c *Client) release() {
	select {
	case <-c.window:
	default:
	}
}
