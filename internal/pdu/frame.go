package pdu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
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
	// At is when the read that brought the frame's last octets returned,
	// for a frame from Reader.Read: the clock is read once per read of
	// the stream, not once per frame, and whoever handles the frame
	// takes its time from here. Zero for a frame built otherwise.
	At time.Time
}

// Time returns f.At, or the time now for a frame that was not read from
// a stream.
func (f Frame) Time() time.Time {
	if f.At.IsZero() {
		return time.Now()
	}
	return f.At
}

// Body returns the PDU body: the bytes after the header.
func (f Frame) Body() []byte { return f.Raw[HeaderLen:] }

// Reader reads whole PDUs from a stream. A read takes what the stream
// has, several PDUs under load, into a small pooled buffer or, while data
// keeps coming, into a large one; either goes back to its pool once a
// read finds the stream drained and its octets are consumed: a Reader
// waiting for its next PDU holds no buffer but the small one it reads
// into, and one whose caller waits for the stream to be readable before
// calling Read (see Idle) holds none, which is what thousands of idle
// connections cost.
//
// A read that fails with a deadline (os.ErrDeadlineExceeded) loses
// nothing: the next Read goes on with the frame it cut short.
type Reader struct {
	r   io.Reader
	max int
	buf []byte  // buffered octets, a window of *small or *big
	cur *[]byte // the pooled buffer buf is a window of
	// full is set when the last read filled its buffer: the stream may
	// hold more, so the next read takes the large buffer.
	full bool
	// The frame being read: its header so far (part nil), or the whole
	// frame, header included, with got octets of it read.
	part []byte
	got  int
	hdr  [HeaderLen]byte
	// at is when the last read of the stream that returned octets
	// returned.
	at time.Time
}

// smallReadLen holds a typical PDU or two (a submit_sm and its response,
// a receipt): what a connection carrying light traffic reads at once.
const smallReadLen = 256

// readBufLen is the size of the large buffer.
const readBufLen = 16384

var (
	smallBufPool = sync.Pool{New: func() any { b := make([]byte, smallReadLen); return &b }}
	readBufPool  = sync.Pool{New: func() any { b := make([]byte, readBufLen); return &b }}
)

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
	if r.part == nil {
		n, err := r.fill(r.hdr[r.got:])
		r.got += n
		if err != nil {
			if err == io.EOF && r.got > 0 {
				err = io.ErrUnexpectedEOF
			}
			return Frame{}, r.cut(err)
		}
		r.got = 0
		h := ParseHeader(r.hdr[:])
		if h.Len < HeaderLen || int64(h.Len) > int64(r.max) {
			return Frame{Header: h}, &LengthError{Header: h, Max: r.max}
		}
		r.part = make([]byte, h.Len)
		r.got = copy(r.part, r.hdr[:])
	}
	n, err := r.fill(r.part[r.got:])
	r.got += n
	h := ParseHeader(r.part)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Frame{Header: h}, r.cut(err)
	}
	raw := r.part
	r.part, r.got = nil, 0
	return Frame{Header: h, Raw: raw, At: r.at}, nil
}

// cut ends the frame under way on err, unless err is a deadline: then the
// next Read goes on with it.
func (r *Reader) cut(err error) error {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		r.part, r.got = nil, 0
	}
	return err
}

// Idle reports whether the Reader is between frames with nothing
// buffered: the next Read starts a frame from the stream.
func (r *Reader) Idle() bool { return r.part == nil && r.got == 0 && len(r.buf) == 0 }

// fill fills p from what is buffered, then from the stream, and returns
// how many octets it filled. It returns io.EOF only when the stream ended
// before the first octet of p.
func (r *Reader) fill(p []byte) (int, error) {
	got := 0
	for got < len(p) {
		if len(r.buf) > 0 {
			n := copy(p[got:], r.buf)
			r.buf = r.buf[n:]
			got += n
			continue
		}
		if r.cur != nil && !r.full {
			r.release()
		}
		need := len(p) - got
		var n int
		var err error
		if need >= readBufLen {
			// A large body goes straight to its frame.
			r.release()
			n, err = io.ReadFull(r.r, p[got:])
			got += n
			if n > 0 {
				r.at = time.Now()
			}
		} else {
			big := r.full || need > smallReadLen
			if r.cur != nil && (len(*r.cur) == readBufLen) != big {
				r.release()
			}
			if r.cur == nil {
				if big {
					r.cur = readBufPool.Get().(*[]byte)
				} else {
					r.cur = smallBufPool.Get().(*[]byte)
				}
			}
			dst := *r.cur
			n, err = io.ReadAtLeast(r.r, dst, need)
			if n > 0 {
				r.at = time.Now()
			}
			r.full = n == len(dst)
			r.buf = dst[:n]
			if err != nil {
				got += copy(p[got:], r.buf)
				r.buf = nil
			}
		}
		if err != nil {
			r.release()
			if got > 0 && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return got, err
		}
	}
	return got, nil
}

// release gives the buffer back to its pool.
func (r *Reader) release() {
	if r.cur != nil {
		if len(*r.cur) == smallReadLen {
			smallBufPool.Put(r.cur)
		} else {
			readBufPool.Put(r.cur)
		}
		r.cur = nil
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
