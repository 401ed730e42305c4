package smsctest

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/smppmux/smppmux/internal/fakewire"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/quickack"
)

const (
	// queueLen is how many PDUs a session queues for its writer before
	// producers block.
	queueLen = 4096
)

// reason says why a session ended.
type reason int32

const (
	reasonPeerClosed reason = iota
	reasonReadError
	reasonWriteError
	reasonUnbind
	reasonBadLength
	reasonDisconnectReply
	reasonDisconnectAll
	reasonServerClosed
	reasonClosed
	reasonPanic
)

func (r reason) String() string {
	switch r {
	case reasonPeerClosed:
		return "peer closed"
	case reasonReadError:
		return "read error"
	case reasonWriteError:
		return "write error"
	case reasonUnbind:
		return "unbind"
	case reasonBadLength:
		return "invalid command_length"
	case reasonDisconnectReply:
		return "disconnect reply"
	case reasonDisconnectAll:
		return "disconnect all"
	case reasonServerClosed:
		return "server closed"
	case reasonClosed:
		return "closed"
	case reasonPanic:
		return "panic"
	}
	return "unknown"
}

// kind is what a deliver_sm sent by the Server was.
type kind uint8

const (
	kindReceipt kind = iota + 1
	kindPush
)

// Session is one connection to the Server, bound or not.
type Session struct {
	srv  *Server
	conn net.Conn
	out  chan []byte // nil: flush, then close with flushReason
	done chan struct{}
	once sync.Once
	seq  atomic.Uint32

	flushReason atomic.Int32

	// Guarded by srv.mu.
	bound    bool
	systemID string
	bindType pdu.ID

	// Copies owned by the reader goroutine.
	rBound    bool
	rSystemID string
	rBindType pdu.ID

	pmu     sync.Mutex
	pending map[uint32]kind // deliver_sm awaiting a response, by sequence

	// Guarded by srv.hmu, under Config.HoldReceipts: the queue of held
	// receipts the session takes from, nil when it takes none, and those
	// in flight on it, by sequence.
	hq       *holdQueue
	inflight map[uint32]*heldReceipt
}

func newSession(srv *Server, conn net.Conn) *Session {
	return &Session{
		srv:     srv,
		conn:    conn,
		out:     make(chan []byte, queueLen),
		done:    make(chan struct{}),
		pending: make(map[uint32]kind),
	}
}

// SystemID returns the system_id the session bound with, "" before bind.
func (s *Session) SystemID() string {
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	return s.systemID
}

// BindType returns the command id of the session's bind
// (pdu.BindTransmitter, pdu.BindReceiver or pdu.BindTransceiver), 0
// before bind.
func (s *Session) BindType() pdu.ID {
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	return s.bindType
}

// RemoteAddr returns the address of the peer.
func (s *Session) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }

// Send queues raw for the session's peer as it is: a whole PDU, part of
// one, several, or garbage; nothing tracks an answer. It reports
// ErrClosed once the session has ended.
func (s *Session) Send(raw []byte) error {
	if len(raw) == 0 {
		return nil // a nil slice would tell the writer to close
	}
	if !s.queue(raw) {
		return ErrClosed
	}
	return nil
}

// Close closes the session abruptly. It does not wait for the session's
// goroutines (Server.Close does), so it may be called from Config.Submit.
func (s *Session) Close() { s.close(reasonClosed) }

// Done returns a channel closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// close ends the session; only the first call has an effect.
func (s *Session) close(r reason) {
	s.once.Do(func() {
		close(s.done)
		s.conn.Close()
		s.srv.remove(s)
		if s.srv.cfg.HoldReceipts {
			s.srv.holdDetach(s)
		}
		s.srv.log.Debug("session closed",
			zap.Stringer("remote", s.conn.RemoteAddr()),
			zap.String("system_id", s.SystemID()),
			zap.Stringer("reason", r))
	})
}

