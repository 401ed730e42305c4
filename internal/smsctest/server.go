package smsctest

import (
	"context"
	"errors"
	"maps"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/smppmux/smppmux/internal/changes"
	"github.com/smppmux/smppmux/internal/pdu"
)

// Errors returned by the Server.
var (
	// ErrNoReceiver means no bound receiver or transceiver session can take
	// a pushed deliver_sm.
	ErrNoReceiver = errors.New("smsctest: no bound receiver or transceiver session")
	// ErrClosed means the Server or the session was closed.
	ErrClosed = errors.New("smsctest: closed")
	// ErrShortPDU means a pushed PDU is shorter than an SMPP header.
	ErrShortPDU = errors.New("smsctest: PDU shorter than its header")
)

// SystemID is the system_id the Server answers binds with.
const SystemID = "smsctest"

// Config scripts a Server. The zero value accepts every bind and every
// message.
type Config struct {
	// SystemID and Password, when SystemID is not empty, are the only
	// credentials accepted: another system_id is refused with
	// ESME_RINVSYSID, a wrong password with ESME_RINVPASWD.
	SystemID, Password string
	// Submit decides the answer to each submit_sm and data_sm. It runs on
	// the session's reader goroutine and must not block for long. Nil
	// accepts every message.
	Submit func(r *SubmitRequest) Reply
	// IDFormat renders the n-th message id issued, n counting from 1. Nil
	// renders n in lowercase hexadecimal without padding.
	IDFormat func(n uint64) string
	// ReceiptDelay is how long after the submit_sm_resp the receipt is sent.
	// Zero queues it right after the response on the same writer.
	ReceiptDelay time.Duration
	// ReceiptBeforeResp sends the receipt before the submit_sm_resp; with
	// ReceiptDelay, the response is held back until the receipt is out.
	ReceiptBeforeResp bool
	// ReceiptStat is the stat: of receipts, "DELIVRD" when empty.
	ReceiptStat string
	// HoldReceipts never loses a receipt, as a real SMSC would not. Every
	// receipt owed is queued per system_id instead of being dropped when no
	// receiver or transceiver session of that system_id is bound, and sent,
	// oldest first, as soon as one is (one binding later included), round
	// robin over those sessions with at most 64 in flight on each. A
	// receipt whose deliver_sm ends without a response, with its session,
	// goes back to the front of the queue for the next session; one
	// answered with an error status goes back after a short backoff. A
	// receipt is done, and counted in ReceiptsAcked once, when a
	// deliver_sm_resp ESME_ROK answers it: it may be delivered more than
	// once. See ReceiptsPending.
	HoldReceipts bool
	// EnquireLinkInterval is how often each session sends enquire_link;
	// zero never sends it.
	EnquireLinkInterval time.Duration
	// QuickAck acknowledges at once what a session reads (TCP_QUICKACK,
	// Linux), as SMSCs that serve clients with Nagle's algorithm on
	// without delay do; see package quickack.
	QuickAck bool
	// DiscardRecords keeps no Record of accepted messages, for long runs of
	// the simulator; counters are still kept.
	DiscardRecords bool
	// Logger receives one line per session event; nil logs nothing.
	Logger *zap.Logger
}

// SubmitRequest is a submit_sm or data_sm handed to Config.Submit.
type SubmitRequest struct {
	// Session is the session the message arrived on.
	Session *Session
	// Frame is the PDU as received.
	Frame pdu.Frame
	// SM is the decoded submit_sm, nil for a data_sm.
	SM *pdu.SM
	// DataSM is the decoded data_sm, nil for a submit_sm.
	DataSM *pdu.SM
}

// Reply is how the Server answers one submit_sm or data_sm.
type Reply struct {
	// Status is the command_status of the response; only StatusOK issues a
	// message id and a receipt.
	Status pdu.Status
	// Delay holds the answer back this long.
	Delay time.Duration
	// Drop never answers.
	Drop bool
	// Disconnect closes the connection abruptly instead of answering.
	Disconnect bool
	// NoReceipt sends no receipt even if one was requested.
	NoReceipt bool
}

// Record is one accepted submit_sm or data_sm.
type Record struct {
	// MessageID is the id issued in the response.
	MessageID string
	// SystemID is the system_id of the session it arrived on.
	SystemID string
	// Raw is the whole PDU as received.
	Raw []byte
	// Body is the PDU body, aliasing Raw.
	Body []byte
	// At is when it was accepted.
	At time.Time
}

