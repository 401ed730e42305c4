package pdu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
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

// Reader reads whole PDUs from a stream. A read takes what the stream
// has, several PDUs under load, into a small array of the Reader's own
// or, while data keeps coming, into a pooled buffer that goes back to the
// pool once a read finds the stream drained and its octets are consumed:
// a Reader waiting for its next PDU holds no large buffer, which is what
// thousands of idle connections cost.
type Reader struct {
	r   io.Reader
	max int
	buf []byte  // buffered octets, a window of small or *big
	big *[]byte // pooled
	// full is set when the last read filled its buffer: the stream may
	// hold more, so the next read takes the large buffer.
	full  bool
	hdr   [HeaderLen]byte
	small [smallReadLen]byte
}

// smallReadLen holds a typical PDU or two (a submit_sm and its response,
// a receipt): what a connection carrying light traffic reads at once.
// Every connection holds one, idle ones too.
const smallReadLen = 256

// readBufLen is the size of the pooled buffer.
const readBufLen = 4096

var readBufPool = sync.Pool{New: func() any { b := make([]byte, readBufLen); return &b }}

// NewReader returns a Reader on r refusing frames longer than max bytes
// (DefaultMaxLen when max <= 0).
func NewReader(r io.Reader, max int) *Reader {
	if max <= 0 {
		max = DefaultMaxLen
	}
	return &Reader{r: r, max: max}
}

// Read reads the next PDU. Errors are io.EOF (clean close between frames),
// io.ErrUnexpectedEOF (closed mid-frame), a *LengthError, or the
// underlying read error. The returned frame owns its memory.
func (r *Reader) Read() (Frame, error) {
	if err := r.fill(r.hdr[:]); err != nil {
		return Frame{}, err
	}
	h := ParseHeader(r.hdr[:])
	if h.Len < HeaderLen || int64(h.Len) > int64(r.max) {
		return Frame{Header: h}, &LengthError{Header: h, Max: r.max}
	}
	raw := make([]byte, h.Len)
	copy(raw, r.hdr[:])
	if err := r.fill(raw[HeaderLen:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Frame{Header: h}, err
	}
	return Frame{Header: h, Raw: raw}, nil
}

// fill fills p from what is buffered, then from the stream. It returns
// io.EOF only when the stream ended before the first octet of p.
func (r *Reader) fill(p []byte) error {
	got := 0
	for got < len(p) {
		if len(r.buf) > 0 {
			n := copy(p[got:], r.buf)
			r.buf = r.buf[n:]
			got += n
			continue
		}
		if r.big != nil && !r.full {
			r.releaseBig()
		}
		need := len(p) - got
		var n int
		var err error
		if need >= readBufLen {
			// A large body goes straight to its frame.
			n, err = io.ReadFull(r.r, p[got:])
			got += n
			r.full = false
		} else {
			dst := r.small[:]
			if r.full || need > len(dst) {
				if r.big == nil {
					r.big = readBufPool.Get().(*[]byte)
				}
				dst = *r.big
			}
			n, err = io.ReadAtLeast(r.r, dst, need)
			r.full = n == len(dst)
			r.buf = dst[:n]
			if err != nil {
				got += copy(p[got:], r.buf)
				r.buf = nil
			}
		}
		if err != nil {
			r.releaseBig()
			if got > 0 && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

func (r *Reader) releaseBig() {
	if r.big != nil {
		readBufPool.Put(r.big)
		r.big = nil
	}
	r.full = false
}

// Buffered reports how many bytes can be read without touching the
// underlying stream.
func (r *Reader) Buffered() int { return len(r.buf) }

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