func (s *Session) isClosed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// receives reports whether the session takes deliver_sm; s.srv.mu is held.
func (s *Session) receives() bool {
	return s.bound && (s.bindType == pdu.BindReceiver || s.bindType == pdu.BindTransceiver) && !s.isClosed()
}

// nextSeq returns the next sequence_number of the session.
func (s *Session) nextSeq() uint32 {
	for {
		old := s.seq.Load()
		n := pdu.NextSeq(old)
		if s.seq.CompareAndSwap(old, n) {
			return n
		}
	}
}

// queue hands b to the writer; it reports false once the session ended.
func (s *Session) queue(b []byte) bool {
	select {
	case s.out <- b:
		return true
	case <-s.done:
		return false
	}
}

// queueClose makes the writer flush what is queued, then close.
func (s *Session) queueClose(r reason) {
	s.flushReason.Store(int32(r))
	s.queue(nil)
}

// deliver sends b, a deliver_sm with sequence seq, and tracks its response.
func (s *Session) deliver(raw []byte, k kind) error {
	seq := s.nextSeq()
	return s.deliverPDU(pdu.Resend(raw, seq), seq, k)
}

func (s *Session) deliverPDU(b []byte, seq uint32, k kind) error {
	s.pmu.Lock()
	s.pending[seq] = k
	s.pmu.Unlock()
	if !s.queue(b) {
		s.pmu.Lock()
		delete(s.pending, seq)
		s.pmu.Unlock()
		return ErrClosed
	}
	return nil
}

func (s *Session) writeLoop() {
	defer s.srv.wg.Done()
	wr := fakewire.Writer{Conn: s.conn, Out: s.out, Done: s.done,
		EnquireLink: s.srv.cfg.EnquireLinkInterval, NextSeq: s.nextSeq,
		End: func(err error) {
			if err == nil {
				s.close(reason(s.flushReason.Load()))
				return
			}
			s.close(reasonWriteError)
		}}
	wr.Run()
}

func (s *Session) readLoop() {
	defer s.srv.wg.Done()
	defer func() {
		if v := recover(); v != nil {
			s.srv.log.Error("session panic", zap.Any("panic", v), zap.Stack("stack"))
			s.close(reasonPanic)
		}
	}()
	var r io.Reader = s.conn
	if s.srv.cfg.QuickAck {
		r = quickack.Reader(s.conn)
	}
	rd := pdu.NewReader(r, 0)
	for {
		f, err := rd.Read()
		if err != nil {
			var le *pdu.LengthError
			switch {
			case errors.As(err, &le):
				s.queue(pdu.Empty(pdu.GenericNack, pdu.StatusInvCmdLen, le.Header.Seq))
				s.queueClose(reasonBadLength)
			case errors.Is(err, io.EOF):
				s.close(reasonPeerClosed)
			default:
				s.close(reasonReadError)
			}
			return
		}
		if !s.handle(f) {
			return
		}
	}
}

// handle answers one PDU; it reports false when the reader must stop.
func (s *Session) handle(f pdu.Frame) bool {
	if s.srv.hung.Load() {
		return true
	}
	switch f.ID {
	case pdu.BindTransmitter, pdu.BindReceiver, pdu.BindTransceiver:
		s.srv.bindReqs.Add(1)
		s.handleBind(f)
	case pdu.SubmitSM, pdu.DataSM:
		return s.handleSubmit(f)
	case pdu.QuerySM, pdu.CancelSM, pdu.ReplaceSM:
		if !s.rBound {
			s.queue(pdu.Empty(pdu.RespID(f.ID), pdu.StatusInvBndSts, f.Seq))
			return true
		}
		s.handleByID(f)
	case pdu.EnquireLink:
		s.queue(pdu.Empty(pdu.EnquireLinkResp, pdu.StatusOK, f.Seq))
	case pdu.Unbind:
		s.queue(pdu.Empty(pdu.UnbindResp, pdu.StatusOK, f.Seq))
		s.queueClose(reasonUnbind)
		return false
	case pdu.DeliverSMResp, pdu.DataSMResp, pdu.GenericNack:
		s.pmu.Lock()
		k, ok := s.pending[f.Seq]
		delete(s.pending, f.Seq)
		s.pmu.Unlock()
		switch {
		case ok:
			s.srv.acked(k, f.Status)
		case s.srv.cfg.HoldReceipts:
			s.srv.heldResp(s, f.Seq, f.Status)
		}
	default:
		if pdu.IsResponse(f.ID) && pdu.Known(f.ID) {
			return true // a response to nothing the Server asked: ignored
		}
		// Unknown, or a request this fake does not implement.
		s.queue(pdu.Empty(pdu.GenericNack, pdu.StatusInvCmdID, f.Seq))
	}
	return true
}

