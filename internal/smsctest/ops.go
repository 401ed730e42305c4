package smsctest

import (
	"github.com/smppmux/smppmux/internal/pdu"
)

// Op is a query_sm, cancel_sm or replace_sm the Server received.
type Op struct {
	ID        pdu.ID // pdu.QuerySM, pdu.CancelSM or pdu.ReplaceSM
	MessageID string
	Raw       []byte
}

// Ops returns the query_sm, cancel_sm and replace_sm received, in order.
func (s *Server) Ops() []Op {
	s.smu.Lock()
	defer s.smu.Unlock()
	return append([]Op(nil), s.ops...)
}

// known reports whether id was issued and recorded.
func (s *Server) known(id string) bool {
	s.smu.Lock()
	defer s.smu.Unlock()
	for _, r := range s.records {
		if r.MessageID == id {
			return true
		}
	}
	return false
}

// handleByID answers query_sm (message delivered), cancel_sm and
// replace_sm (done) for a message id the Server issued and kept a Record
// of, ESME_RINVMSGID for any other.
func (s *Session) handleByID(f pdu.Frame) {
	d := pdu.NewDecoder(f.Body())
	if f.ID == pdu.CancelSM {
		d.CString("service_type", 6, pdu.StatusInvSerTyp)
	}
	id := string(d.CString("message_id", 65, pdu.StatusInvMsgID))
	respID := pdu.RespID(f.ID)
	if err := d.Err(); err != nil {
		s.queue(pdu.Empty(respID, fieldStatus(err, pdu.StatusInvMsgLen), f.Seq))
		return
	}
	s.srv.smu.Lock()
	s.srv.ops = append(s.srv.ops, Op{ID: f.ID, MessageID: id, Raw: append([]byte(nil), f.Raw...)})
	s.srv.smu.Unlock()
	if !s.srv.known(id) {
		s.queue(pdu.Empty(respID, pdu.StatusInvMsgID, f.Seq))
		return
	}
	if f.ID != pdu.QuerySM {
		s.queue(pdu.Empty(respID, pdu.StatusOK, f.Seq))
		return
	}
	// message_id, final_date (none), message_state DELIVERED, error_code 0.
	body := append(pdu.AppendCString(nil, id), 0, 2, 0)
	b := pdu.AppendHeader(nil, respID, pdu.StatusOK, f.Seq, len(body))
	s.queue(append(b, body...))
}
