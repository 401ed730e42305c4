package relay

import (
	"strconv"

	"github.com/smppmux/smppmux/internal/pdu"
)

// stickyKey names a concatenated message: one client, one destination,
// one reference (pdu.ConcatRef). "" when the message is not concatenated.
func stickyKey(systemID string, sm *pdu.SM) string {
	ref, ok := pdu.ConcatRef(sm.ESMClass, sm.ShortMessage, sm.TLVs)
	if !ok {
		return ""
	}
	b := make([]byte, 0, len(systemID)+len(sm.DestAddr)+8)
	b = append(b, systemID...)
	b = append(b, 0)
	b = append(b, sm.DestAddr...)
	b = append(b, 0)
	b = strconv.AppendUint(b, uint64(ref), 10)
	return string(b)
}
