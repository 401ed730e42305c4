package relay

import (
	"encoding/binary"
	"strconv"

	"github.com/smppmux/smppmux/internal/pdu"
)

// UDH information element ids of concatenated messages.
const (
	ieiConcat8  = 0x00
	ieiConcat16 = 0x08
)

// concatRef returns the reference number shared by the parts of a
// concatenated message, from the UDH (IEI 0x00 or 0x08) or the
// sar_msg_ref_num TLV, and whether there is one.
func concatRef(esmClass byte, short, tlvs []byte) (uint16, bool) {
	if esmClass&pdu.EsmUDHI != 0 && len(short) > 0 {
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
	if v, ok := pdu.FindTLV(tlvs, pdu.TagSarMsgRefNum); ok && len(v) == 2 {
		return binary.BigEndian.Uint16(v), true
	}
	return 0, false
}

// stickyKey names a concatenated message: one client, one destination,
// one reference. "" when the message is not concatenated.
func stickyKey(systemID string, dest []byte, esmClass byte, short, tlvs []byte) string {
	ref, ok := concatRef(esmClass, short, tlvs)
	if !ok {
		return ""
	}
	b := make([]byte, 0, len(systemID)+len(dest)+8)
	b = append(b, systemID...)
	b = append(b, 0)
	b = append(b, dest...)
	b = append(b, 0)
	b = strconv.AppendUint(b, uint64(ref), 10)
	return string(b)
}
