package upstream

import (
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

func TestRequestsAnSMSCMustNotSend(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, w := newSMSC(t, smsctest.Config{})
	h := make(handler, 1)
	u, l := startBound(t, ctx, srv, Config{}, h)

	raw, _ := submitSM(0, "447700900123", "wrong way", 0)
	if err := srv.Push(raw); err != nil {
		t.Fatal(err)
	}
	// alert_notification: source and esme address, nothing to answer.
	alert := pdu.AppendCString([]byte{1, 1}, "447700900001")
	alert = pdu.AppendCString(append(alert, 0, 0), "")
	if err := srv.Push(pdu.Request(pdu.AlertNotification, 0, alert)); err != nil {
		t.Fatal(err)
	}
	mo, _ := deliverSM("447700900001", "after")
	if err := srv.Push(mo); err != nil {
		t.Fatal(err)
	}
	h.next(t, ctx).ack(pdu.StatusOK)
	if _, err := w.waitN(ctx, 1, ofID(pdu.DeliverSMResp)); err != nil {
		t.Fatal(err)
	}
	nacks := w.snapshot(ofID(pdu.GenericNack))
	if len(nacks) != 1 || nacks[0].f.Status != pdu.StatusInvCmdID {
		t.Fatalf("generic_nack for a submit_sm from the SMSC: %+v", nacks)
	}
	others := w.snapshot(func(p tapped) bool {
		return pdu.IsResponse(p.f.ID) && p.f.ID != pdu.GenericNack && p.f.ID != pdu.DeliverSMResp
	})
	if len(others) != 0 {
		t.Errorf("unexpected answers: %s", pdu.IDName(others[0].f.ID))
	}
	checkStillBound(t, ctx, srv, u, l)
}

// TestStrayResponsesFromSMSC: responses to nothing the bind sent (a
// submit_sm_resp of no submit, one of a command id SMPP does not define,
// a generic_nack) are dropped, never answered, and logged once: the next
// PDU the SMSC reads is the answer to its next request.
func TestStrayResponsesFromSMSC(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	srv, w := newSMSC(t, smsctest.Config{})
	u, l := startBound(t, ctx, srv, Config{EnquireLinkInterval: time.Minute}, nil)
	sessions := srv.Sessions()
	if len(sessions) != 1 {
		t.Fatalf("%d SMSC sessions", len(sessions))
	}
	if err := sessions[0].Send(esmetest.StrayResponses(7001)); err != nil {
		t.Fatal(err)
	}
	if err := sessions[0].Send(pdu.Empty(pdu.EnquireLink, pdu.StatusOK, 7010)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.waitN(ctx, 1, func(p tapped) bool { return p.f.ID == pdu.EnquireLinkResp && p.f.Seq == 7010 }); err != nil {
		t.Fatal(err)
	}
	// What the bind wrote: its bind, then the enquire_link_resp.
	got := w.snapshot(func(tapped) bool { return true })
	if len(got) != 2 || got[0].f.ID != pdu.BindTransceiver || got[1].f.ID != pdu.EnquireLinkResp {
		for _, p := range got {
			t.Logf("SMSC read %s 0x%08X seq %d", pdu.IDName(p.f.ID), uint32(p.f.Status), p.f.Seq)
		}
		t.Fatalf("the SMSC read %d PDUs, want the bind and the enquire_link_resp", len(got))
	}
	if n := l.count("response matches no request, dropped")[0]; n != 1 {
		t.Errorf("%d lines about the stray responses, want 1", n)
	}
	checkStillBound(t, ctx, srv, u, l)
}
