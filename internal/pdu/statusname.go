package pdu

import (
	"fmt"
	"strconv"
	"strings"
)

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
