package pdu

import "testing"

func TestConcatRef(t *testing.T) {
	t.Parallel()
	sar := AppendTLV(nil, TagSarMsgRefNum, []byte{0x12, 0x34})
	tests := []struct {
		name  string
		esm   byte
		short []byte
		tlvs  []byte
		ref   uint16
		ok    bool
	}{
		{"8-bit reference", EsmUDHI, []byte{5, 0x00, 3, 0x7A, 2, 1, 'h', 'i'}, nil, 0x7A, true},
		{"16-bit reference", EsmUDHI, []byte{6, 0x08, 4, 0x01, 0x02, 3, 1, 'h'}, nil, 0x0102, true},
		{"other IE first", EsmUDHI, []byte{9, 0x05, 2, 0x00, 0x00, 0x00, 3, 0x11, 2, 2}, nil, 0x11, true},
		{"UDHI bit unset", 0, []byte{5, 0x00, 3, 0x7A, 2, 1}, nil, 0, false},
		{"UDH length past the message", EsmUDHI, []byte{40, 0x00, 3, 0x7A, 2, 1}, nil, 0, false},
		{"IE length past the UDH", EsmUDHI, []byte{3, 0x00, 9, 0x7A}, nil, 0, false},
		{"sar TLV", 0, []byte("part"), sar, 0x1234, true},
		{"plain message", 0, []byte("hello"), nil, 0, false},
		{"empty", EsmUDHI, nil, nil, 0, false},
	}
	for _, tt := range tests {
		ref, ok := ConcatRef(tt.esm, tt.short, tt.tlvs)
		if ok != tt.ok || ref != tt.ref {
			t.Errorf("%s: ConcatRef = %#x, %v; want %#x, %v", tt.name, ref, ok, tt.ref, tt.ok)
		}
	}
}

func FuzzConcatRef(f *testing.F) {
	f.Add(byte(EsmUDHI), []byte{5, 0x00, 3, 0x7A, 2, 1}, []byte{})
	f.Add(byte(0), []byte("x"), AppendTLV(nil, TagSarMsgRefNum, []byte{0, 1}))
	f.Fuzz(func(t *testing.T, esm byte, short, tlvs []byte) {
		if CheckTLVs(tlvs) != nil {
			return
		}
		_, _ = ConcatRef(esm, short, tlvs)
	})
}
