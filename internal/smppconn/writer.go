package smppconn

import (
	"errors"
	"net"
	"os"
	"slices"
	"sync"
	"time"
)

// waitWriter holds the reader while half the output queue awaits the
// writer: a peer that pipelines requests faster than it reads their
// answers is slowed down by TCP back-pressure instead of overflowing the
// queue, and the other half stays free for Send and Request from other
// goroutines. It reports false once the connection is closed, which the
// write timeout ensures when the peer reads nothing at all.
func (c *Conn) waitWriter() bool {
	for {
		c.qmu.Lock()
		if len(c.queue) < max(c.cfg.QueueLen/2, 1) {
			c.qmu.Unlock()
			return true
		}
		if c.drained == nil {
			c.drained = make(chan struct{}, 1)
		}
		drained := c.drained
		c.qmu.Unlock()
		select {
		case <-drained:
		case <-c.done:
			return false
		}
	}
}

// writeLoop is the only writer, started by enqueue when it queues to an
// empty queue with no writer running. It takes everything queued at once
// and writes it with as few syscalls as it can: one pooled buffer of up to
// maxBatch octets per write. It ends when it finds nothing more to write,
// or once the connection is closed.
func (c *Conn) writeLoop() {
	defer c.writers.Done()
	for {
		c.qmu.Lock()
		items := c.queue
		if len(items) == 0 || c.qclosed {
			// Idle again: what a burst grew goes, and so does the
			// writer; the next PDU queued starts another.
			if cap(items) > idleQueueCap {
				c.queue = nil
			}
			if cap(c.spare) > idleQueueCap {
				c.spare = nil
			}
			c.writing = false
			c.qmu.Unlock()
			return
		}
		c.queue, c.spare = c.spare[:0], nil
		if c.drained != nil {
			select {
			case c.drained <- struct{}{}:
			default:
			}
		}
		c.qmu.Unlock()
		if !c.writeItems(items) {
			return
		}
		clear(items)
		// The two slices take turns while the writer is busy.
		c.spare = items[:0]
	}
}

// writeItems writes items in order and reports whether the connection is
// still open.
func (c *Conn) writeItems(items []outItem) bool {
	if !c.take(items) {
		return false
	}
	for len(items) > 0 {
		if err := c.nc.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout)); err != nil {
			c.Close(ReasonWriteError, err)
			return false
		}
		bp := batchPool.Get().(*[]byte)
		buf := (*bp)[:0]
		var last outItem
		for len(items) > 0 && (len(buf) == 0 || len(buf) < maxBatch) {
			last, items = items[0], items[1:]
			buf = append(buf, last.b...)
			if last.close {
				break
			}
		}
		_, err := c.nc.Write(buf)
		*bp = buf
		if cap(buf) <= 4*maxBatch {
			batchPool.Put(bp)
		}
		if err != nil {
			c.Close(writeReason(err), err)
			return false
		}
		if last.close {
			c.Close(last.reason, last.err)
			return false
		}
	}
	return true
}

// take marks the requests among items as taken by the writer, unless the
// connection is closed: then Close has failed them as never sent, and
// take reports false so that nothing of them is written.
func (c *Conn) take(items []outItem) bool {
	first := slices.IndexFunc(items, func(it outItem) bool { return it.call != nil })
	if first < 0 {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	for _, it := range items[first:] {
		if it.call != nil {
			it.call.taken = true
		}
	}
	return true
}

// writeReason tells a write that missed its deadline, a slow consumer,
// from one that failed otherwise.
func writeReason(err error) Reason {
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return ReasonSlowDeadline
	}
	return ReasonWriteError
}

const maxBatch = 64 * 1024

// idleQueueCap is the most output queue capacity an idle connection
// keeps (two slices of it at most, 28 KiB). A writer goes idle between
// most batches even under load, and a busy connection's batches exceed
// 64 PDUs: below this cap they would be regrown from nothing each time.
// A connection that never queued more than 64 PDUs at once keeps no more.
const idleQueueCap = 256

var batchPool = sync.Pool{New: func() any { b := make([]byte, 0, maxBatch); return &b }}
