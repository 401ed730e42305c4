package smsctest

import (
	"container/heap"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
)

const (
	// holdWindow is how many held receipts a session may have in flight,
	// sent and not yet answered.
	holdWindow = 64
	// holdRetry is how long a held receipt answered with an error status
	// waits before it is queued again.
	holdRetry = 50 * time.Millisecond
)

// heldReceipt is a receipt owed under Config.HoldReceipts, kept until a
// deliver_sm_resp ESME_ROK answers it.
type heldReceipt struct {
	n        uint64 // creation order
	systemID string
	raw      []byte // the whole deliver_sm, sequence_number to be set
}

// receiptHeap orders held receipts by creation, oldest first. A receipt
// that comes back is older than every receipt never sent, so it goes back
// to the front of the queue.
type receiptHeap []*heldReceipt

func (h receiptHeap) Len() int           { return len(h) }
func (h receiptHeap) Less(i, j int) bool { return h[i].n < h[j].n }
func (h receiptHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *receiptHeap) Push(x any)        { *h = append(*h, x.(*heldReceipt)) }
func (h *receiptHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return r
}

// holdQueue is the held receipts of one system_id and the receiver and
// transceiver sessions of that system_id that take them.
type holdQueue struct {
	items receiptHeap
	rx    []*Session // in bind order
	next  int        // round robin over rx
}

// holdQueueLocked returns the queue of systemID, creating it; s.hmu is
// held.
func (s *Server) holdQueueLocked(systemID string) *holdQueue {
	q := s.held[systemID]
	if q == nil {
		q = &holdQueue{}
		s.held[systemID] = q
	}
	return q
}

// hold queues the receipt of message id, submitted by systemID as sm, and
// counts it pending. It sends nothing: pump does.
func (s *Server) hold(systemID, id string, sm *pdu.SM) {
	b := pdu.AppendHeader(make([]byte, 0, 192+2*len(id)), pdu.DeliverSM, pdu.StatusOK, 0, 0)
	b = appendReceipt(b, id, sm, s.stat, s.state, time.Now())
	pdu.SetLen(b)
	s.hmu.Lock()
	defer s.hmu.Unlock()
	s.hn++
	heap.Push(&s.holdQueueLocked(systemID).items, &heldReceipt{n: s.hn, systemID: systemID, raw: b})
	s.smu.Lock()
	s.hpending++
	s.changedLocked()
	s.smu.Unlock()
}

// pump sends the held receipts of systemID its sessions have room for.
func (s *Server) pump(systemID string) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if q := s.held[systemID]; q != nil {
		s.pumpLocked(q)
	}
}

// pumpLocked sends receipts of q, oldest first, round robin over the
// sessions of q with fewer than holdWindow in flight; s.hmu is held.
func (s *Server) pumpLocked(q *holdQueue) {
	for len(q.items) > 0 && len(q.rx) > 0 {
		var t *Session
		for i := range q.rx {
			k := (q.next + i) % len(q.rx)
			if len(q.rx[k].inflight) < holdWindow {
				t = q.rx[k]
				q.next = (k + 1) % len(q.rx)
				break
			}
		}
		if t == nil {
			return
		}
		if t.isClosed() {
			s.detachLocked(t)
			continue
		}
		r := heap.Pop(&q.items).(*heldReceipt)
		seq := t.nextSeq()
		t.inflight[seq] = r
		if !t.queue(pdu.Resend(r.raw, seq)) {
			s.detachLocked(t) // gives r back
		}
	}
}

// holdAttach makes sess, a bound receiver or transceiver of systemID,
// take held receipts, and sends it those waiting.
func (s *Server) holdAttach(sess *Session, systemID string) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	// A session closed already will not be detached again: leave it out.
	if sess.hq != nil || sess.isClosed() {
		return
	}
	q := s.holdQueueLocked(systemID)
	sess.hq = q
	sess.inflight = make(map[uint32]*heldReceipt)
	q.rx = append(q.rx, sess)
	s.pumpLocked(q)
}

// holdDetach is called when sess ends: its receipts in flight go back to
// the front of the queue, for the other sessions of its system_id.
func (s *Server) holdDetach(sess *Session) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if q := sess.hq; q != nil {
		s.detachLocked(sess)
		s.pumpLocked(q)
	}
}

// detachLocked takes sess out of its queue and gives back its receipts in
// flight; s.hmu is held.
func (s *Server) detachLocked(sess *Session) {
	q := sess.hq
	if q == nil {
		return
	}
	for i, t := range q.rx {
		if t == sess {
			q.rx = append(q.rx[:i], q.rx[i+1:]...)
			break
		}
	}
	if q.next >= len(q.rx) {
		q.next = 0
	}
	for _, r := range sess.inflight {
		heap.Push(&q.items, r)
	}
	sess.inflight = nil
	sess.hq = nil
}

// heldResp handles the response to deliver_sm seq of sess, if it was a
// held receipt; it reports whether it was. ESME_ROK acknowledges the
// receipt; any other status queues it again after holdRetry.
func (s *Server) heldResp(sess *Session, seq uint32, st pdu.Status) bool {
	r := s.heldAnswered(sess, seq, st)
	if r == nil {
		return false
	}
	if st != pdu.StatusOK {
		s.after(holdRetry, func() { s.requeue(r) })
	}
	return true
}

// heldAnswered counts the response st to the held receipt sent on sess as
// seq, frees its slot and fills it; it returns the receipt, nil if seq
// was none.
func (s *Server) heldAnswered(sess *Session, seq uint32, st pdu.Status) *heldReceipt {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	r, ok := sess.inflight[seq]
	if !ok {
		return nil
	}
	delete(sess.inflight, seq)
	s.smu.Lock()
	s.rcptStatus[st]++
	if st == pdu.StatusOK {
		s.rcptAcked++
		s.hpending--
	}
	s.changedLocked()
	s.smu.Unlock()
	s.pumpLocked(sess.hq)
	return r
}

// requeue puts r back at the front of its queue and sends what can be.
func (s *Server) requeue(r *heldReceipt) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	q := s.holdQueueLocked(r.systemID)
	heap.Push(&q.items, r)
	s.pumpLocked(q)
}
