package pdu

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Errors returned by Reader.Read.
var (
	// ErrLength is a command_length below HeaderLen or above the maximum.
	// The stream cannot be trusted after it: answer generic_nack
	// ESME_RINVCMDLEN and close.
	ErrLength = errors.New("smpp: invalid command_length")
)

// LengthError describes a frame refused for its command_length. It wraps
// ErrLength and carries the header so the caller can answer with the
// request's sequence_number.
type LengthError struct {
	Header Header
	Max    int
}

func (e *LengthError) Error() string {
	return fmt.Sprintf("smpp: command_length %d outside %d..%d", e.Header.Len, HeaderLen, e.Max)
}

func (e *LengthError) Unwrap() error { return ErrLength }

// Frame is one whole PDU as read from the wire.
type Frame struct {
	Header
	// Raw is the whole PDU, header included, exactly as read.
	Raw []byte
}

// Body returns the PDU body: the bytes after the header.
func (f Frame) Body() []byte { return f.Raw[HeaderLen:] }

// Reader reads whole PDUs from a stream.
type Reader struct {
	br  *bufio.Reader
	max int
	hdr [HeaderLen]byte
}

// NewReader returns a Reader on r refusing frames longer than max bytes
// (DefaultMaxLen when max <= 0).
func NewReader(r io.Reader, max int) *Reader {
	if max <= 0 {
		max = DefaultMaxLen
	}
	return &Reader{br: bufio.NewReaderSize(r, 4096), max: max}
}

// Read reads the next PDU. Errors are io.EOF (clean close between frames),
// io.ErrUnexpectedEOF (closed mid-frame), a *LengthError, or the
// underlying read error. The returned frame owns its memory.
func (r *Reader) Read() (Frame, error) {
	if _, err := io.ReadFull(r.br, r.hdr[:]); err != nil {
		return Frame{}, err
	}
	h := ParseHeader(r.hdr[:])
	if h.Len < HeaderLen || int64(h.Len) > int64(r.max) {
		return Frame{Header: h}, &LengthError{Header: h, Max: r.max}
	}
	raw := make([]byte, h.Len)
	copy(raw, r.hdr[:])
	if _, err := io.ReadFull(r.br, raw[HeaderLen:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Frame{Header: h}, err
	}
	return Frame{Header: h, Raw: raw}, nil
}

// Buffered reports how many bytes can be read without touching the
// underlying stream.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// AppendHeader appends a header with the given fields and a command_length
// of HeaderLen+bodyLen.
func AppendHeader(dst []byte, id ID, status Status, seq uint32, bodyLen int) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(HeaderLen+bodyLen))
	dst = binary.BigEndian.AppendUint32(dst, uint32(id))
	dst = binary.BigEndian.AppendUint32(dst, uint32(status))
	return binary.BigEndian.AppendUint32(dst, seq)
}

// SetLen writes len(b) as the command_length of the PDU in b.
func SetLen(b []byte) { binary.BigEndian.PutUint32(b[0:4], uint32(len(b))) }

// SetSeq overwrites the sequence_number of the PDU in b.
func SetSeq(b []byte, seq uint32) { binary.BigEndian.PutUint32(b[12:16], seq) }

// Resend returns a copy of the PDU raw with sequence_number seq: how a
// relayed request goes out under the sender's own numbering, body
// untouched.
func Resend(raw []byte, seq uint32) []byte {
	b := make([]byte, len(raw))
	copy(b, raw)
	SetSeq(b, seq)
	return b
}
