package pdu

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrTLV is a malformed optional parameter area.
var ErrTLV = errors.New("smpp: malformed optional parameters")

// FieldError is a mandatory or optional field that cannot be decoded. Status
// is the command_status to answer the request with.
type FieldError struct {
	Field  string
	Status Status
	Reason string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("smpp: field %s: %s", e.Field, e.Reason)
}

// Decoder reads fields from a PDU body in order. The first error sticks:
// later reads return zero values and Err reports the first failure.
type Decoder struct {
	b   []byte
	off int
	err error
}

// NewDecoder returns a Decoder over body.
func NewDecoder(body []byte) *Decoder { return &Decoder{b: body} }

// Reset makes d read body from the start, forgetting any error.
func (d *Decoder) Reset(body []byte) { *d = Decoder{b: body} }

// Err returns the first error met, a *FieldError.
func (d *Decoder) Err() error { return d.err }

// Offset returns how many bytes have been consumed.
func (d *Decoder) Offset() int { return d.off }

// Rest returns the bytes not yet consumed.
func (d *Decoder) Rest() []byte {
	if d.err != nil {
		return nil
	}
	return d.b[d.off:]
}

func (d *Decoder) fail(field string, st Status, reason string) {
	if d.err == nil {
		d.err = &FieldError{Field: field, Status: st, Reason: reason}
	}
}

// CString reads a C-Octet String of at most max octets including its NUL
// and returns it without the NUL, aliasing the body. A string without a NUL
// inside the body fails with ESME_RINVMSGLEN; one longer than max fails
// with tooLong.
func (d *Decoder) CString(field string, max int, tooLong Status) []byte {
	if d.err != nil {
		return nil
	}
	rest := d.b[d.off:]
	window := rest
	if len(window) > max {
		window = window[:max]
	}
	if i := bytes.IndexByte(window, 0); i >= 0 {
		d.off += i + 1
		return rest[:i:i]
	}
	if len(rest) >= max {
		d.fail(field, tooLong, fmt.Sprintf("longer than %d octets", max-1))
		return nil
	}
	d.fail(field, StatusInvMsgLen, "missing NUL terminator")
	return nil
}

// Byte reads one octet.
func (d *Decoder) Byte(field string) byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.b) {
		d.fail(field, StatusInvMsgLen, "body ends before it")
		return 0
	}
	c := d.b[d.off]
	d.off++
	return c
}

// Bytes reads n octets, aliasing the body.
func (d *Decoder) Bytes(field string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b)-d.off {
		d.fail(field, StatusInvMsgLen, "body ends before it")
		return nil
	}
	p := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return p
}

// TLVs reads the rest of the body as optional parameters, checking that
// they are well formed, and returns them raw.
func (d *Decoder) TLVs() []byte {
	if d.err != nil {
		return nil
	}
	rest := d.b[d.off:]
	if err := CheckTLVs(rest); err != nil {
		d.err = err
		return nil
	}
	d.off = len(d.b)
	return rest
}

// CheckTLVs reports whether b is a well-formed sequence of TLVs.
func CheckTLVs(b []byte) error {
	for len(b) > 0 {
		if len(b) < 4 {
			return &FieldError{Field: "optional parameters", Status: StatusInvOptParStream, Reason: "truncated TLV header"}
		}
		n := int(binary.BigEndian.Uint16(b[2:4]))
		if n > len(b)-4 {
			tag := binary.BigEndian.Uint16(b[0:2])
			return &FieldError{Field: fmt.Sprintf("TLV 0x%04X", tag), Status: StatusInvParLen, Reason: "length runs past the body"}
		}
		b = b[4+n:]
	}
	return nil
}

// TLV is one optional parameter, its value aliasing the PDU.
type TLV struct {
	Tag   uint16
	Value []byte
}

// NextTLV splits the first TLV off b, which must have passed CheckTLVs.
func NextTLV(b []byte) (t TLV, rest []byte, ok bool) {
	if len(b) < 4 {
		return TLV{}, nil, false
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n > len(b)-4 {
		return TLV{}, nil, false
	}
	return TLV{Tag: binary.BigEndian.Uint16(b[0:2]), Value: b[4 : 4+n : 4+n]}, b[4+n:], true
}

// FindTLV returns the value of the first TLV with tag in b.
func FindTLV(b []byte, tag uint16) ([]byte, bool) {
	for {
		t, rest, ok := NextTLV(b)
		if !ok {
			return nil, false
		}
		if t.Tag == tag {
			return t.Value, true
		}
		b = rest
	}
}