// Server is a fake SMSC listening on a TCP socket.
type Server struct {
	cfg   Config
	log   *zap.Logger
	l     net.Listener
	done  chan struct{} // closed by Close
	stat  string
	state byte
	wg    sync.WaitGroup
	ids   atomic.Uint64
	rx    atomic.Uint64 // round robin over receiver sessions
	recv  atomic.Int64
	hung  atomic.Bool

	// bindReqs counts the bind PDUs received, answered or not.
	bindReqs atomic.Int64

	mu       sync.Mutex
	closed   bool
	sessions map[*Session]struct{}
	bound    []*Session // in bind order
	timers   map[*delayed]struct{}

	hmu  sync.Mutex
	held map[string]*holdQueue // by system_id, under Config.HoldReceipts
	hn   uint64                // held receipts created

	smu        sync.Mutex
	binds      int
	accepted   int
	records    []Record
	ops        []Op
	unsent     int
	rcptAcked  int
	rcptStatus map[pdu.Status]int
	pushStatus map[pdu.Status]int
	pushAcked  int
	hpending   int // held receipts not yet acknowledged

	// changes fires on every change of what smu guards.
	changes changes.Signal
}

// delayed is a pending time.AfterFunc owned by the Server.
type delayed struct{ t *time.Timer }

// NewServerOn starts a Server accepting on l, which it owns from now on.
func NewServerOn(l net.Listener, cfg Config) *Server {
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	stat := cfg.ReceiptStat
	if stat == "" {
		stat = "DELIVRD"
	}
	s := &Server{
		cfg:        cfg,
		log:        log.Named("smsctest"),
		l:          l,
		done:       make(chan struct{}),
		stat:       stat,
		state:      MessageState(stat),
		sessions:   make(map[*Session]struct{}),
		timers:     make(map[*delayed]struct{}),
		held:       make(map[string]*holdQueue),
		rcptStatus: make(map[pdu.Status]int),
		pushStatus: make(map[pdu.Status]int),
	}
	s.wg.Add(1)
	go s.accept()
	return s
}

// Start starts a Server on 127.0.0.1 with a port chosen by the system for
// the test tb: a failure to listen fails the test, and the Server is
// closed when the test and its subtests are over.
func Start(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("smsctest: %v", err)
	}
	return StartOn(tb, l, cfg)
}

// StartOn starts a Server accepting on l for the test tb; the Server owns
// l and is closed when the test and its subtests are over.
func StartOn(tb testing.TB, l net.Listener, cfg Config) *Server {
	s := NewServerOn(l, cfg)
	tb.Cleanup(s.Close)
	return s
}

// Addr returns the address the Server listens on, host:port.
func (s *Server) Addr() string { return s.l.Addr().String() }

func (s *Server) accept() {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		conn, err := s.l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient failure such as too many open files: back off
			// so the loop does not spin, unless the Server closes.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", zap.Error(err), zap.Duration("retry_in", backoff))
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.done:
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		if !s.start(conn) {
			conn.Close()
			return
		}
	}
}

// start registers a session for conn and starts its goroutines. It
// reports false once the Server is closed.
func (s *Server) start(conn net.Conn) bool {
	sess := newSession(s, conn)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.sessions[sess] = struct{}{}
	s.wg.Add(2)
	s.mu.Unlock()
	s.log.Debug("session opened", zap.Stringer("remote", conn.RemoteAddr()))
	go sess.readLoop()
	go sess.writeLoop()
	return true
}

// Close stops the listener, closes every session abruptly, cancels pending
// delayed answers and receipts, and waits for every goroutine of the
// Server. It may be called more than once.
func (s *Server) Close() {
	s.mu.Lock()
	first := !s.closed
	s.closed = true
	sessions := make([]*Session, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	for d := range s.timers {
		if d.t.Stop() {
			s.wg.Done()
		}
		delete(s.timers, d)
	}
	s.mu.Unlock()
	if first {
		close(s.done)
		s.l.Close()
	}
	for _, sess := range sessions {
		sess.close(reasonServerClosed)
	}
	s.wg.Wait()
}

// SetHung makes the Server behave as a hung SMSC application while hung is
// true: its sessions keep their connections and read what arrives, but
// answer nothing, not even enquire_link, and send nothing.
func (s *Server) SetHung(hung bool) { s.hung.Store(hung) }

// DisconnectAll closes every session abruptly, as a lost link would. The
// Server keeps listening.
func (s *Server) DisconnectAll() {
	s.mu.Lock()
	sessions := make([]*Session, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	for _, sess := range sessions {
		sess.close(reasonDisconnectAll)
	}
}

// Sessions returns the bound sessions in the order they bound.
func (s *Server) Sessions() []*Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Session(nil), s.bound...)
}

