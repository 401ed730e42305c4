package dlr

import (
	"bytes"

	"github.com/smppmux/smppmux/internal/pdu"
)

// Outcome says what a receipt reports: whether the message reached a final
// state, and whether that state is delivered. It reads the message_state
// TLV first, the text's "stat:" second.
func Outcome(sm *pdu.SM) (final, delivered bool) {
	if v, ok := pdu.FindTLV(sm.TLVs, pdu.TagMessageState); ok && len(v) == 1 {
		switch v[0] {
		case 2: // DELIVERED
			return true, true
		case 3, 4, 5, 7, 8: // EXPIRED, DELETED, UNDELIVERABLE, UNKNOWN, REJECTED
			return true, false
		}
		return false, false
	}
	text := sm.Text()
	i := bytes.Index(text, []byte("stat:"))
	if i < 0 {
		return false, false
	}
	stat := text[i+5:]
	if j := bytes.IndexByte(stat, ' '); j >= 0 {
		stat = stat[:j]
	}
	switch string(bytes.ToUpper(stat)) {
	case "DELIVRD":
		return true, true
	case "EXPIRED", "DELETED", "UNDELIV", "UNKNOWN", "REJECTD":
		return true, false
	}
	return false, false
}