func (s *Session) handleBind(f pdu.Frame) {
	if s.rBound {
		s.queue(pdu.BindResp(f.ID, pdu.StatusAlyBnd, f.Seq, ""))
		return
	}
	cfg := &s.srv.cfg
	b, err := pdu.ParseBind(f.Body())
	st := pdu.StatusOK
	switch {
	case err != nil:
		st = fieldStatus(err, pdu.StatusBindFail)
	case cfg.SystemID != "" && string(b.SystemID) != cfg.SystemID:
		st = pdu.StatusInvSysID
	case cfg.SystemID != "" && string(b.Password) != cfg.Password:
		st = pdu.StatusInvPaswd
	}
	resp := pdu.BindResp(f.ID, st, f.Seq, SystemID)
	if st != pdu.StatusOK {
		s.queue(resp)
		return
	}
	s.rBound = true
	s.rSystemID = string(b.SystemID)
	s.rBindType = f.ID
	// bind_resp is queued in the same critical section that makes the
	// session visible, so it goes out before any receipt or push and the
	// bind counts as soon as the peer can see it.
	if s.srv.bind(s, s.rSystemID, f.ID, resp) {
		s.srv.log.Debug("bound", zap.String("system_id", s.rSystemID), zap.String("bind", pdu.IDName(f.ID)))
		if cfg.HoldReceipts && f.ID != pdu.BindTransmitter {
			s.srv.holdAttach(s, s.rSystemID)
		}
	}
}

// answer is the response to one accepted or refused message, and its
// receipt.
type answer struct {
	s       *Session
	respID  pdu.ID
	seq     uint32
	status  pdu.Status
	msgID   string
	sm      *pdu.SM
	receipt bool
}

func (s *Session) handleSubmit(f pdu.Frame) bool {
	srv := s.srv
	srv.recv.Add(1)
	rid := pdu.RespID(f.ID)
	if !s.rBound || s.rBindType == pdu.BindReceiver {
		s.queue(pdu.Empty(rid, pdu.StatusInvBndSts, f.Seq))
		return true
	}
	req := SubmitRequest{Session: s, Frame: f}
	var sm *pdu.SM
	if f.ID == pdu.SubmitSM {
		sm = new(pdu.SM)
		if err := pdu.ParseSM(f.Body(), sm); err != nil {
			s.queue(pdu.Empty(rid, fieldStatus(err, pdu.StatusSysErr), f.Seq))
			return true
		}
		req.SM = sm
	} else {
		ds := new(pdu.SM)
		if err := pdu.ParseDataSM(f.Body(), ds); err != nil {
			s.queue(pdu.Empty(rid, fieldStatus(err, pdu.StatusSysErr), f.Seq))
			return true
		}
		req.DataSM = ds
		payload, _ := pdu.FindTLV(ds.TLVs, pdu.TagMessagePayload)
		sm = &pdu.SM{
			SourceTON: ds.SourceTON, SourceNPI: ds.SourceNPI, SourceAddr: ds.SourceAddr,
			DestTON: ds.DestTON, DestNPI: ds.DestNPI, DestAddr: ds.DestAddr,
			RegisteredDelivery: ds.RegisteredDelivery, ShortMessage: payload,
		}
	}
	var reply Reply
	if srv.cfg.Submit != nil {
		reply = srv.cfg.Submit(&req)
	}
	switch {
	case reply.Disconnect:
		s.close(reasonDisconnectReply)
		return false
	case reply.Drop:
		return true
	}
	a := answer{s: s, respID: rid, seq: f.Seq, status: reply.Status, sm: sm}
	if reply.Status == pdu.StatusOK {
		a.msgID = srv.messageID()
		a.receipt = !reply.NoReceipt && sm.RegisteredDelivery&0x03 != 0
		srv.record(Record{MessageID: a.msgID, SystemID: s.rSystemID, Raw: f.Raw, Body: f.Body(), At: time.Now()})
	}
	d := reply.Delay
	if a.receipt && srv.cfg.ReceiptBeforeResp {
		d += srv.cfg.ReceiptDelay
	}
	if d > 0 {
		heap := a
		srv.after(d, heap.run)
	} else {
		a.run()
	}
	return true
}

