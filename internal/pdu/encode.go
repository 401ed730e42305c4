package pdu

// Encoders for the PDUs smppmux originates. Relayed PDUs are never built
// here: they travel as the bytes they arrived in.

// TagSCInterfaceVersion is the sc_interface_version TLV of a bind response.
const TagSCInterfaceVersion = 0x0210

// InterfaceVersion is the interface_version smppmux speaks: 3.4.
const InterfaceVersion = 0x34

// AppendCString appends s and its terminating NUL.
func AppendCString(dst []byte, s string) []byte {
	dst = append(dst, s...)
	return append(dst, 0)
}

// Empty returns a PDU with no body: enquire_link, unbind, their responses,
// generic_nack, and every response carrying an error status.
func Empty(id ID, status Status, seq uint32) []byte {
	return AppendHeader(make([]byte, 0, HeaderLen), id, status, seq, 0)
}

// MessageIDResp returns a response whose body is a message_id
// (submit_sm_resp, data_sm_resp, deliver_sm_resp with an empty id): the
// message_id when status is OK, no body otherwise (SMPP 3.4 errata: error
// responses carry no body).
func MessageIDResp(id ID, status Status, seq uint32, messageID string) []byte {
	if status != StatusOK {
		return Empty(id, status, seq)
	}
	b := AppendHeader(make([]byte, 0, HeaderLen+len(messageID)+1), id, status, seq, len(messageID)+1)
	return AppendCString(b, messageID)
}

// BindResp returns the response to a bind request id: system_id and
// sc_interface_version when status is OK, no body otherwise.
func BindResp(id ID, status Status, seq uint32, systemID string) []byte {
	rid := RespID(id)
	if status != StatusOK {
		return Empty(rid, status, seq)
	}
	n := len(systemID) + 1 + 5
	b := AppendHeader(make([]byte, 0, HeaderLen+n), rid, status, seq, n)
	b = AppendCString(b, systemID)
	return append(b, TagSCInterfaceVersion>>8, TagSCInterfaceVersion&0xFF, 0, 1, InterfaceVersion)
}

// BindFields are the fields of a bind_transmitter, bind_receiver or
// bind_transceiver.
type BindFields struct {
	SystemID     string
	Password     string
	SystemType   string
	Version      byte
	AddrTON      byte
	AddrNPI      byte
	AddressRange string
}

// Bind returns a bind request of command id with sequence seq.
func Bind(id ID, seq uint32, f BindFields) []byte {
	n := len(f.SystemID) + len(f.Password) + len(f.SystemType) + len(f.AddressRange) + 4 + 3
	b := AppendHeader(make([]byte, 0, HeaderLen+n), id, StatusOK, seq, n)
	b = AppendCString(b, f.SystemID)
	b = AppendCString(b, f.Password)
	b = AppendCString(b, f.SystemType)
	b = append(b, f.Version, f.AddrTON, f.AddrNPI)
	return AppendCString(b, f.AddressRange)
}

// AppendSM appends sm encoded as a submit_sm or deliver_sm body, or as a
// data_sm body when sm.DataSM is set (the fields a data_sm lacks are left
// out). The short_message must be at most 254 octets; SMLengthOffset is
// ignored.
func AppendSM(dst []byte, sm *SM) []byte {
	dst = appendCBytes(dst, sm.ServiceType)
	dst = append(dst, sm.SourceTON, sm.SourceNPI)
	dst = appendCBytes(dst, sm.SourceAddr)
	dst = append(dst, sm.DestTON, sm.DestNPI)
	dst = appendCBytes(dst, sm.DestAddr)
	if sm.DataSM {
		dst = append(dst, sm.ESMClass, sm.RegisteredDelivery, sm.DataCoding)
		return append(dst, sm.TLVs...)
	}
	dst = append(dst, sm.ESMClass, sm.ProtocolID, sm.Priority)
	dst = appendCBytes(dst, sm.Schedule)
	dst = appendCBytes(dst, sm.Validity)
	dst = append(dst, sm.RegisteredDelivery, sm.ReplaceIfPresent, sm.DataCoding, sm.DefaultMsgID, byte(len(sm.ShortMessage)))
	dst = append(dst, sm.ShortMessage...)
	return append(dst, sm.TLVs...)
}

// Request returns a request PDU of command id and sequence seq around body.
func Request(id ID, seq uint32, body []byte) []byte {
	b := AppendHeader(make([]byte, 0, HeaderLen+len(body)), id, StatusOK, seq, len(body))
	return append(b, body...)
}

func appendCBytes(dst, s []byte) []byte {
	dst = append(dst, s...)
	return append(dst, 0)
}
