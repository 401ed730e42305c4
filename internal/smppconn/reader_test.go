package smppconn

import (
	"encoding/binary"
	"errors"
	"net"
	"testing"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
)

func TestHandleAndUnknownCommand(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{}, nil)
	var in []byte
	in = append(in, pdu.Empty(pdu.EnquireLink, pdu.StatusOK, 1)...)
	in = append(in, pdu.AppendHeader(nil, pdu.ID(0x99), pdu.StatusOK, 2, 2)...)
	in = append(in, 'x', 'y')
	in = append(in, pdu.Request(pdu.SubmitSM, 3, []byte("z"))...)
	fx.send(t, in)
	expectHeader(t, recv(t, fx.handled, "request"), pdu.EnquireLink, pdu.StatusOK, 1)
	f := recv(t, fx.handled, "request")
	expectHeader(t, f, pdu.SubmitSM, pdu.StatusOK, 3)
	if string(f.Body()) != "z" {
		t.Fatalf("body %q", f.Body())
	}
	expectHeader(t, fx.read(t), pdu.GenericNack, pdu.StatusInvCmdID, 2)
	none(t, fx.handled, "request")
}

// TestStrayResponses: a response that matches no request, of a known
// command or of one SMPP does not define, is dropped and never answered:
// the next PDU the peer reads answers its next request.
func TestStrayResponses(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{}, nil)
	fx.send(t, append(esmetest.StrayResponses(40), pdu.Empty(pdu.EnquireLink, pdu.StatusOK, 45)...))
	for _, want := range []pdu.ID{pdu.SubmitSMResp, pdu.DeliverSMResp, 0x80000099, 0x8000FFFF, pdu.GenericNack} {
		u := recv(t, fx.unmatched, "unmatched response")
		if u.ID != want {
			t.Fatalf("unmatched %s 0x%08X seq %d, want 0x%08X", pdu.IDName(u.ID), uint32(u.ID), u.Seq, uint32(want))
		}
	}
	f := recv(t, fx.handled, "request")
	expectHeader(t, f, pdu.EnquireLink, pdu.StatusOK, 45)
	fx.c.Send(pdu.Empty(pdu.EnquireLinkResp, pdu.StatusOK, f.Seq))
	expectHeader(t, fx.read(t), pdu.EnquireLinkResp, pdu.StatusOK, 45)
}

func TestBadLength(t *testing.T) {
	t.Parallel()
	for _, n := range []uint32{0, 4, 15, pdu.DefaultMaxLen + 1} {
		fx := newFixture(t, Config{}, nil)
		hdr := pdu.AppendHeader(nil, pdu.SubmitSM, pdu.StatusOK, 9, 0)
		binary.BigEndian.PutUint32(hdr, n)
		fx.send(t, hdr)
		expectHeader(t, fx.read(t), pdu.GenericNack, pdu.StatusInvCmdLen, 9)
		fx.expectEOF(t)
		ev := fx.expectClose(t, ReasonBadLength)
		if !errors.Is(ev.err, pdu.ErrLength) {
			t.Fatalf("close error %v", ev.err)
		}
	}
}

func TestMaxPDU(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{MaxPDU: 32}, nil)
	fx.send(t, pdu.Request(pdu.SubmitSM, 1, make([]byte, 16)))
	expectHeader(t, recv(t, fx.handled, "request"), pdu.SubmitSM, pdu.StatusOK, 1)
	fx.send(t, pdu.Request(pdu.SubmitSM, 2, make([]byte, 17)))
	expectHeader(t, fx.read(t), pdu.GenericNack, pdu.StatusInvCmdLen, 2)
	fx.expectClose(t, ReasonBadLength)
}

func TestTruncatedFrame(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{}, nil)
	fx.send(t, pdu.Request(pdu.SubmitSM, 1, []byte("whole body"))[:20])
	fx.peer.(*net.TCPConn).CloseWrite()
	fx.expectClose(t, ReasonReadError)
	none(t, fx.handled, "request")
}

func TestPanicInHandler(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{}, func(f pdu.Frame) {
		if f.ID == pdu.SubmitSM {
			panic("handler bug")
		}
	})
	fx.send(t, pdu.Request(pdu.SubmitSM, 1, nil))
	ev := fx.expectClose(t, ReasonPanic)
	if ev.err == nil {
		t.Fatal("no error with the panic")
	}
	fx.expectEOF(t)
	fx.c.Wait()
}
