package smppserver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smppconn"
	"github.com/smppmux/smppmux/smppserver"
)

const (
	// fuzzWait bounds each wait of one fuzz input: a session that has
	// read the client's end of stream ends in well under it.
	fuzzWait = 5 * time.Second
	// fuzzCheckEvery is how often, in inputs, a fresh bind checks that
	// the server still serves.
	fuzzCheckEvery = 10
)

// fuzzServer is one Server shared by every input of a fuzzing process.
type fuzzServer struct {
	srv  *smppserver.Server
	addr string

	inputs atomic.Int64 // inputs run
	dialed atomic.Int64 // connections opened to the server
	ended  atomic.Int64 // sessions ended, OnSessionClosed calls
	panics atomic.Int64 // sessions ended by a recovered panic
	last   atomic.Int64 // the smppconn.Reason of the last session ended
	endSig chan struct{}
}

func startFuzzServer(tb testing.TB) *fuzzServer {
	fz := &fuzzServer{endSig: make(chan struct{}, 1)}
	fz.srv = &smppserver.Server{
		Auth:    &stubAuth{window: 8},
		Handler: parsingHandler{},
		// No enquire_link from the server: every PDU it writes answers
		// one of the client's.
		EnquireLinkInterval: time.Hour,
		OnSessionClosed: func(r smppconn.Reason) {
			if r == smppconn.ReasonPanic {
				fz.panics.Add(1)
			}
			fz.last.Store(int64(r))
			fz.ended.Add(1)
			select {
			case fz.endSig <- struct{}{}:
			default:
			}
		},
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	fz.addr = l.Addr().String()
	served := make(chan error, 1)
	go func() { served <- fz.srv.Serve(l) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		fz.srv.Close()
		if err := fz.srv.Shutdown(ctx); err != nil {
			tb.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, smppserver.ErrServerClosed) {
			tb.Errorf("Serve: %v", err)
		}
	})
	return fz
}

// FuzzSession writes arbitrary client byte streams to a real Server: a
// bind, requests before and after it, garbage, truncated or oversized
// frames, floods. Whatever comes in, the server must not panic, must write
// only well-formed responses, each answering a request of the stream in
// order and as the bind state requires, and must end the session once the
// client has half-closed. Every few inputs a fresh client binds and is
// served.
//
// The stream is head followed by tail written times times, so that a
// flood or a 60 KiB PDU takes a short input: each input is run over a
// socket, and the fuzzer's minimizer is quadratic in an input's length.
func FuzzSession(f *testing.F) {
	fz := startFuzzServer(f)
	f.Fuzz(func(t *testing.T, head, tail []byte, times uint16) {
		if len(head) > maxFuzzPart || len(tail) > maxFuzzPart {
			t.Skip("input too long")
		}
		fz.session(t, clientStream(head, tail, int(times)))
		if fz.inputs.Add(1)%fuzzCheckEvery == 1 {
			fz.healthy(t)
		}
	})
}

const (
	maxFuzzPart   = 256
	maxFuzzStream = 256 << 10
)

// clientStream returns head followed by times copies of tail, up to
// maxFuzzStream octets of them.
func clientStream(head, tail []byte, times int) []byte {
	if len(tail) > 0 {
		times = min(times, maxFuzzStream/len(tail))
	}
	b := make([]byte, 0, len(head)+times*len(tail))
	b = append(b, head...)
	for range times {
		b = append(b, tail...)
	}
	return b
}

// session writes in on a new connection, half-closes it and checks what
// the server wrote back until it closed.
func (fz *fuzzServer) session(t *testing.T, in []byte) {
	nc, err := net.DialTimeout("tcp", fz.addr, fuzzWait)
	if err != nil {
		t.Fatal(err)
	}
	fz.dialed.Add(1)
	tc := nc.(*net.TCPConn)
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		// The server may close first, cutting the write short.
		if _, err := tc.Write(in); err == nil {
			_ = tc.CloseWrite()
		}
	}()
	defer func() {
		tc.Close()
		<-wrote
	}()
	if err := tc.SetReadDeadline(time.Now().Add(fuzzWait)); err != nil {
		t.Fatal(err)
	}
	var out []pdu.Frame
	rd := pdu.NewReader(tc, pdu.DefaultMaxLen)
	for {
		f, err := rd.Read()
		if err != nil {
			var le *pdu.LengthError
			switch {
			case errors.As(err, &le):
				t.Fatalf("server wrote command_length %d", le.Header.Len)
			case errors.Is(err, io.ErrUnexpectedEOF):
				t.Fatalf("server closed in the middle of %s seq %d", pdu.IDName(f.ID), f.Seq)
			case !connEnded(err):
				t.Fatalf("the session did not end: %v after %d PDUs", err, len(out))
			}
			break
		}
		out = append(out, f)
	}
	fz.waitEnded(t)
	// This client reads all along: the server never has to give up on it,
	// and it writes everything it queued before it closes.
	if r := smppconn.Reason(fz.last.Load()); r == smppconn.ReasonWriteError || r == smppconn.ReasonSlowPending || r == smppconn.ReasonSlowDeadline {
		t.Fatalf("session closed with %v", r)
	}
	if err := checkAnswers(requestsIn(in), out); err != nil {
		t.Fatal(err)
	}
}

