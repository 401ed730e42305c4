package pdu

// Field limits of SMPP 3.4 section 5.2, in octets including the NUL.
const (
	maxSystemID     = 16
	maxPassword     = 9
	maxSystemType   = 13
	maxAddressRange = 41
	maxServiceType  = 6
	maxAddr         = 21
	maxDataSMAddr   = 65
	maxTime         = 17
	maxMessageID    = 65
	maxShortMessage = 254
)

// ESM class bits.
const (
	// EsmUDHI is the UDH indicator bit of esm_class.
	EsmUDHI = 0x40
	// EsmReceipt is the esm_class of an SMSC delivery receipt.
	EsmReceipt = 0x04
	// esmTypeMask selects the message type bits 5..2 of esm_class.
	esmTypeMask = 0x3C
)

// Optional parameter tags smppmux reads.
const (
	TagReceiptedMessageID = 0x001E
	TagMessageState       = 0x0427
	TagMessagePayload     = 0x0424
	TagSarMsgRefNum       = 0x020C
)

// IsReceipt reports whether esm_class marks a deliver_sm or data_sm as a
// delivery receipt, delivery or manual acknowledgement, or intermediate
// notification rather than a mobile-originated message.
func IsReceipt(esmClass byte) bool { return esmClass&esmTypeMask != 0 }

// BindBody holds the fields of a bind request. Values alias the body.
type BindBody struct {
	SystemID     []byte
	Password     []byte
	SystemType   []byte
	Version      byte
	AddrTON      byte
	AddrNPI      byte
	AddressRange []byte
}

// ParseBind decodes a bind_transmitter, bind_receiver or bind_transceiver
// body. A system_id or password longer than SMPP allows fails with
// ESME_RINVSYSID or ESME_RINVPASWD.
func ParseBind(body []byte) (BindBody, error) {
	d := Decoder{b: body}
	var b BindBody
	b.SystemID = d.CString("system_id", maxSystemID, StatusInvSysID)
	b.Password = d.CString("password", maxPassword, StatusInvPaswd)
	b.SystemType = d.CString("system_type", maxSystemType, StatusInvSysTyp)
	b.Version = d.Byte("interface_version")
	b.AddrTON = d.Byte("addr_ton")
	b.AddrNPI = d.Byte("addr_npi")
	b.AddressRange = d.CString("address_range", maxAddressRange, StatusBindFail)
	// Optional parameters are not defined for bind; trailing bytes are
	// tolerated as long as they are well formed.
	d.TLVs()
	return b, d.Err()
}

// SM holds the fields of a submit_sm, deliver_sm or data_sm body: one form
// for the three, so that what reads addresses, esm_class, the short
// message or the optional parameters reads them alike. A data_sm has no
// short_message and, of the fields between esm_class and sm_length, only
// registered_delivery and data_coding: the others stay zero, and DataSM is
// set. Byte slices alias the body.
type SM struct {
	// DataSM is set when the body is a data_sm's.
	DataSM             bool
	ServiceType        []byte
	SourceTON          byte
	SourceNPI          byte
	SourceAddr         []byte
	DestTON            byte
	DestNPI            byte
	DestAddr           []byte
	ESMClass           byte
	ProtocolID         byte
	Priority           byte
	Schedule           []byte
	Validity           []byte
	RegisteredDelivery byte
	ReplaceIfPresent   byte
	DataCoding         byte
	DefaultMsgID       byte
	// SMLengthOffset is the offset in the body of the sm_length octet;
	// 0 for a data_sm.
	SMLengthOffset int
	ShortMessage   []byte
	// TLVs are the optional parameters, raw and in their original order.
	// They run to the end of the body.
	TLVs []byte
}

