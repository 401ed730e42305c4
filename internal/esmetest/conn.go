package esmetest

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"

	"go.uber.org/zap"

	"github.com/smppmux/smppmux/internal/fakewire"
	"github.com/smppmux/smppmux/internal/pdu"
)

// endErr returns why the connection ended.
func (c *Client) endErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	return ErrClosed
}

// queue hands b to the writer; it reports false once the connection ended.
func (c *Client) queue(b []byte) bool {
	select {
	case c.out <- b:
		return true
	case <-c.done:
		return false
	}
}

// shutdown ends the connection for err; only the first call has an
// effect. Waiting requests are failed by the reader goroutine as it exits.
func (c *Client) shutdown(err error) {
	c.once.Do(func() {
		if c.unbound.Load() {
			// The peer may close, and the unbind_resp fail, before the
			// writer reaches the end of the queue.
			err = ErrUnbound
		}
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.done)
		c.conn.Close()
		c.log.Debug("connection closed", zap.String("system_id", c.cfg.SystemID), zap.Error(err))
	})
}

func (c *Client) writeLoop() {
	defer c.wg.Done()
	wr := fakewire.Writer{Conn: c.conn, Out: c.out, Done: c.done,
		EnquireLink: c.cfg.EnquireLinkInterval, NextSeq: c.nextSeq, Write: c.write,
		End: func(err error) {
			if err == nil {
				c.shutdown(ErrUnbound)
				return
			}
			c.shutdown(fmt.Errorf("esmetest: write: %w", err))
		}}
	wr.Run()
}

// write buffers the PDU b in w or, with Config.SplitWrites, writes its
// header and its body to the socket in two writes of their own.
func (c *Client) write(w *bufio.Writer, b []byte) error {
	if !c.cfg.SplitWrites {
		_, err := w.Write(b)
		return err
	}
	if _, err := c.conn.Write(b[:pdu.HeaderLen]); err != nil || len(b) == pdu.HeaderLen {
		return err
	}
	_, err := c.conn.Write(b[pdu.HeaderLen:])
	return err
}

// setNagle turns Nagle's algorithm on for conn's TCP connection.
func setNagle(conn net.Conn) error {
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return fmt.Errorf("esmetest: Nagle asked on a %T, not a TCP connection", conn)
	}
	return tc.SetNoDelay(false)
}

func (c *Client) readLoop() {
	defer c.wg.Done()
	defer close(c.deliveries)
	defer c.failPending()
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("reader panic", zap.Any("panic", v), zap.Stack("stack"))
			c.shutdown(fmt.Errorf("esmetest: panic: %v", v))
		}
	}()
	rd := pdu.NewReader(c.conn, 0)
	for {
		f, err := rd.Read()
		if err != nil {
			switch {
			case errors.Is(err, io.EOF):
				c.shutdown(ErrPeerClosed)
			default:
				c.shutdown(fmt.Errorf("esmetest: read: %w", err))
			}
			return
		}
		switch {
		case pdu.IsResponse(f.ID):
			c.resolve(f)
		case f.ID == pdu.DeliverSM || f.ID == pdu.DataSM:
			if !c.deliver(f) {
				return
			}
		case f.ID == pdu.EnquireLink:
			c.queue(pdu.Empty(pdu.EnquireLinkResp, pdu.StatusOK, f.Seq))
		case f.ID == pdu.Unbind:
			c.unbound.Store(true)
			c.queue(pdu.Empty(pdu.UnbindResp, pdu.StatusOK, f.Seq))
			c.queue(nil)
		default:
			c.queue(pdu.Empty(pdu.GenericNack, pdu.StatusInvCmdID, f.Seq))
		}
	}
}

// resolve completes the request a response answers.
func (c *Client) resolve(f pdu.Frame) {
	c.mu.Lock()
	cl, ok := c.pending[f.Seq]
	if ok && (cl.resp == f.ID || f.ID == pdu.GenericNack) {
		delete(c.pending, f.Seq)
	} else {
		ok = false
	}
	c.mu.Unlock()
	if !ok {
		return // late, or a response to nothing sent: ignored
	}
	if cl.window {
		c.release()
	}
	complete(cl, f, nil)
}

func complete(cl call, f pdu.Frame, err error) {
	if cl.done == nil {
		cl.ch <- result{f: f, err: err}
		return
	}
	if err != nil {
		cl.done(Resp{}, err)
		return
	}
	r, err := toResp(f)
	cl.done(r, err)
}

// failPending fails every waiting request once the connection is over.
func (c *Client) failPending() {
	c.mu.Lock()
	c.closed = true
	if c.err == nil {
		c.err = ErrClosed
	}
	err := c.err
	p := c.pending
	c.pending = make(map[uint32]call)
	c.mu.Unlock()
	for _, cl := range p {
		if cl.window {
			c.release()
		}
		complete(cl, pdu.Frame{}, err)
	}
}

// deliver answers a deliver_sm or data_sm and hands it to Deliveries; it
// reports false when the connection ended meanwhile.
func (c *Client) deliver(f pdu.Frame) bool {
	dl := Delivery{Frame: f}
	err := pdu.ParseMessage(f.ID, f.Body(), &dl.SM)
	if err == nil && dl.SM.DataSM {
		dl.SM.ShortMessage, _ = pdu.FindTLV(dl.SM.TLVs, pdu.TagMessagePayload)
	}
	st := pdu.StatusOK
	if err != nil {
		dl.SM = pdu.SM{}
		st = pdu.StatusSysErr
		var fe *pdu.FieldError
		if errors.As(err, &fe) && fe.Status != pdu.StatusOK {
			st = fe.Status
		}
	} else {
		dl.ReceiptID = ReceiptID(&dl.SM)
	}
	if c.cfg.DeliverStatus != nil {
		st = c.cfg.DeliverStatus(f)
	}
	c.queue(pdu.MessageIDResp(pdu.RespID(f.ID), st, f.Seq, ""))
	select {
	case c.deliveries <- dl:
		return true
	case <-c.done:
		return false
	}
}
