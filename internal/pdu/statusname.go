package pdu

import (
	"strconv"
	"strings"
)

var statusNames = map[string]Status{
	"ESME_ROK": StatusOK, "ESME_RINVMSGLEN": StatusInvMsgLen, "ESME_RINVCMDLEN": StatusInvCmdLen,
	"ESME_RINVCMDID": StatusInvCmdID, "ESME_RINVBNDSTS": StatusInvBndSts, "ESME_RALYBND": StatusAlyBnd,
	"ESME_RSYSERR": StatusSysErr, "ESME_RINVSRCADR": StatusInvSrcAdr, "ESME_RINVDSTADR": StatusInvDstAdr,
	"ESME_RINVMSGID": StatusInvMsgID, "ESME_RBINDFAIL": StatusBindFail, "ESME_RINVPASWD": StatusInvPaswd,
	"ESME_RINVSYSID": StatusInvSysID, "ESME_RMSGQFUL": StatusMsgQFul, "ESME_RINVSERTYP": StatusInvSerTyp,
	"ESME_RINVNUMDESTS": StatusInvNumDests, "ESME_RINVESMCLASS": StatusInvEsmClass,
	"ESME_RSUBMITFAIL": StatusSubmitFail, "ESME_RINVSYSTYP": StatusInvSysTyp,
	"ESME_RTHROTTLED": StatusThrottled, "ESME_RINVSCHED": StatusInvSched, "ESME_RINVEXPIRY": StatusInvExpiry,
	"ESME_RX_T_APPN": StatusXTAppn, "ESME_RX_P_APPN": 0x65, "ESME_RX_R_APPN": 0x66,
	"ESME_RQUERYFAIL": 0x67, "ESME_RINVOPTPARSTREAM": StatusInvOptParStream, "ESME_ROPTPARNOTALLWD": 0xC1,
	"ESME_RINVPARLEN": StatusInvParLen, "ESME_RMISSINGOPTPARAM": 0xC3, "ESME_RINVOPTPARAMVAL": 0xC4,
	"ESME_RDELIVERYFAILURE": 0xFE, "ESME_RUNKNOWNERR": StatusUnknownErr,
}

// ParseStatus reads a command_status written as an SMPP name
// ("ESME_RTHROTTLED"), in hexadecimal ("0x58") or in decimal ("88").
func ParseStatus(s string) (Status, bool) {
	s = strings.TrimSpace(s)
	if st, ok := statusNames[strings.ToUpper(s)]; ok {
		return st, true
	}
	n, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		return 0, false
	}
	return Status(n), true
}
