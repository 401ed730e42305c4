// Package fakewire holds what the fake SMSC (internal/smsctest) and the
// fake ESME (internal/esmetest) share: the goroutine that writes a
// connection's queued PDUs in batches.
package fakewire

import (
	"bufio"
	"net"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
)

const (
	// writeBuf is the size of the writer's buffer.
	writeBuf = 64 << 10
	// maxBatch is how many PDUs the writer buffers before a flush.
	maxBatch = 512
	// writeTimeout bounds one batch write.
	writeTimeout = 10 * time.Second
)

// Writer writes the PDUs queued on Out to Conn until Done is closed.
type Writer struct {
	Conn net.Conn
	// Out queues the PDUs to write; a nil one ends the writer once what
	// was queued before it is written.
	Out  <-chan []byte
	Done <-chan struct{}
	// EnquireLink, when positive, sends an enquire_link that often,
	// numbered by NextSeq.
	EnquireLink time.Duration
	NextSeq     func() uint32
	// Write buffers one PDU in w; nil: w.Write.
	Write func(w *bufio.Writer, b []byte) error
	// End is called once when the writer ends on its own: with nil after
	// a nil PDU, with the error of a failed write otherwise.
	End func(err error)
}

// Run writes until Done is closed, a nil PDU is taken or a write fails.
func (wr *Writer) Run() {
	w := bufio.NewWriterSize(wr.Conn, writeBuf)
	var tick <-chan time.Time
	if wr.EnquireLink > 0 {
		t := time.NewTicker(wr.EnquireLink)
		defer t.Stop()
		tick = t.C
	}
	for {
		var b []byte
		select {
		case <-wr.Done:
			return
		case <-tick:
			b = pdu.Empty(pdu.EnquireLink, pdu.StatusOK, wr.NextSeq())
		case b = <-wr.Out:
		}
		if !wr.batch(w, b) {
			return
		}
	}
}

// batch writes b and whatever else is queued, up to maxBatch PDUs, then
// flushes. It reports false when the writer ended.
func (wr *Writer) batch(w *bufio.Writer, b []byte) bool {
	_ = wr.Conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	for n := 0; ; n++ {
		if b == nil {
			_ = w.Flush()
			wr.End(nil)
			return false
		}
		if err := wr.write(w, b); err != nil {
			wr.End(err)
			return false
		}
		if n == maxBatch {
			break
		}
		select {
		case b = <-wr.Out:
			continue
		default:
		}
		break
	}
	if err := w.Flush(); err != nil {
		wr.End(err)
		return false
	}
	return true
}

func (wr *Writer) write(w *bufio.Writer, b []byte) error {
	if wr.Write != nil {
		return wr.Write(w, b)
	}
	_, err := w.Write(b)
	return err
}
