package pdu

import (
	"fmt"
	"strconv"
	"strings"
)

// statusNames are the SMPP 3.4 names of the command_status values.
var statusNames = map[Status]string{
	0x00: "ESME_ROK", 0x01: "ESME_RINVMSGLEN", 0x02: "ESME_RINVCMDLEN", 0x03: "ESME_RINVCMDID",
	0x04: "ESME_RINVBNDSTS", 0x05: "ESME_RALYBND", 0x06: "ESME_RINVPRTFLG", 0x07: "ESME_RINVREGDLVFLG",
	0x08: "ESME_RSYSERR", 0x0A: "ESME_RINVSRCADR", 0x0B: "ESME_RINVDSTADR", 0x0C: "ESME_RINVMSGID",
	0x0D: "ESME_RBINDFAIL", 0x0E: "ESME_RINVPASWD", 0x0F: "ESME_RINVSYSID", 0x11: "ESME_RCANCELFAIL",
	0x13: "ESME_RREPLACEFAIL", 0x14: "ESME_RMSGQFUL", 0x15: "ESME_RINVSERTYP", 0x33: "ESME_RINVNUMDESTS",
	0x34: "ESME_RINVDLNAME", 0x40: "ESME_RINVDESTFLAG", 0x42: "ESME_RINVSUBREP", 0x43: "ESME_RINVESMCLASS",
	0x44: "ESME_RCNTSUBDL", 0x45: "ESME_RSUBMITFAIL", 0x48: "ESME_RINVSRCTON", 0x49: "ESME_RINVSRCNPI",
	0x50: "ESME_RINVDSTTON", 0x51: "ESME_RINVDSTNPI", 0x53: "ESME_RINVSYSTYP", 0x54: "ESME_RINVREPFLAG",
	0x55: "ESME_RINVNUMMSGS", 0x58: "ESME_RTHROTTLED", 0x61: "ESME_RINVSCHED", 0x62: "ESME_RINVEXPIRY",
	0x63: "ESME_RINVDFTMSGID", 0x64: "ESME_RX_T_APPN", 0x65: "ESME_RX_P_APPN", 0x66: "ESME_RX_R_APPN",
	0x67: "ESME_RQUERYFAIL", 0xC0: "ESME_RINVOPTPARSTREAM", 0xC1: "ESME_ROPTPARNOTALLWD",
	0xC2: "ESME_RINVPARLEN", 0xC3: "ESME_RMISSINGOPTPARAM", 0xC4: "ESME_RINVOPTPARAMVAL",
	0xFE: "ESME_RDELIVERYFAILURE", 0xFF: "ESME_RUNKNOWNERR",
}

var statusByName = func() map[string]Status {
	m := make(map[string]Status, len(statusNames))
	for st, name := range statusNames {
		m[name] = st
	}
	return m
}()

// StatusName returns the SMPP name of st, such as "ESME_RTHROTTLED".
func StatusName(st Status) (string, bool) {
	name, ok := statusNames[st]
	return name, ok
}

// ParseStatus reads a command_status written as an SMPP name
// ("ESME_RTHROTTLED"), in hexadecimal ("0x58") or in decimal ("88").
func ParseStatus(s string) (Status, bool) {
	s = strings.TrimSpace(s)
	if st, ok := statusByName[strings.ToUpper(s)]; ok {
		return st, true
	}
	n, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		return 0, false
	}
	return Status(n), true
}

// StatusText renders a command_status as every log line writes it: eight
// hex digits and its SMPP name, "0x00000058 (ESME_RTHROTTLED)"; a status
// SMPP 3.4 does not name is "(unknown)", as a vendor's 0x00000400.
func StatusText(st Status) string {
	name, ok := statusNames[st]
	if !ok {
		name = "unknown"
	}
	return fmt.Sprintf("0x%08x (%s)", uint32(st), name)
}

// LogStatus is a command_status in a log field: zap.Stringer("status",
// pdu.LogStatus(st)) writes it as StatusText does.
type LogStatus Status

// String returns StatusText of s.
func (s LogStatus) String() string { return StatusText(Status(s)) }