// run sends the response and the receipt in the configured order.
func (a *answer) run() {
	s, srv := a.s, a.s.srv
	resp := pdu.MessageIDResp(a.respID, a.status, a.seq, a.msgID)
	switch {
	case !a.receipt:
		s.queue(resp)
	case srv.cfg.ReceiptBeforeResp:
		s.sendReceipt(a.msgID, a.sm)
		s.queue(resp)
	case srv.cfg.ReceiptDelay > 0:
		s.queue(resp)
		srv.after(srv.cfg.ReceiptDelay, a.sendReceipt)
	case srv.cfg.HoldReceipts:
		// The receipt is owed (and pending) before the submitter sees
		// the response, and sent after it.
		srv.hold(s.rSystemID, a.msgID, a.sm)
		s.queue(resp)
		srv.pump(s.rSystemID)
	default:
		// The receiving session is chosen before the response goes out,
		// so a session bound after the submitter saw its response does
		// not get this receipt.
		t := s.receiptTarget()
		s.queue(resp)
		s.sendReceiptTo(t, a.msgID, a.sm)
	}
}

func (a *answer) sendReceipt() { a.s.sendReceipt(a.msgID, a.sm) }

// sendReceipt sends the receipt of message id, submitted on s as sm, to a
// session of the same system_id, s first if it is a transceiver; under
// Config.HoldReceipts it is held for the sessions of that system_id.
func (s *Session) sendReceipt(id string, sm *pdu.SM) {
	if s.srv.cfg.HoldReceipts {
		s.srv.hold(s.rSystemID, id, sm)
		s.srv.pump(s.rSystemID)
		return
	}
	s.sendReceiptTo(s.receiptTarget(), id, sm)
}

// receiptTarget returns the session receipts of s go to, nil if none.
func (s *Session) receiptTarget() *Session { return s.srv.pick(s.rSystemID, s) }

// sendReceiptTo sends the receipt of message id, submitted as sm, on t;
// with no t, the receipt is counted as unsent.
func (s *Session) sendReceiptTo(t *Session, id string, sm *pdu.SM) {
	srv := s.srv
	if t == nil {
		srv.receiptUnsent()
		return
	}
	seq := t.nextSeq()
	b := pdu.AppendHeader(make([]byte, 0, 192+2*len(id)), pdu.DeliverSM, pdu.StatusOK, seq, 0)
	b = appendReceipt(b, id, sm, srv.stat, srv.state, time.Now())
	pdu.SetLen(b)
	if t.deliverPDU(b, seq, kindReceipt) != nil {
		srv.receiptUnsent()
	}
}

// fieldStatus returns the status of a *pdu.FieldError, else def.
func fieldStatus(err error, def pdu.Status) pdu.Status {
	var fe *pdu.FieldError
	if errors.As(err, &fe) && fe.Status != pdu.StatusOK {
		return fe.Status
	}
	return def
}
