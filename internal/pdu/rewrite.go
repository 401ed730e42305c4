package pdu

import "encoding/binary"

// RewriteSM returns a copy of the submit_sm or deliver_sm PDU raw, parsed
// into sm, with sequence_number seq, short_message replaced by short and
// the optional parameters replaced by tlvs. Every other octet is kept as it
// was. It is how a receipt's message id is rewritten for the client.
func RewriteSM(raw []byte, sm *SM, seq uint32, short, tlvs []byte) []byte {
	head := raw[:HeaderLen+sm.SMLengthOffset]
	b := make([]byte, 0, len(head)+1+len(short)+len(tlvs))
	b = append(b, head...)
	b = append(b, byte(len(short)))
	b = append(b, short...)
	b = append(b, tlvs...)
	SetLen(b)
	SetSeq(b, seq)
	return b
}

// ReplaceTLV returns a copy of the optional parameters tlvs, which must be
// well formed, with the value of every TLV tagged tag replaced by value,
// order and other TLVs kept.
func ReplaceTLV(tlvs []byte, tag uint16, value []byte) []byte {
	out := make([]byte, 0, len(tlvs)+len(value))
	for {
		t, rest, ok := NextTLV(tlvs)
		if !ok {
			return out
		}
		v := t.Value
		if t.Tag == tag {
			v = value
		}
		out = AppendTLV(out, t.Tag, v)
		tlvs = rest
	}
}

// AppendTLV appends one TLV.
func AppendTLV(dst []byte, tag uint16, value []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, tag)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(value)))
	return append(dst, value...)
}
