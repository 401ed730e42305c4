package relay

import (
	"context"

	"go.uber.org/zap"

	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/router"
	"github.com/smppmux/smppmux/smppserver"
)

// byMessageID serves query_sm, cancel_sm and replace_sm: the message_id
// the client was given is turned back into the upstream's, the request
// goes to the upstream that took the message, and for query_sm the
// response's message_id is turned into the client's again. Everything else
// in the PDUs is relayed as it is.
func (r *Relay) byMessageID(s *smppserver.Session, f pdu.Frame) {
	respID, seq := pdu.RespID(f.ID), f.Seq
	body := f.Body()
	d := pdu.NewDecoder(body)
	fail := pdu.StatusQueryFail
	switch f.ID {
	case pdu.CancelSM:
		d.CString("service_type", 6, pdu.StatusInvSerTyp)
		fail = pdu.StatusCancelFail
	case pdu.ReplaceSM:
		fail = pdu.StatusReplaceFail
	}
	start := d.Offset()
	id := d.CString("message_id", 65, pdu.StatusInvMsgID)
	end := d.Offset()
	if err := d.Err(); err != nil {
		r.refuse(s, f, err)
		return
	}
	if len(id) == 0 {
		// cancel_sm by addresses only cannot say which upstream holds
		// the messages.
		s.Logger().Info("request without message_id", zap.String("command", pdu.IDName(f.ID)))
		s.Respond(pdu.Empty(respID, fail, seq))
		return
	}
	clientID := string(id)
	m, ok, err := r.cfg.Store.ByClient(s.SystemID(), clientID)
	if err != nil {
		s.Logger().Error("message id lookup failed", zap.Error(err))
		s.Respond(pdu.Empty(respID, pdu.StatusSysErr, seq))
		return
	}
	rt := r.rt()
	member, known := rt.Members[m.Upstream]
	if !ok || !known {
		s.Respond(pdu.Empty(respID, pdu.StatusInvMsgID, seq))
		return
	}
	raw := spliceCString(f.Raw, pdu.HeaderLen+start, pdu.HeaderLen+end-1, m.UpstreamID)
	ctx, cancel := context.WithTimeout(context.Background(), rt.SubmitTimeout)
	defer cancel()
	err = member.Submit(ctx, raw, func(resp pdu.Frame, err error) {
		switch {
		case err != nil:
			s.Respond(pdu.Empty(respID, pdu.StatusSysErr, seq))
		case resp.Status != pdu.StatusOK || resp.ID != respID:
			st := resp.Status
			if st == pdu.StatusOK {
				st = fail
			}
			s.Respond(pdu.Empty(respID, st, seq))
		default:
			s.Respond(respWithID(resp, seq, clientID))
		}
	})
	if err != nil {
		s.Respond(pdu.Empty(respID, pdu.StatusThrottled, seq))
	}
}

// respWithID returns resp, a response whose body starts with a message_id
// (submit_sm_resp, data_sm_resp, submit_multi_resp, query_sm_resp), under
// sequence seq with that message_id replaced by id and the rest kept. A
// body with no message_id gets one.
func respWithID(resp pdu.Frame, seq uint32, id string) []byte {
	d := pdu.NewDecoder(resp.Body())
	d.CString("message_id", 65, pdu.StatusInvMsgID)
	end := d.Offset()
	if d.Err() != nil {
		return pdu.MessageIDResp(resp.ID, resp.Status, seq, id)
	}
	out := spliceCString(resp.Raw, pdu.HeaderLen, pdu.HeaderLen+end-1, id)
	pdu.SetSeq(out, seq)
	return out
}

// spliceCString returns a copy of the PDU raw with the octets from start to
// end (a C-string's value, its NUL at end) replaced by s, and the
// command_length set again.
func spliceCString(raw []byte, start, end int, s string) []byte {
	out := make([]byte, 0, len(raw)-(end-start)+len(s))
	out = append(out, raw[:start]...)
	out = append(out, s...)
	out = append(out, raw[end:]...)
	pdu.SetLen(out)
	return out
}

// submitMulti relays a submit_multi, routed by its first SME destination.
func (r *Relay) submitMulti(s *smppserver.Session, f pdu.Frame) {
	d := pdu.NewDecoder(f.Body())
	service := d.CString("service_type", 6, pdu.StatusInvSerTyp)
	d.Byte("source_addr_ton")
	d.Byte("source_addr_npi")
	src := d.CString("source_addr", 21, pdu.StatusInvSrcAdr)
	n := int(d.Byte("number_of_dests"))
	var dest []byte
	for i := 0; i < n && d.Err() == nil; i++ {
		switch d.Byte("dest_flag") {
		case 1: // SME address
			d.Byte("dest_addr_ton")
			d.Byte("dest_addr_npi")
			a := d.CString("destination_addr", 21, pdu.StatusInvDstAdr)
			if dest == nil {
				dest = a
			}
		case 2: // distribution list
			d.CString("dl_name", 21, pdu.StatusInvDstAdr)
		default:
			r.refuse(s, f, &pdu.FieldError{Field: "dest_flag", Status: pdu.StatusInvDstAdr, Reason: "neither 1 nor 2"})
			return
		}
	}
	if err := d.Err(); err != nil {
		r.refuse(s, f, err)
		return
	}
	if n == 0 {
		r.refuse(s, f, &pdu.FieldError{Field: "number_of_dests", Status: pdu.StatusInvNumDests, Reason: "zero"})
		return
	}
	r.relay(s, f, router.Message{SystemID: s.SystemID(), Source: src, Destination: dest, ServiceType: service}, "", nil)
}
