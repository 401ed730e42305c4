package upstream

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// deadline returns a context that ends the test's waits generously late.
func deadline(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// tapped is one PDU the fake SMSC read from a connection.
type tapped struct {
	conn int // index of the connection, in accept order
	f    pdu.Frame
}

// wire records every PDU the fake SMSC reads, per connection, and the
// time each connection was accepted: what smppmux put on the wire, seen
// from the SMSC's side.
type wire struct {
	// holdBindResp, set before the first connection, holds back each
	// bind_resp until the SMSC writes again, so the peer reads both at
	// once.
	holdBindResp bool

	mu       sync.Mutex
	notify   chan struct{}
	accepted []time.Time
	bufs     map[int][]byte
	pdus     []tapped
}

func (w *wire) changedLocked() {
	if w.notify != nil {
		close(w.notify)
		w.notify = nil
	}
}

func (w *wire) accept() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.accepted = append(w.accepted, time.Now())
	w.changedLocked()
	return len(w.accepted) - 1
}

// feed takes bytes read on connection id and records the whole PDUs.
func (w *wire) feed(id int, b []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	buf := append(w.bufs[id], b...)
	for len(buf) >= pdu.HeaderLen {
		n := int(binary.BigEndian.Uint32(buf))
		if n < pdu.HeaderLen || len(buf) < n {
			break
		}
		raw := slices.Clone(buf[:n])
		w.pdus = append(w.pdus, tapped{conn: id, f: pdu.Frame{Header: pdu.ParseHeader(raw), Raw: raw}})
		buf = buf[n:]
	}
	w.bufs[id] = slices.Clone(buf)
	w.changedLocked()
}

// wait waits until cond, called with the PDUs so far and the accept
// times, holds or ctx is done.
func (w *wire) wait(ctx context.Context, cond func(pdus []tapped, accepted []time.Time) bool) error {
	for {
		w.mu.Lock()
		if cond(w.pdus, w.accepted) {
			w.mu.Unlock()
			return nil
		}
		if w.notify == nil {
			w.notify = make(chan struct{})
		}
		ch := w.notify
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// waitN waits until at least n PDUs match keep and returns the first n.
func (w *wire) waitN(ctx context.Context, n int, keep func(tapped) bool) ([]tapped, error) {
	var got []tapped
	err := w.wait(ctx, func(pdus []tapped, _ []time.Time) bool {
		got = got[:0]
		for _, p := range pdus {
			if keep(p) {
				got = append(got, p)
			}
		}
		return len(got) >= n
	})
	if err != nil {
		return got, fmt.Errorf("%d of %d PDUs seen by the SMSC: %w", len(got), n, err)
	}
	return got[:n], nil
}

// snapshot returns the PDUs matching keep seen so far.
func (w *wire) snapshot(keep func(tapped) bool) []tapped {
	w.mu.Lock()
	defer w.mu.Unlock()
	var got []tapped
	for _, p := range w.pdus {
		if keep(p) {
			got = append(got, p)
		}
	}
	return got
}

func ofID(id pdu.ID) func(tapped) bool {
	return func(p tapped) bool { return p.f.ID == id }
}

type tapListener struct {
	net.Listener
	w *wire
}

func (l *tapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &tapConn{Conn: c, w: l.w, id: l.w.accept()}, nil
}

type tapConn struct {
	net.Conn
	w  *wire
	id int

	held []byte // a bind_resp written by the SMSC, not sent yet
}

func (c *tapConn) Write(p []byte) (int, error) {
	if len(c.held) > 0 {
		b := append(c.held, p...)
		c.held = nil
		if _, err := c.Conn.Write(b); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if c.w.holdBindResp && len(p) >= pdu.HeaderLen && int(pdu.ParseHeader(p).Len) == len(p) {
		switch pdu.ParseHeader(p).ID {
		case pdu.BindTransceiverResp, pdu.BindReceiverResp, pdu.BindTransmitterResp:
			c.held = slices.Clone(p)
			return len(p), nil
		}
	}
	return c.Conn.Write(p)
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.w.feed(c.id, p[:n])
	}
	return n, err
}

// newSMSC starts a fake SMSC on 127.0.0.1:0 whose reads are tapped.
func newSMSC(t *testing.T, cfg smsctest.Config) (*smsctest.Server, *wire) {
	t.Helper()
	return newSMSCWire(t, cfg, &wire{})
}

// newSMSCWire is newSMSC recording into w.
func newSMSCWire(t *testing.T, cfg smsctest.Config, w *wire) (*smsctest.Server, *wire) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.bufs = make(map[int][]byte)
	return smsctest.StartOn(t, &tapListener{Listener: l, w: w}, cfg), w
}

// logEntry is one line logged by the package.
type logEntry struct {
	msg    string
	fields map[string]any
}

// logs collects the package's log lines so tests can wait for the events
// they report (a bind bound, lost, refused).
type logs struct {
	mu      sync.Mutex
	notify  chan struct{}
	entries []logEntry
}

type logCore struct {
	l   *logs
	ctx []zapcore.Field
}

func (c *logCore) Enabled(zapcore.Level) bool { return true }

func (c *logCore) With(fs []zapcore.Field) zapcore.Core {
	return &logCore{l: c.l, ctx: append(slices.Clip(c.ctx), fs...)}
}

func (c *logCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	return ce.AddCore(e, c)
}

func (c *logCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.ctx {
		f.AddTo(enc)
	}
	for _, f := range fs {
		f.AddTo(enc)
	}
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	c.l.entries = append(c.l.entries, logEntry{msg: e.Message, fields: enc.Fields})
	if c.l.notify != nil {
		close(c.l.notify)
		c.l.notify = nil
	}
	return nil
}

func (c *logCore) Sync() error { return nil }

func (l *logs) logger() *zap.Logger { return zap.New(&logCore{l: l}) }

// count returns how many lines with message msg were logged, by bind
// index.
func (l *logs) count(msg string) map[int]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return countLocked(l.entries, msg)
}

