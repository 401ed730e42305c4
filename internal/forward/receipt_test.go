package forward

import (
	"strings"
	"testing"
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/pdu"
)

func TestReceipt(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 30, 4, 55, 0, 0, time.UTC)
	msg := func(rd byte, expires time.Time) *dlr.Queued {
		body := pdu.AppendSM(nil, &pdu.SM{SourceTON: 5, SourceAddr: []byte("Shop"), DestTON: 1, DestNPI: 1,
			DestAddr: []byte("447700900001"), RegisteredDelivery: rd, ShortMessage: []byte("your code is 123456 and more")})
		return &dlr.Queued{Group: "g", Origin: dlr.Origin{SystemID: "shop", ClientID: "abc123", Submitted: at.UnixNano()},
			Raw: pdu.Request(pdu.SubmitSM, 7, body), Expires: expires}
	}
	done := at.Add(90 * time.Minute)
	for _, tc := range []struct {
		name   string
		m      *dlr.Queued
		o      Outcome
		st     pdu.Status
		text   string // "" when no receipt
		state  byte
		maxAge time.Duration
	}{
		{"not asked", msg(0, time.Time{}), Unknown, 0, "", 0, time.Hour},
		{"failure only", msg(2, time.Time{}), Unknown, 0,
			"id:abc123 sub:001 dlvrd:000 submit date:2611300455 done date:2611300625 stat:UNKNOWN err:903 text:your code is 123456 ", 7, time.Hour},
		{"max_age", msg(1, at.Add(time.Hour)), Expired, 0, "stat:EXPIRED err:902 ", 3, time.Hour},
		{"validity", msg(1, at.Add(time.Minute)), Expired, 0, "stat:EXPIRED err:901 ", 3, time.Hour},
		{"rejected", msg(1, time.Time{}), Rejected, pdu.StatusInvDstAdr, "stat:REJECTD err:011 ", 8, time.Hour},
		{"rejected vendor status", msg(1, time.Time{}), Rejected, 0x400, "stat:REJECTD err:999 ", 8, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, ok := Receipt(tc.m, tc.o, tc.st, tc.maxAge, done)
			if tc.text == "" {
				if ok {
					t.Fatal("a receipt for a client that asked for none")
				}
				return
			}
			if !ok {
				t.Fatal("no receipt")
			}
			h := pdu.ParseHeader(raw)
			var sm pdu.SM
			if err := pdu.ParseSM(raw[pdu.HeaderLen:], &sm); err != nil || h.ID != pdu.DeliverSM {
				t.Fatalf("%s: %v", pdu.IDName(h.ID), err)
			}
			if !strings.Contains(string(sm.ShortMessage), tc.text) || !strings.HasPrefix(string(sm.ShortMessage), "id:abc123 ") {
				t.Fatalf("text %q, want it to hold %q", sm.ShortMessage, tc.text)
			}
			if sm.ESMClass != pdu.EsmReceipt || string(sm.SourceAddr) != "447700900001" || sm.SourceTON != 1 || string(sm.DestAddr) != "Shop" || sm.DestTON != 5 {
				t.Fatalf("esm_class 0x%02x from %d/%q to %d/%q", sm.ESMClass, sm.SourceTON, sm.SourceAddr, sm.DestTON, sm.DestAddr)
			}
			id, _ := pdu.FindTLV(sm.TLVs, pdu.TagReceiptedMessageID)
			state, _ := pdu.FindTLV(sm.TLVs, pdu.TagMessageState)
			if string(id) != "abc123\x00" || len(state) != 1 || state[0] != tc.state {
				t.Fatalf("receipted_message_id %q, message_state %v", id, state)
			}
		})
	}
}
