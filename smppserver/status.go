package smppserver

import (
	"fmt"

	"github.com/smppmux/smppmux/internal/pdu"
)

// statusName renders a command_status for logs as "0x0000000e (invalid
// password)".
type statusName pdu.Status

func (s statusName) String() string {
	return fmt.Sprintf("0x%08x (%s)", uint32(s), pdu.Status(s).Error())
}
