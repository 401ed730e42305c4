package pdu

// Destination kinds of a submit_multi (dest_flag).
const (
	destSMEAddress = 1
	destDLName     = 2
)

// ByMessageID holds what smppmux reads of a query_sm, cancel_sm or
// replace_sm: the message_id of the earlier message it is about, which is
// all that changes when it is relayed.
type ByMessageID struct {
	// MessageID aliases the body; empty when a cancel_sm names its
	// messages by addresses only.
	MessageID []byte
	// start and end bound the message_id's value in the PDU, its NUL at
	// end.
	start, end int
}

// ParseByMessageID decodes the message_id of a query_sm, cancel_sm (after
// its service_type) or replace_sm body; the fields after it are not read.
func ParseByMessageID(id ID, body []byte) (ByMessageID, error) {
	d := Decoder{b: body}
	if id == CancelSM {
		d.CString("service_type", maxServiceType, StatusInvSerTyp)
	}
	start := d.Offset()
	mid := d.CString("message_id", maxMessageID, StatusInvMsgID)
	if err := d.Err(); err != nil {
		return ByMessageID{}, err
	}
	return ByMessageID{MessageID: mid, start: HeaderLen + start, end: HeaderLen + d.Offset() - 1}, nil
}

// WithMessageID returns a copy of raw, the PDU q was parsed from, with its
// message_id replaced by id and every other octet kept.
func (q ByMessageID) WithMessageID(raw []byte, id string) []byte {
	b := Splice(raw, q.start, q.end, id)
	SetLen(b)
	return b
}

// RespWithMessageID returns resp, a response whose body starts with a
// message_id (submit_sm_resp, data_sm_resp, submit_multi_resp,
// query_sm_resp), under sequence seq with that message_id replaced by id
// and the rest kept. A body with no message_id gets one.
func RespWithMessageID(resp Frame, seq uint32, id string) []byte {
	d := Decoder{b: resp.Body()}
	d.CString("message_id", maxMessageID, StatusInvMsgID)
	if d.Err() != nil {
		return MessageIDResp(resp.ID, resp.Status, seq, id)
	}
	b := Splice(resp.Raw, HeaderLen, HeaderLen+d.Offset()-1, id)
	SetLen(b)
	SetSeq(b, seq)
	return b
}

// SubmitMultiBody holds what smppmux reads of a submit_multi to route it.
// Byte slices alias the body.
type SubmitMultiBody struct {
	ServiceType []byte
	SourceAddr  []byte
	// Dests is number_of_dests.
	Dests int
	// FirstDest is the first SME address among the destinations; nil
	// when all are distribution lists.
	FirstDest []byte
}

// ParseSubmitMulti decodes a submit_multi body up to its destinations.
// None fails with ESME_RINVNUMDESTS, a dest_flag other than an SME
// address or a distribution list with ESME_RINVDSTADR.
func ParseSubmitMulti(body []byte) (SubmitMultiBody, error) {
	d := Decoder{b: body}
	var m SubmitMultiBody
	m.ServiceType = d.CString("service_type", maxServiceType, StatusInvSerTyp)
	d.Byte("source_addr_ton")
	d.Byte("source_addr_npi")
	m.SourceAddr = d.CString("source_addr", maxAddr, StatusInvSrcAdr)
	m.Dests = int(d.Byte("number_of_dests"))
	for i := 0; i < m.Dests && d.Err() == nil; i++ {
		switch d.Byte("dest_flag") {
		case destSMEAddress:
			d.Byte("dest_addr_ton")
			d.Byte("dest_addr_npi")
			a := d.CString("destination_addr", maxAddr, StatusInvDstAdr)
			if m.FirstDest == nil {
				m.FirstDest = a
			}
		case destDLName:
			d.CString("dl_name", maxAddr, StatusInvDstAdr)
		default:
			return SubmitMultiBody{}, &FieldError{Field: "dest_flag", Status: StatusInvDstAdr, Reason: "neither 1 nor 2"}
		}
	}
	if err := d.Err(); err != nil {
		return SubmitMultiBody{}, err
	}
	if m.Dests == 0 {
		return SubmitMultiBody{}, &FieldError{Field: "number_of_dests", Status: StatusInvNumDests, Reason: "zero"}
	}
	return m, nil
}
