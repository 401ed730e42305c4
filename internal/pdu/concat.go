package pdu

import "encoding/binary"

// UDH information element ids of concatenated messages.
const (
	ieiConcat8  = 0x00
	ieiConcat16 = 0x08
)

// ConcatRef returns the reference number shared by the parts of a
// concatenated message, from the UDH of its short message (IEI 0x00 or
// 0x08, when esm_class sets the UDH indicator) or the sar_msg_ref_num
// TLV, and whether there is one.
func ConcatRef(esmClass byte, short, tlvs []byte) (uint16, bool) {
	if esmClass&EsmUDHI != 0 && len(short) > 0 {
		udh := short[1:]
		if n := int(short[0]); n <= len(udh) {
			udh = udh[:n]
			for len(udh) >= 2 {
				iei, l := udh[0], int(udh[1])
				if l > len(udh)-2 {
					break
				}
				v := udh[2 : 2+l]
				switch {
				case iei == ieiConcat8 && l == 3:
					return uint16(v[0]), true
				case iei == ieiConcat16 && l == 4:
					return binary.BigEndian.Uint16(v), true
				}
				udh = udh[2+l:]
			}
		}
	}
	if v, ok := FindTLV(tlvs, TagSarMsgRefNum); ok && len(v) == 2 {
		return binary.BigEndian.Uint16(v), true
	}
	return 0, false
}