// ParseMessage decodes the body of a submit_sm, deliver_sm or data_sm,
// as the command id says, into sm. Another command fails with
// ESME_RINVCMDID.
func ParseMessage(id ID, body []byte, sm *SM) error {
	switch id {
	case SubmitSM, DeliverSM:
		return ParseSM(body, sm)
	case DataSM:
		return ParseDataSM(body, sm)
	}
	return &FieldError{Field: "command_id", Status: StatusInvCmdID, Reason: IDName(id) + " carries no message"}
}

// ParseSM decodes a submit_sm or deliver_sm body into sm. It fails with a
// *FieldError whose Status answers the request.
func ParseSM(body []byte, sm *SM) error {
	d := Decoder{b: body}
	sm.DataSM = false
	sm.ServiceType = d.CString("service_type", maxServiceType, StatusInvSerTyp)
	sm.SourceTON = d.Byte("source_addr_ton")
	sm.SourceNPI = d.Byte("source_addr_npi")
	sm.SourceAddr = d.CString("source_addr", maxAddr, StatusInvSrcAdr)
	sm.DestTON = d.Byte("dest_addr_ton")
	sm.DestNPI = d.Byte("dest_addr_npi")
	sm.DestAddr = d.CString("destination_addr", maxAddr, StatusInvDstAdr)
	sm.ESMClass = d.Byte("esm_class")
	sm.ProtocolID = d.Byte("protocol_id")
	sm.Priority = d.Byte("priority_flag")
	sm.Schedule = d.CString("schedule_delivery_time", maxTime, StatusInvSched)
	sm.Validity = d.CString("validity_period", maxTime, StatusInvExpiry)
	sm.RegisteredDelivery = d.Byte("registered_delivery")
	sm.ReplaceIfPresent = d.Byte("replace_if_present_flag")
	sm.DataCoding = d.Byte("data_coding")
	sm.DefaultMsgID = d.Byte("sm_default_msg_id")
	sm.SMLengthOffset = d.Offset()
	n := d.Byte("sm_length")
	if d.Err() == nil && int(n) > maxShortMessage {
		return &FieldError{Field: "sm_length", Status: StatusInvMsgLen, Reason: "above 254"}
	}
	sm.ShortMessage = d.Bytes("short_message", int(n))
	sm.TLVs = d.TLVs()
	return d.Err()
}

// ParseDataSM decodes a data_sm body into sm; the fields a data_sm lacks
// are zero.
func ParseDataSM(body []byte, sm *SM) error {
	d := Decoder{b: body}
	*sm = SM{DataSM: true}
	sm.ServiceType = d.CString("service_type", maxServiceType, StatusInvSerTyp)
	sm.SourceTON = d.Byte("source_addr_ton")
	sm.SourceNPI = d.Byte("source_addr_npi")
	sm.SourceAddr = d.CString("source_addr", maxDataSMAddr, StatusInvSrcAdr)
	sm.DestTON = d.Byte("dest_addr_ton")
	sm.DestNPI = d.Byte("dest_addr_npi")
	sm.DestAddr = d.CString("destination_addr", maxDataSMAddr, StatusInvDstAdr)
	sm.ESMClass = d.Byte("esm_class")
	sm.RegisteredDelivery = d.Byte("registered_delivery")
	sm.DataCoding = d.Byte("data_coding")
	sm.TLVs = d.TLVs()
	return d.Err()
}

// Text returns the text of a message: short_message, or the
// message_payload TLV when short_message is empty (always so in a
// data_sm).
func (sm *SM) Text() []byte {
	if len(sm.ShortMessage) > 0 {
		return sm.ShortMessage
	}
	v, _ := FindTLV(sm.TLVs, TagMessagePayload)
	return v
}

// ParseMessageIDResp decodes the message_id of a submit_sm_resp or
// data_sm_resp body. An empty body (an error response) gives an empty id.
func ParseMessageIDResp(body []byte) ([]byte, error) {
	if len(body) == 0 {
		return nil, nil
	}
	d := Decoder{b: body}
	id := d.CString("message_id", maxMessageID, StatusInvMsgID)
	return id, d.Err()
}