// Binds returns the number of bound sessions.
func (s *Server) Binds() int {
	s.smu.Lock()
	defer s.smu.Unlock()
	return s.binds
}

// WaitBinds waits until at least n sessions are bound or ctx is done.
func (s *Server) WaitBinds(ctx context.Context, n int) error {
	return s.wait(ctx, func() bool { return s.binds >= n })
}

// Records returns every accepted submit_sm and data_sm in arrival order,
// unless Config.DiscardRecords is set.
func (s *Server) Records() []Record {
	s.smu.Lock()
	defer s.smu.Unlock()
	return append([]Record(nil), s.records...)
}

// BindRequests returns how many bind PDUs (of any kind) arrived since the
// Server started, whatever their outcome: a rebind shows here even when
// the count of bound sessions is back where it was.
func (s *Server) BindRequests() int { return int(s.bindReqs.Load()) }

// Received returns how many submit_sm and data_sm arrived, whatever their
// outcome.
func (s *Server) Received() int { return int(s.recv.Load()) }

// Accepted returns how many submit_sm and data_sm were accepted with
// ESME_ROK. A message counts when the decision is taken, before any
// Reply.Delay: a response lost to a disconnect still counts, as it would
// on a real SMSC.
func (s *Server) Accepted() int {
	s.smu.Lock()
	defer s.smu.Unlock()
	return s.accepted
}

// WaitAccepted waits until Accepted reaches n or ctx is done.
func (s *Server) WaitAccepted(ctx context.Context, n int) error {
	return s.wait(ctx, func() bool { return s.accepted >= n })
}

// ReceiptsAcked returns how many receipts were answered with a
// deliver_sm_resp ESME_ROK.
func (s *Server) ReceiptsAcked() int {
	s.smu.Lock()
	defer s.smu.Unlock()
	return s.rcptAcked
}

// WaitReceiptsAcked waits until ReceiptsAcked reaches n or ctx is done.
func (s *Server) WaitReceiptsAcked(ctx context.Context, n int) error {
	return s.wait(ctx, func() bool { return s.rcptAcked >= n })
}

// ReceiptStatuses returns how many receipts were answered with each
// command_status, generic_nack included.
func (s *Server) ReceiptStatuses() map[pdu.Status]int {
	s.smu.Lock()
	defer s.smu.Unlock()
	return maps.Clone(s.rcptStatus)
}

// PushStatuses counts the statuses of the responses to pushed deliver_sm.
func (s *Server) PushStatuses() map[pdu.Status]int {
	s.smu.Lock()
	defer s.smu.Unlock()
	return maps.Clone(s.pushStatus)
}

// WaitPushesAnswered waits until n pushed deliver_sm got a response, with
// any status, or ctx is done.
func (s *Server) WaitPushesAnswered(ctx context.Context, n int) error {
	return s.wait(ctx, func() bool {
		total := 0
		for _, v := range s.pushStatus {
			total += v
		}
		return total >= n
	})
}

// ReceiptsUnsent returns how many receipts were dropped because no
// receiver or transceiver session of the submitter's system_id was bound.
// It stays zero under Config.HoldReceipts.
func (s *Server) ReceiptsUnsent() int {
	s.smu.Lock()
	defer s.smu.Unlock()
	return s.unsent
}

// ReceiptsPending returns how many receipts held under
// Config.HoldReceipts are queued, in flight or waiting to be sent again:
// every one not yet answered with a deliver_sm_resp ESME_ROK.
func (s *Server) ReceiptsPending() int {
	s.smu.Lock()
	defer s.smu.Unlock()
	return s.hpending
}

// PushesAcked returns how many pushed deliver_sm were answered with a
// deliver_sm_resp ESME_ROK.
func (s *Server) PushesAcked() int {
	s.smu.Lock()
	defer s.smu.Unlock()
	return s.pushAcked
}

// WaitPushesAcked waits until PushesAcked reaches n or ctx is done.
func (s *Server) WaitPushesAcked(ctx context.Context, n int) error {
	return s.wait(ctx, func() bool { return s.pushAcked >= n })
}

// Push sends raw, a whole deliver_sm PDU built by the caller, to one bound
// receiver or transceiver session, chosen round robin. Its sequence_number
// is replaced by the session's own; raw is not modified.
func (s *Server) Push(raw []byte) error {
	if len(raw) < pdu.HeaderLen {
		return ErrShortPDU
	}
	sess := s.pick("", nil)
	if sess == nil {
		return ErrNoReceiver
	}
	return sess.deliver(raw, kindPush)
}
