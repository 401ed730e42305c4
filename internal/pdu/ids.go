package pdu

import smpp "github.com/fiorix/go-smpp/smpp/pdu"

// Command ids, re-exported from go-smpp under shorter names.
const (
	GenericNack         = smpp.GenericNACKID
	BindReceiver        = smpp.BindReceiverID
	BindReceiverResp    = smpp.BindReceiverRespID
	BindTransmitter     = smpp.BindTransmitterID
	BindTransmitterResp = smpp.BindTransmitterRespID
	BindTransceiver     = smpp.BindTransceiverID
	BindTransceiverResp = smpp.BindTransceiverRespID
	QuerySM             = smpp.QuerySMID
	QuerySMResp         = smpp.QuerySMRespID
	SubmitSM            = smpp.SubmitSMID
	SubmitSMResp        = smpp.SubmitSMRespID
	DeliverSM           = smpp.DeliverSMID
	DeliverSMResp       = smpp.DeliverSMRespID
	Unbind              = smpp.UnbindID
	UnbindResp          = smpp.UnbindRespID
	ReplaceSM           = smpp.ReplaceSMID
	ReplaceSMResp       = smpp.ReplaceSMRespID
	CancelSM            = smpp.CancelSMID
	CancelSMResp        = smpp.CancelSMRespID
	Outbind             = smpp.OutbindID
	EnquireLink         = smpp.EnquireLinkID
	EnquireLinkResp     = smpp.EnquireLinkRespID
	SubmitMulti         = smpp.SubmitMultiID
	SubmitMultiResp     = smpp.SubmitMultiRespID
	AlertNotification   = smpp.AlertNotificationID
	DataSM              = smpp.DataSMID
	DataSMResp          = smpp.DataSMRespID
)

// Known reports whether id is a command_id defined by SMPP 3.4.
func Known(id ID) bool {
	switch id {
	case GenericNack, BindReceiver, BindReceiverResp, BindTransmitter,
		BindTransmitterResp, BindTransceiver, BindTransceiverResp, QuerySM,
		QuerySMResp, SubmitSM, SubmitSMResp, DeliverSM, DeliverSMResp, Unbind,
		UnbindResp, ReplaceSM, ReplaceSMResp, CancelSM, CancelSMResp, Outbind,
		EnquireLink, EnquireLinkResp, SubmitMulti, SubmitMultiResp,
		AlertNotification, DataSM, DataSMResp:
		return true
	}
	return false
}

// IDName returns the SMPP name of id, such as "submit_sm", for logs.
func IDName(id ID) string {
	if n, ok := idNames[id]; ok {
		return n
	}
	return "unknown"
}

var idNames = map[ID]string{
	GenericNack: "generic_nack", BindReceiver: "bind_receiver",
	BindReceiverResp: "bind_receiver_resp", BindTransmitter: "bind_transmitter",
	BindTransmitterResp: "bind_transmitter_resp", BindTransceiver: "bind_transceiver",
	BindTransceiverResp: "bind_transceiver_resp", QuerySM: "query_sm",
	QuerySMResp: "query_sm_resp", SubmitSM: "submit_sm", SubmitSMResp: "submit_sm_resp",
	DeliverSM: "deliver_sm", DeliverSMResp: "deliver_sm_resp", Unbind: "unbind",
	UnbindResp: "unbind_resp", ReplaceSM: "replace_sm", ReplaceSMResp: "replace_sm_resp",
	CancelSM: "cancel_sm", CancelSMResp: "cancel_sm_resp", Outbind: "outbind",
	EnquireLink: "enquire_link", EnquireLinkResp: "enquire_link_resp",
	SubmitMulti: "submit_multi", SubmitMultiResp: "submit_multi_resp",
	AlertNotification: "alert_notification", DataSM: "data_sm", DataSMResp: "data_sm_resp",
}
