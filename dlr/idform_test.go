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
		form   IDForm
		auto   bool
		text   string
		tlvs   []byte
		want   string
		learnt IDForm
	}{
		{"same, zero-padded upper case text", FormSame, false, "id:000ABC1 stat:DELIVRD", nil, "abc1", FormSame},
		{"TLV wins", FormSame, false, "id:999 stat:DELIVRD", tlv("0001F"), "1f", FormSame},
		{"hex response, decimal text", FormHexDecimal, false, "id:31 stat:DELIVRD", nil, "1f", FormHexDecimal},
		{"decimal response, hex text", FormDecimalHex, false, "id:1F stat:DELIVRD", nil, "31", FormDecimalHex},
		{"auto learns hex-decimal", FormSame, true, "id:31 stat:DELIVRD", tlv("1F"), "1f", FormHexDecimal},
		{"auto learns decimal-hex", FormSame, true, "id:1f stat:DELIVRD", tlv("31"), "31", FormDecimalHex},
		{"auto keeps same", FormSame, true, "id:00aa stat:DELIVRD", tlv("AA"), "aa", FormSame},
	}
	for _, tt := range tests {
		r := NewIDReader(tt.form, tt.auto)
		_, sm := receipt(t, tt.text, tt.tlvs)
		key, _, _, err := r.Key(sm)
		if err != nil || key != tt.want || r.Form() != tt.learnt {
			t.Errorf("%s: Key = %q, %v, form %v; want %q, form %v", tt.name, key, err, r.Form(), tt.want, tt.learnt)
		}
	}
	// Once learnt, a text-only receipt converts.
	r := NewIDReader(FormSame, true)
	_, sm := receipt(t, "id:31 stat:DELIVRD", tlv("1f"))
	if _, f, changed, _ := r.Key(sm); !changed || f != FormHexDecimal {
		t.Fatalf("not learnt: %v %v", f, changed)
	}
	_, sm = receipt(t, "id:255 stat:DELIVRD", nil)
	if key, _, _, _ := r.Key(sm); key != "ff" {
		t.Fatalf("after learning, text 255 keyed %q, want ff", key)
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