// healthy binds a fresh client, exchanges an enquire_link and unbinds.
func (fz *fuzzServer) healthy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), fuzzWait)
	defer cancel()
	rc := esmetest.Connect(t, ctx, fz.addr)
	fz.dialed.Add(1)
	rawBind(t, ctx, rc, pdu.BindTransceiver)
	enquire(t, ctx, rc, 2)
	send(t, rc, submitPDU(3, "still serving"))
	expectMessageID(t, read(t, ctx, rc), pdu.SubmitSMResp, 3, "m3")
	send(t, rc, pdu.Empty(pdu.Unbind, pdu.StatusOK, 4))
	expect(t, read(t, ctx, rc), pdu.UnbindResp, pdu.StatusOK, 4)
	expectEnded(t, ctx, rc)
	fz.waitEnded(t)
}

// waitEnded waits until every session opened has ended, and fails if one
// ended in a panic.
func (fz *fuzzServer) waitEnded(t *testing.T) {
	timeout := time.NewTimer(fuzzWait)
	defer timeout.Stop()
	for fz.ended.Load() < fz.dialed.Load() {
		select {
		case <-fz.endSig:
		case <-timeout.C:
			t.Fatalf("%d of %d sessions ended", fz.ended.Load(), fz.dialed.Load())
		}
	}
	if n := fz.panics.Load(); n > 0 {
		t.Fatalf("%d sessions ended in a panic", n)
	}
}

// sentPDU is one PDU of the client's stream as the server frames it.
type sentPDU struct {
	pdu.Frame      // Raw is nil when badLen is set
	badLen    bool // command_length refused: the server stops reading here
}

// requestsIn frames in as the server does.
func requestsIn(in []byte) []sentPDU {
	var list []sentPDU
	rd := pdu.NewReader(bytes.NewReader(in), pdu.DefaultMaxLen)
	for {
		f, err := rd.Read()
		if err != nil {
			var le *pdu.LengthError
			if errors.As(err, &le) {
				list = append(list, sentPDU{Frame: pdu.Frame{Header: le.Header}, badLen: true})
			}
			return list
		}
		list = append(list, sentPDU{Frame: f})
	}
}

func isBind(id pdu.ID) bool {
	return id == pdu.BindTransmitter || id == pdu.BindReceiver || id == pdu.BindTransceiver
}

// checkAnswers checks the PDUs the server wrote against the stream it
// read. The server answers in order, exactly once every PDU but a
// response, up to the one that ended the session.
func checkAnswers(in []sentPDU, out []pdu.Frame) error {
	var (
		next     int  // first PDU of in not yet answered
		bound    bool // a bind was accepted
		bindType pdu.ID
		ended    string // why nothing may follow
	)
	for i, f := range out {
		if err := wellFormed(f); err != nil {
			return fmt.Errorf("answer %d: %w", i, err)
		}
		if ended != "" {
			return fmt.Errorf("answer %d, %s seq %d, follows %s", i, pdu.IDName(f.ID), f.Seq, ended)
		}
		j := next
		for j < len(in) && !answers(in[j], f) {
			if wantsAnswer(in[j]) {
				return fmt.Errorf("%s seq %d got no answer; answer %d is %s seq %d",
					pdu.IDName(in[j].ID), in[j].Seq, i, pdu.IDName(f.ID), f.Seq)
			}
			j++
		}
		if j == len(in) {
			return fmt.Errorf("answer %d, %s status 0x%08X seq %d, answers no request after PDU %d",
				i, pdu.IDName(f.ID), uint32(f.Status), f.Seq, next)
		}
		req := in[j]
		next = j + 1
		if err := answerFor(req, f, bound, bindType); err != nil {
			return fmt.Errorf("answer %d to %s seq %d (bound %v): %w", i, pdu.IDName(req.ID), req.Seq, bound, err)
		}
		switch {
		case req.badLen:
			ended = "the answer to a bad command_length"
		case isBind(req.ID) && !bound && f.Status == pdu.StatusOK:
			bound, bindType = true, req.ID
		case isBind(req.ID) && !bound:
			ended = "a refused bind"
		case req.ID == pdu.Unbind && bound:
			ended = "unbind_resp"
		}
	}
	if ended == "" {
		for _, p := range in[next:] {
			if wantsAnswer(p) {
				return fmt.Errorf("%s seq %d got no answer", pdu.IDName(p.ID), p.Seq)
			}
		}
	}
	return nil
}

