package pdu

import "encoding/binary"

// Splice returns a copy of b with the octets b[start:end] replaced by
// parts, in order, octet slices or strings. It is the one way smppmux
// changes bytes it relays: a message id in a PDU, a text or a TLV value.
// A PDU spliced this way needs its command_length set again (SetLen); the
// functions of this package that return whole PDUs do it.
func Splice[T ~string | ~[]byte](b []byte, start, end int, parts ...T) []byte {
	n := len(b) - (end - start)
	for _, p := range parts {
		n += len(p)
	}
	return AppendSplice(make([]byte, 0, n), b, start, end, parts...)
}

// AppendSplice is Splice appending the copy to dst: a caller that builds
// a piece to copy again can build it in a buffer of its own.
func AppendSplice[T ~string | ~[]byte](dst, b []byte, start, end int, parts ...T) []byte {
	dst = append(dst, b[:start]...)
	for _, p := range parts {
		dst = append(dst, p...)
	}
	return append(dst, b[end:]...)
}

// RewriteSM returns a copy of the submit_sm, deliver_sm or data_sm PDU
// raw, parsed into sm, with sequence_number seq, short_message replaced by
// short and the optional parameters replaced by tlvs. Every other octet is
// kept as it was. A short_message longer than sm_length can say (254
// octets) loses its tail; a data_sm, which has none, ignores short. It is
// how a receipt's message id is rewritten for the client.
func RewriteSM(raw []byte, sm *SM, seq uint32, short, tlvs []byte) []byte {
	var b []byte
	if sm.DataSM {
		b = Splice(raw, len(raw)-len(sm.TLVs), len(raw), tlvs)
	} else {
		if len(short) > maxShortMessage {
			short = short[:maxShortMessage]
		}
		b = Splice(raw, HeaderLen+sm.SMLengthOffset, len(raw), []byte{byte(len(short))}, short, tlvs)
	}
	SetLen(b)
	SetSeq(b, seq)
	return b
}

// ReplaceTLV returns a copy of the optional parameters tlvs, which must be
// well formed, with the value of every TLV tagged tag replaced by value,
// order and other TLVs kept.
func ReplaceTLV(tlvs []byte, tag uint16, value []byte) []byte {
	return AppendReplaceTLV(make([]byte, 0, len(tlvs)+len(value)), tlvs, tag, value)
}

// AppendReplaceTLV is ReplaceTLV appending the copy to dst.
func AppendReplaceTLV(dst, tlvs []byte, tag uint16, value []byte) []byte {
	out := dst
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