func countLocked(entries []logEntry, msg string) map[int]int {
	m := make(map[int]int)
	for _, e := range entries {
		if e.msg == msg {
			i, _ := e.fields["bind"].(int64)
			m[int(i)]++
		}
	}
	return m
}

// wait waits until cond, called with the lines so far, holds or ctx is
// done.
func (l *logs) wait(ctx context.Context, cond func([]logEntry) bool) error {
	for {
		l.mu.Lock()
		if cond(l.entries) {
			l.mu.Unlock()
			return nil
		}
		if l.notify == nil {
			l.notify = make(chan struct{})
		}
		ch := l.notify
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// waitEach waits until each of binds 0..n-1 logged msg at least k times.
func (l *logs) waitEach(ctx context.Context, msg string, n, k int) error {
	err := l.wait(ctx, func(es []logEntry) bool {
		m := countLocked(es, msg)
		for i := range n {
			if m[i] < k {
				return false
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("waiting for %d %q per bind on %d binds, have %v: %w", k, msg, n, l.count(msg), err)
	}
	return nil
}

// dump logs every line, for a failed test.
func (l *logs) dump(t *testing.T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.entries {
		t.Logf("log: %s %v", e.msg, e.fields)
	}
}

// start returns a started Upstream on cfg logging to a logs, stopped when
// the test ends.
func start(t *testing.T, cfg Config, h DeliverHandler) (*Upstream, *logs) {
	t.Helper()
	u, l := build(t, cfg, h)
	u.Start()
	return u, l
}

// startBound is start with cfg.Addr set to srv's, waiting until each
// bind is bound.
func startBound(t *testing.T, ctx context.Context, srv *smsctest.Server, cfg Config, h DeliverHandler) (*Upstream, *logs) {
	t.Helper()
	cfg.Addr = srv.Addr()
	u, l := start(t, cfg, h)
	waitBound(t, ctx, u, l, 1)
	return u, l
}

// build is start without the Start.
func build(t *testing.T, cfg Config, h DeliverHandler) (*Upstream, *logs) {
	t.Helper()
	l := &logs{}
	if cfg.Name == "" {
		cfg.Name = "carrier"
	}
	u := New(cfg, h, l.logger())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := u.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
		if t.Failed() {
			l.dump(t)
		}
	})
	return u, l
}

// waitBound waits until each of the upstream's binds has been bound k
// times.
func waitBound(t *testing.T, ctx context.Context, u *Upstream, l *logs, k int) {
	t.Helper()
	if err := l.waitEach(ctx, "upstream bound", len(u.Binds()), k); err != nil {
		t.Fatal(err)
	}
}

// submitSM returns a submit_sm with sequence number seq and its body.
func submitSM(seq uint32, dest, text string, registered byte) (raw, body []byte) {
	sm := &pdu.SM{
		SourceTON: 5, SourceAddr: []byte("Shop"),
		DestTON: 1, DestNPI: 1, DestAddr: []byte(dest),
		RegisteredDelivery: registered,
		DataCoding:         0,
		ShortMessage:       []byte(text),
		TLVs:               pdu.AppendTLV(nil, 0x1400, []byte{0xCA, 0xFE}),
	}
	body = pdu.AppendSM(nil, sm)
	return pdu.Request(pdu.SubmitSM, seq, body), body
}

// deliverSM returns a mobile-originated deliver_sm and its body.
func deliverSM(from, text string) (raw, body []byte) {
	sm := &pdu.SM{
		SourceTON: 1, SourceNPI: 1, SourceAddr: []byte(from),
		DestAddr:     []byte("12345"),
		ShortMessage: []byte(text),
	}
	body = pdu.AppendSM(nil, sm)
	return pdu.Request(pdu.DeliverSM, 0, body), body
}

// dataSMBody returns the body of a data_sm from the international number
// src to dst, of TON and NPI dstTONNPI, carrying text in message_payload.
func dataSMBody(src string, dstTONNPI byte, dst, text string) []byte {
	body := pdu.AppendCString(nil, "")
	body = append(body, 1, 1)
	body = pdu.AppendCString(body, src)
	body = append(body, dstTONNPI, dstTONNPI)
	body = pdu.AppendCString(body, dst)
	body = append(body, 0, 0, 0) // esm_class, registered_delivery, data_coding
	return pdu.AppendTLV(body, pdu.TagMessagePayload, []byte(text))
}

// result is what a Submit's done got.
type result struct {
	f   pdu.Frame
	err error
}

// submit calls u.Submit and returns the channel done reports to.
func submit(t *testing.T, ctx context.Context, u *Upstream, raw []byte) <-chan result {
	t.Helper()
	ch := make(chan result, 1)
	if err := u.Submit(ctx, raw, func(f pdu.Frame, err error) { ch <- result{f, err} }); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	return ch
}

// await returns the result on ch, failing the test at ctx's end.
func await(t *testing.T, ctx context.Context, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		t.Fatalf("no response: %v", ctx.Err())
		return result{}
	}
}

// messageID returns the message_id of a submit_sm_resp or data_sm_resp.
func messageID(t *testing.T, f pdu.Frame) string {
	t.Helper()
	id, err := pdu.ParseMessageIDResp(f.Body())
	if err != nil {
		t.Fatalf("message_id of %s: %v", pdu.IDName(f.ID), err)
	}
	return string(id)
}

// delivery is one deliver_sm or data_sm handed to a handler.
type delivery struct {
	u   *Upstream
	f   pdu.Frame
	ack func(pdu.Status)
}

// handler queues every delivery on a channel; the test acks.
type handler chan delivery

func (h handler) HandleDeliver(u *Upstream, f pdu.Frame, ack func(pdu.Status)) {
	h <- delivery{u, f, ack}
}

// next returns the next delivery, failing the test at ctx's end.
func (h handler) next(t *testing.T, ctx context.Context) delivery {
	t.Helper()
	select {
	case d := <-h:
		return d
	case <-ctx.Done():
		t.Fatalf("no delivery: %v", ctx.Err())
		return delivery{}
	}
}

// packageGoroutines returns the stacks of running goroutines executing
// code of this package or of its connections.
func packageGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var found []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		frames := framesOf(g)
		if returning(frames) {
			continue
		}
		for _, f := range frames {
			if strings.Contains(f, "smppmux/upstream.(*Bind)") || strings.Contains(f, "smppmux/upstream.(*Upstream)") ||
				strings.Contains(f, "smppmux/internal/smppconn.(*Conn)") {
				found = append(found, g)
				break
			}
		}
	}
	return found
}