// wantsAnswer reports whether the server owes p an answer: every PDU but
// a response, whatever its command id.
func wantsAnswer(p sentPDU) bool {
	return p.badLen || !pdu.IsResponse(p.ID)
}

// answers reports whether f can be the server's answer to p.
func answers(p sentPDU, f pdu.Frame) bool {
	if p.Seq != f.Seq {
		return false
	}
	switch {
	case p.badLen:
		return f.ID == pdu.GenericNack
	case pdu.IsResponse(p.ID):
		return false // matched to the server's own requests, not answered
	case !pdu.Known(p.ID):
		return f.ID == pdu.GenericNack
	}
	return f.ID == pdu.RespID(p.ID) || f.ID == pdu.GenericNack
}

// wellFormed checks f on its own.
func wellFormed(f pdu.Frame) error {
	if int(f.Len) != len(f.Raw) || f.Len < pdu.HeaderLen || f.Len > pdu.DefaultMaxLen {
		return fmt.Errorf("command_length %d for %d octets", f.Len, len(f.Raw))
	}
	if !pdu.Known(f.ID) || !pdu.IsResponse(f.ID) {
		return fmt.Errorf("command_id 0x%08X is not a response", uint32(f.ID))
	}
	if f.Status != pdu.StatusOK {
		if f.Len != pdu.HeaderLen {
			return fmt.Errorf("%s with status 0x%08X has a body", pdu.IDName(f.ID), uint32(f.Status))
		}
		return nil
	}
	switch f.ID {
	case pdu.GenericNack:
		return errors.New("generic_nack with ESME_ROK")
	case pdu.BindTransmitterResp, pdu.BindReceiverResp, pdu.BindTransceiverResp:
		d := pdu.NewDecoder(f.Body())
		d.CString("system_id", 16, pdu.StatusInvSysID)
		d.TLVs()
		return d.Err()
	case pdu.SubmitSMResp, pdu.DataSMResp:
		id, err := pdu.ParseMessageIDResp(f.Body())
		if err == nil && len(id) == 0 {
			err = errors.New("empty message_id")
		}
		return err
	case pdu.EnquireLinkResp, pdu.UnbindResp:
		if f.Len != pdu.HeaderLen {
			return fmt.Errorf("%s has a body", pdu.IDName(f.ID))
		}
	}
	return nil
}

// answerFor checks that f is what the server owes p in its bind state.
func answerFor(p sentPDU, f pdu.Frame, bound bool, bindType pdu.ID) error {
	want := func(id pdu.ID, st pdu.Status) error {
		if f.ID != id || f.Status != st {
			return fmt.Errorf("got %s status 0x%08X, want %s status 0x%08X",
				pdu.IDName(f.ID), uint32(f.Status), pdu.IDName(id), uint32(st))
		}
		return nil
	}
	switch {
	case p.badLen:
		return want(pdu.GenericNack, pdu.StatusInvCmdLen)
	case !pdu.Known(p.ID):
		return want(pdu.GenericNack, pdu.StatusInvCmdID)
	case !bound && isBind(p.ID):
		if f.ID != pdu.RespID(p.ID) {
			return want(pdu.RespID(p.ID), f.Status)
		}
		return nil // accepted or refused, as the credentials and body say
	case !bound && (p.ID == pdu.Outbind || p.ID == pdu.AlertNotification):
		return want(pdu.GenericNack, pdu.StatusInvBndSts)
	case !bound:
		return want(pdu.RespID(p.ID), pdu.StatusInvBndSts)
	}
	switch p.ID {
	case pdu.EnquireLink, pdu.Unbind:
		return want(pdu.RespID(p.ID), pdu.StatusOK)
	case pdu.BindTransmitter, pdu.BindReceiver, pdu.BindTransceiver:
		return want(pdu.RespID(p.ID), pdu.StatusAlyBnd)
	case pdu.SubmitSM, pdu.DataSM, pdu.SubmitMulti, pdu.QuerySM, pdu.CancelSM, pdu.ReplaceSM:
		if bindType == pdu.BindReceiver {
			return want(pdu.RespID(p.ID), pdu.StatusInvBndSts)
		}
		// The handler answers at once, so the window never fills.
		if w := parsedAnswer(p.Frame); !bytes.Equal(f.Raw, w) {
			return fmt.Errorf("got % x, want the handler's % x", f.Raw, w)
		}
		return nil
	}
	return want(pdu.GenericNack, pdu.StatusInvCmdID)
}
