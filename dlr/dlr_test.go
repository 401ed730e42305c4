package dlr

import (
	"bytes"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
)

func TestTextID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text string
		want string
		ok   bool
	}{
		{"id:1234 sub:001 dlvrd:001 stat:DELIVRD", "1234", true},
		{"ID:ABCdef sub:001", "ABCdef", true},
		{"sub:001 id:77 stat:UNDELIV", "77", true},
		{"id:42", "42", true},
		{"msgid:42 stat:DELIVRD", "", false},
		{"id: sub:001", "", false},
		{"", "", false},
		{"i", "", false},
	}
	for _, tt := range tests {
		s, e, ok := TextID([]byte(tt.text))
		if ok != tt.ok || (ok && tt.text[s:e] != tt.want) {
			t.Errorf("TextID(%q) = %q, %v; want %q, %v", tt.text, tt.text[s:e], ok, tt.want, tt.ok)
		}
	}
}

func TestFoldID(t *testing.T) {
	for in, want := range map[string]string{
		"000ABC": "abc", "0000": "0", "0": "0", "": "", "abc": "abc", "aB1": "ab1", "Ab1": "ab1",
		"07": "7", "7": "7", "0x-Y": "x-y", "a0B": "a0b", "ÀB": "Àb",
	} {
		if got := FoldID(in); got != want {
			t.Errorf("FoldID(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = FoldID("00abc123") }); n != 0 {
		t.Errorf("FoldID of an id folded but for its zeros allocates %v times", n)
	}
}

func TestFormatID(t *testing.T) {
	t.Parallel()
	if got := FormatID(255, BaseHex, 0); got != "ff" {
		t.Errorf("hex = %q", got)
	}
	if got := FormatID(255, BaseDecimal, 8); got != "00000255" {
		t.Errorf("decimal padded = %q", got)
	}
	g := NewIDs(time.Unix(1, 0))
	if a, b := g.Next(), g.Next(); b != a+1 {
		t.Errorf("ids not consecutive: %d %d", a, b)
	}
}

// receipt returns a deliver_sm receipt with text and tlvs, and its parse.
func receipt(t *testing.T, text string, tlvs []byte) ([]byte, *pdu.SM) {
	t.Helper()
	return receiptOf(t, pdu.SM{ShortMessage: []byte(text), TLVs: tlvs})
}

// receiptOf returns sm as a receipt from 447700900001 to Shop (a data_sm
// when sm.DataSM, else a deliver_sm), and its parse.
func receiptOf(t *testing.T, sm pdu.SM) ([]byte, *pdu.SM) {
	t.Helper()
	sm.SourceAddr, sm.DestAddr, sm.ESMClass = []byte("447700900001"), []byte("Shop"), 0x04
	id, parse := pdu.DeliverSM, pdu.ParseSM
	if sm.DataSM {
		id, parse = pdu.DataSM, pdu.ParseDataSM
	}
	raw := pdu.Request(id, 9, pdu.AppendSM(nil, &sm))
	parsed := new(pdu.SM)
	if err := parse(raw[pdu.HeaderLen:], parsed); err != nil {
		t.Fatal(err)
	}
	return raw, parsed
}

func TestReceiptIDPrefersTLV(t *testing.T) {
	t.Parallel()
	_, sm := receipt(t, "id:text1 stat:DELIVRD", pdu.AppendTLV(nil, pdu.TagReceiptedMessageID, []byte("tlv1\x00")))
	if id, err := ReceiptID(sm); err != nil || string(id) != "tlv1" {
		t.Fatalf("ReceiptID = %q, %v; want tlv1", id, err)
	}
	_, sm = receipt(t, "id:text1 stat:DELIVRD", nil)
	if id, err := ReceiptID(sm); err != nil || string(id) != "text1" {
		t.Fatalf("ReceiptID = %q, %v; want text1", id, err)
	}
	_, sm = receipt(t, "stat:DELIVRD", nil)
	if _, err := ReceiptID(sm); err != ErrNoID {
		t.Fatalf("ReceiptID without id = %v, want ErrNoID", err)
	}
}

func TestRewriteReceipt(t *testing.T) {
	t.Parallel()
	tlvs := pdu.AppendTLV(pdu.AppendTLV(nil, pdu.TagReceiptedMessageID, []byte("ab12\x00")), pdu.TagMessageState, []byte{2})
	raw, sm := receipt(t, "id:ab12 sub:001 dlvrd:001 stat:DELIVRD err:000", tlvs)
	out := RewriteReceipt(raw, sm, "00000000000000000042")
	var got pdu.SM
	if err := pdu.ParseSM(out[pdu.HeaderLen:], &got); err != nil {
		t.Fatal(err)
	}
	if string(got.ShortMessage) != "id:00000000000000000042 sub:001 dlvrd:001 stat:DELIVRD err:000" {
		t.Errorf("text = %q", got.ShortMessage)
	}
	want := pdu.AppendTLV(pdu.AppendTLV(nil, pdu.TagReceiptedMessageID, []byte("00000000000000000042\x00")), pdu.TagMessageState, []byte{2})
	if !bytes.Equal(got.TLVs, want) {
		t.Errorf("TLVs = %x, want %x", got.TLVs, want)
	}
	if string(got.SourceAddr) != "447700900001" || got.ESMClass != 4 {
		t.Errorf("other fields changed: %+v", got)
	}
}

func TestParkingClaimOnce(t *testing.T) {
	t.Parallel()
	p := NewParking(time.Hour)
	expired := make(chan any, 1)
	e := p.Park("up", "0AB", "ab", "r1", func(v any) { expired <- v })
	// A folded key is not an id as written: a mapping of "ab" claims the
	// receipt only through its folded form.
	if _, ok := p.Claim("up", "ab"); ok {
		t.Fatal("claimed by an exact id through the folded key")
	}
	if v, ok := p.ClaimFolded("up", "Ab"); !ok || v != "r1" {
		t.Fatalf("ClaimFolded = %v, %v", v, ok)
	}
	if _, ok := p.Claim("up", "0AB"); ok {
		t.Fatal("claimed twice through another key")
	}
	if p.Reclaim(e) {
		t.Fatal("reclaimed after claim")
	}
	if p.Len() != 0 {
		t.Fatalf("Len = %d", p.Len())
	}
}

func TestParkingExpires(t *testing.T) {
	t.Parallel()
	p := NewParking(time.Millisecond)
	expired := make(chan any, 1)
	p.Park("up", "9", "", "r9", func(v any) { expired <- v })
	select {
	case v := <-expired:
		if v != "r9" {
			t.Fatalf("expired %v", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("parked receipt never expired")
	}
	if _, ok := p.Claim("up", "9"); ok {
		t.Fatal("claimed after expiry")
	}
}

func TestOutcome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text             string
		state            []byte
		final, delivered bool
	}{
		{"id:1 stat:DELIVRD err:000", nil, true, true},
		{"id:1 stat:UNDELIV err:001", nil, true, false},
		{"id:1 stat:ENROUTE", nil, false, false},
		{"id:1 stat:DELIVRD", []byte{5}, true, false},
		{"id:1", []byte{2}, true, true},
		{"id:1", []byte{1}, false, false},
		{"id:1", nil, false, false},
	}
	for _, tt := range tests {
		var tlvs []byte
		if tt.state != nil {
			tlvs = pdu.AppendTLV(nil, pdu.TagMessageState, tt.state)
		}
		_, sm := receipt(t, tt.text, tlvs)
		if f, d := Outcome(sm); f != tt.final || d != tt.delivered {
			t.Errorf("Outcome(%q, %v) = %v, %v; want %v, %v", tt.text, tt.state, f, d, tt.final, tt.delivered)
		}
	}
}

func TestValidityTTL(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"000001000000000R", 24 * time.Hour, true},
		{"000000013000000R", 90 * time.Minute, true},
		{"261123140000004+", time.Hour, true}, // 14:00 at UTC+1 is 13:00 UTC
		{"261123100000008-", 0, false},        // 10:00 at UTC-2 is 12:00 UTC: now
		{"261124120000000+", 24 * time.Hour, true},
		{"", 0, false},
		{"26112", 0, false},
		{"2611231200000x0+", 0, false},
		{"000000000000000R", 0, false},
	}
	for _, tt := range tests {
		got, ok := ValidityTTL([]byte(tt.v), now)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("ValidityTTL(%q) = %v, %v; want %v, %v", tt.v, got, ok, tt.want, tt.ok)
		}
	}
}