// framesOf returns the function of each frame of the goroutine stack g,
// innermost first, without where it was created.
func framesOf(g string) []string {
	var frames []string
	for _, line := range strings.Split(g, "\n")[1:] {
		if line == "" || strings.HasPrefix(line, "\t") || strings.HasPrefix(line, "created by ") {
			continue
		}
		frames = append(frames, line)
	}
	return frames
}

// returning reports whether a goroutine with these frames has nothing
// left but the body of the function it was started with, past the calls
// it makes (it has signalled its owner: WaitGroup.Done, a closed channel),
// or is already exiting. A goroutine that waits for anything has the
// waiting call's frames above its own; one whose own frame is all there
// is runs on to its return (a connection's reader, say, past
// WaitGroup.Done).
func returning(frames []string) bool {
	if len(frames) > 0 && strings.HasPrefix(frames[0], "runtime.goexit") {
		return true
	}
	return len(frames) == 1
}

// sessionOf returns the SMSC session of bind b, matched by address.
func sessionOf(t *testing.T, srv *smsctest.Server, b *Bind) *smsctest.Session {
	t.Helper()
	a := b.LocalAddr()
	if a == nil {
		t.Fatalf("bind %d has no connection", b.index)
	}
	for _, s := range srv.Sessions() {
		if s.RemoteAddr().String() == a.String() {
			return s
		}
	}
	t.Fatalf("no SMSC session for bind %d at %s", b.index, a)
	return nil
}

