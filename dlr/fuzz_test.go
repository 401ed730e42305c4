package dlr_test

import (
	"testing"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/pdu"
)

// FuzzReceiptText runs receipt texts through id parsing, canonicalisation
// and rewriting: no panic, the rewritten receipt parses, and its text id is
// the client id whenever the original text had one.
func FuzzReceiptText(f *testing.F) {
	f.Add([]byte("id:0123ABC sub:001 dlvrd:001 submit date:2611231200 done date:2611231201 stat:DELIVRD err:000 text:hi"), "42")
	f.Add([]byte("ID:99 stat:UNDELIV"), "0000000000000000000000000000000000000000000000000000000000000001")
	f.Add([]byte("id:"), "1")
	f.Add([]byte{}, "ff")
	f.Fuzz(func(t *testing.T, text []byte, clientID string) {
		if len(text) > 254 || len(clientID) == 0 || len(clientID) > 64 || !alnum(clientID) {
			return
		}
		raw := pdu.Request(pdu.DeliverSM, 1, pdu.AppendSM(nil, &pdu.SM{ESMClass: 4, ShortMessage: text}))
		var sm pdu.SM
		if err := pdu.ParseSM(raw[pdu.HeaderLen:], &sm); err != nil {
			t.Fatalf("built receipt does not parse: %v", err)
		}
		if id, err := dlr.ReceiptID(&sm); err == nil {
			_ = dlr.FoldID(string(id))
		}
		for _, form := range []dlr.ReceiptIDForm{dlr.FormExact, dlr.FormSame, dlr.FormHexDecimal, dlr.FormDecimalHex} {
			_, _, _, _ = dlr.NewIDReader(form, true).Ref(&sm)
		}
		out := dlr.RewriteReceipt(raw, &sm, clientID)
		var got pdu.SM
		if err := pdu.ParseSM(out[pdu.HeaderLen:], &got); err != nil {
			t.Fatalf("rewritten receipt does not parse: %v", err)
		}
		if s, _, ok := dlr.TextID(text); ok && s+len(clientID) <= 254 {
			if s2, e2, ok2 := dlr.TextID(got.ShortMessage); !ok2 || string(got.ShortMessage[s2:e2]) != clientID {
				t.Fatalf("rewritten text %q lost the client id %q", got.ShortMessage, clientID)
			}
		}
	})
}

func alnum(s string) bool {
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}
