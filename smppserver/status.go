package smppserver

import (
	"github.com/smppmux/smppmux/internal/pdu"
)

// statusName renders a command_status for logs as every log line does:
// "0x0000000e (ESME_RINVPASWD)".
type statusName pdu.Status

func (s statusName) String() string { return pdu.StatusText(pdu.Status(s)) }