// checkStillBound checks that the upstream's single bind is still its
// first connection and takes submits.
func checkStillBound(t *testing.T, ctx context.Context, srv *smsctest.Server, u *Upstream, l *logs) {
	t.Helper()
	raw, _ := submitSM(1, "447700900123", "still there?", 0)
	if r := await(t, ctx, submit(t, ctx, u, raw)); r.err != nil || r.f.Status != pdu.StatusOK {
		t.Fatalf("submit: %v status 0x%x", r.err, uint32(r.f.Status))
	}
	if st := u.Binds()[0].State(); st != StateBound {
		t.Errorf("state %s", st)
	}
	if got := l.count("upstream bound")[0]; got != 1 || srv.Binds() != 1 {
		t.Errorf("bound %d times, SMSC binds %d: the bind did not stay up", got, srv.Binds())
	}
	if got := l.count("upstream bind lost"); len(got) != 0 {
		t.Errorf("bind lost: %v", got)
	}
}

type handlerFunc func(*Upstream, pdu.Frame, func(pdu.Status))

func (f handlerFunc) HandleDeliver(u *Upstream, fr pdu.Frame, ack func(pdu.Status)) { f(u, fr, ack) }

// waitHealthy waits until u takes submits: a bind made suspect by a
// timeout has had its enquire_link answered.
func waitHealthy(t *testing.T, ctx context.Context, u *Upstream) {
	t.Helper()
	if err := waitHealth(ctx, u, true); err != nil {
		t.Fatal("the bind stayed suspect: its enquire_link was not answered")
	}
}

// waitHealth waits, woken by HealthChanged, until u.Healthy() is want or
// ctx is done.
func waitHealth(ctx context.Context, u *Upstream, want bool) error {
	for {
		ch := u.HealthChanged()
		if u.Healthy() == want {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
