package dlr

import (
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
)

func TestIDReader(t *testing.T) {
	t.Parallel()
	tlv := func(id string) []byte { return pdu.AppendTLV(nil, pdu.TagReceiptedMessageID, append([]byte(id), 0)) }
	tests := []struct {
		name   string
		form   ReceiptIDForm
		auto   bool
		text   string
		tlvs   []byte
		want   Ref
		learnt ReceiptIDForm
	}{
		{"exact keeps case and zeros", FormExact, false, "id:000ABC1 stat:DELIVRD", nil, Ref{ID: "000ABC1"}, FormExact},
		{"exact TLV wins", FormExact, false, "id:999 stat:DELIVRD", tlv("0001F"), Ref{ID: "0001F"}, FormExact},
		{"TLV read to its first NUL", FormExact, false, "", tlv("aB1\x00zz"), Ref{ID: "aB1"}, FormExact},
		{"same, zero-padded upper case text", FormSame, false, "id:000ABC1 stat:DELIVRD", nil, Ref{"000ABC1", "abc1"}, FormSame},
		{"same, TLV wins", FormSame, false, "id:999 stat:DELIVRD", tlv("0001F"), Ref{"0001F", "1f"}, FormSame},
		{"hex response, decimal text", FormHexDecimal, false, "id:31 stat:DELIVRD", nil, Ref{"1f", "1f"}, FormHexDecimal},
		{"hex-decimal, text not decimal", FormHexDecimal, false, "id:1F stat:DELIVRD", nil, Ref{"1F", "1f"}, FormHexDecimal},
		{"decimal response, hex text", FormDecimalHex, false, "id:1F stat:DELIVRD", nil, Ref{"31", "31"}, FormDecimalHex},
		{"auto starts exact", FormExact, true, "id:00Ab stat:DELIVRD", nil, Ref{ID: "00Ab"}, FormExact},
		{"auto learns nothing from ids written alike", FormExact, true, "id:aB1 stat:DELIVRD", tlv("aB1"), Ref{ID: "aB1"}, FormExact},
		{"auto learns same", FormExact, true, "id:00aa stat:DELIVRD", tlv("AA"), Ref{"AA", "aa"}, FormSame},
		{"auto learns hex-decimal", FormExact, true, "id:31 stat:DELIVRD", tlv("1F"), Ref{"1F", "1f"}, FormHexDecimal},
		{"auto learns decimal-hex", FormExact, true, "id:1f stat:DELIVRD", tlv("31"), Ref{"31", "31"}, FormDecimalHex},
		{"auto ignores unrelated ids", FormExact, true, "id:xyz stat:DELIVRD", tlv("abc"), Ref{ID: "abc"}, FormExact},
	}
	for _, tt := range tests {
		r := NewIDReader(tt.form, tt.auto)
		_, sm := receipt(t, tt.text, tt.tlvs)
		ref, _, _, err := r.Ref(sm)
		if err != nil || ref != tt.want || r.Form() != tt.learnt {
			t.Errorf("%s: Ref = %+v, %v, form %v; want %+v, form %v", tt.name, ref, err, r.Form(), tt.want, tt.learnt)
		}
	}
	// Once learnt, a text-only receipt converts.
	r := NewIDReader(FormExact, true)
	_, sm := receipt(t, "id:31 stat:DELIVRD", tlv("1f"))
	if _, f, changed, _ := r.Ref(sm); !changed || f != FormHexDecimal {
		t.Fatalf("not learnt: %v %v", f, changed)
	}
	_, sm = receipt(t, "id:255 stat:DELIVRD", nil)
	if ref, _, _, _ := r.Ref(sm); ref != (Ref{"ff", "ff"}) {
		t.Fatalf("after learning, text 255 read as %+v, want ff", ref)
	}
	// A receipt with ids written alike keeps what was learnt.
	_, sm = receipt(t, "id:10 stat:DELIVRD", tlv("10"))
	if _, _, changed, _ := r.Ref(sm); changed || r.Form() != FormHexDecimal {
		t.Fatalf("form changed to %v by a receipt with equal ids", r.Form())
	}
	if _, _, _, err := r.Ref(&pdu.SM{}); err != ErrNoID {
		t.Fatalf("receipt without id: %v", err)
	}
	for s, want := range map[string]ReceiptIDForm{"": FormExact, "auto": FormExact, "exact": FormExact, "same": FormSame,
		"hex-decimal": FormHexDecimal, "decimal-hex": FormDecimalHex} {
		if f, auto, err := ParseReceiptIDForm(s); err != nil || f != want || auto != (s == "" || s == "auto") {
			t.Errorf("ParseReceiptIDForm(%q) = %v, %v, %v", s, f, auto, err)
		}
	}
	if _, _, err := ParseReceiptIDForm("lower"); err == nil {
		t.Error("ParseReceiptIDForm accepted lower")
	}
}

func TestInstanceIDsNeverCollide(t *testing.T) {
	t.Parallel()
	now := time.Now()
	// Two instances started at the same microsecond.
	a, b := NewInstanceIDs(now, 1), NewInstanceIDs(now, 2)
	seen := make(map[uint64]bool)
	for range 10000 {
		for _, g := range []*IDs{a, b} {
			n := g.Next()
			if seen[n] {
				t.Fatalf("id %d issued twice", n)
			}
			seen[n] = true
		}
	}
	if n := a.Next(); n&0xff != 1 {
		t.Fatalf("instance 1 issued %x", n)
	}
	// Later starts keep issuing larger ids.
	if later := NewInstanceIDs(now.Add(time.Second), 1); later.Next() <= a.Next() {
		t.Fatal("a restart issued smaller ids")
	}
}
