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
	fail := pdu.StatusQueryFail
	switch f.ID {
	case pdu.CancelSM:
		fail = pdu.StatusCancelFail
	case pdu.ReplaceSM:
		fail = pdu.StatusReplaceFail
	}
	q, err := pdu.ParseByMessageID(f.ID, f.Body())
	if err != nil {
		r.refuse(s, f, err)
		return
	}
	if len(q.MessageID) == 0 {
		// cancel_sm by addresses only cannot say which upstream holds
		// the messages.
		s.Logger().Info("request without message_id", zap.String("command", pdu.IDName(f.ID)))
		s.Respond(pdu.Empty(respID, fail, seq))
		return
	}
	clientID := string(q.MessageID)
	if r.queuedByID(s, f, clientID, fail) {
		return
	}
	m, ok, err := r.cfg.Store.ByClient(s.SystemID(), clientID)
	if err != nil {
		s.Logger().Error("message id lookup failed", zap.Error(err))
		s.Respond(pdu.Empty(respID, pdu.StatusSysErr, seq))
		return
	}
	rt := r.rt()
	member, known := rt.Member(m.Upstream)
	if !ok || !known {
		s.Respond(pdu.Empty(respID, pdu.StatusInvMsgID, seq))
		return
	}
	raw := q.WithMessageID(f.Raw, m.UpstreamID)
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
			s.Respond(pdu.RespWithMessageID(resp, seq, clientID))
		}
	})
	if err != nil {
		s.Respond(pdu.Empty(respID, pdu.StatusThrottled, seq))
	}
}

// submitMulti relays a submit_multi, routed by its first SME destination.
func (r *Relay) submitMulti(s *smppserver.Session, f pdu.Frame) {
	m, err := pdu.ParseSubmitMulti(f.Body())
	if err != nil {
		r.refuse(s, f, err)
		return
	}
	r.relay(s, f, router.Message{SystemID: s.SystemID(), Source: m.SourceAddr, Destination: m.FirstDest, ServiceType: m.ServiceType}, "", nil)
}
