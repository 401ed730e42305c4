package smsctest

import (
	"context"
	"strconv"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
)

// pick returns a bound receiver or transceiver session: prefer when it can
// take deliveries, else one of systemID (any system_id if empty), round
// robin. It returns nil if there is none.
func (s *Server) pick(systemID string, prefer *Session) *Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prefer != nil && prefer.bound && prefer.bindType == pdu.BindTransceiver && !prefer.isClosed() {
		return prefer
	}
	n := 0
	for _, sess := range s.bound {
		if sess.receives() && (systemID == "" || sess.systemID == systemID) {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	k := int(s.rx.Add(1) % uint64(n))
	for _, sess := range s.bound {
		if sess.receives() && (systemID == "" || sess.systemID == systemID) {
			if k == 0 {
				return sess
			}
			k--
		}
	}
	return nil
}

// bind queues resp, the bind_resp, and marks sess bound; it reports false
// if sess is closing.
func (s *Server) bind(sess *Session, systemID string, id pdu.ID, resp []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[sess]; !ok {
		return false
	}
	if !sess.queue(resp) {
		return false
	}
	sess.bound = true
	sess.systemID = systemID
	sess.bindType = id
	s.bound = append(s.bound, sess)
	s.smu.Lock()
	s.binds++
	s.changedLocked()
	s.smu.Unlock()
	return true
}

// remove forgets a closed session.
func (s *Server) remove(sess *Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, sess)
	if !sess.bound {
		return
	}
	for i, b := range s.bound {
		if b == sess {
			s.bound = append(s.bound[:i], s.bound[i+1:]...)
			break
		}
	}
	s.smu.Lock()
	s.binds--
	s.changedLocked()
	s.smu.Unlock()
}

// after runs fn after d on a timer the Server can cancel. It reports
// false, without running fn, once the Server is closed.
func (s *Server) after(d time.Duration, fn func()) bool {
	e := &delayed{}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	e.t = time.AfterFunc(d, func() { s.fire(e, fn) })
	s.timers[e] = struct{}{}
	return true
}

func (s *Server) fire(e *delayed, fn func()) {
	defer s.wg.Done()
	s.mu.Lock()
	_, ok := s.timers[e]
	delete(s.timers, e)
	run := ok && !s.closed
	s.mu.Unlock()
	if run {
		fn()
	}
}

// messageID issues the next message id.
func (s *Server) messageID() string {
	n := s.ids.Add(1)
	if s.cfg.IDFormat != nil {
		return s.cfg.IDFormat(n)
	}
	return strconv.FormatUint(n, 16)
}

// record counts an accepted message and keeps its Record.
func (s *Server) record(r Record) {
	s.smu.Lock()
	s.accepted++
	if !s.cfg.DiscardRecords {
		s.records = append(s.records, r)
	}
	s.changedLocked()
	s.smu.Unlock()
}

// acked counts the response to a deliver_sm the Server sent.
func (s *Server) acked(k kind, st pdu.Status) {
	s.smu.Lock()
	switch k {
	case kindReceipt:
		s.rcptStatus[st]++
		if st == pdu.StatusOK {
			s.rcptAcked++
		}
	case kindPush:
		s.pushStatus[st]++
		if st == pdu.StatusOK {
			s.pushAcked++
		}
	}
	s.changedLocked()
	s.smu.Unlock()
}

func (s *Server) receiptUnsent() {
	s.smu.Lock()
	s.unsent++
	s.smu.Unlock()
}

// Changed returns a channel closed at the next change of what the Wait
// methods wait for: Binds, Accepted and the answers to receipts and
// pushes (not Received). Take it before reading them so that no change is
// missed in between; it serves conditions over several Servers.
func (s *Server) Changed() <-chan struct{} { return s.changes.Next() }

// changedLocked wakes every waiter; s.smu is held.
func (s *Server) changedLocked() { s.changes.Fire() }

// wait waits until cond, evaluated with s.smu held, is true or ctx is
// done.
func (s *Server) wait(ctx context.Context, cond func() bool) error {
	for {
		ch := s.Changed()
		s.smu.Lock()
		ok := cond()
		s.smu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
