package smppserver

import "github.com/smppmux/smppmux/internal/pdu"

// BindRefusal says why a bind was refused. The zero value, BindAccepted,
// refuses nothing. Its name goes to the "bind refused" log line and to
// Server.OnBindFailed, so logs and metrics give the same reason.
type BindRefusal uint8

// Why a bind is refused.
const (
	BindAccepted           BindRefusal = iota
	RefusedWrongPassword               // the password does not match: ESME_RINVPASWD
	RefusedUnknownSystemID             // no such client: ESME_RINVSYSID
	RefusedAllowList                   // the source address is outside the client's allow-list: ESME_RBINDFAIL
	RefusedMaxBinds                    // the system_id holds its max binds already: ESME_RBINDFAIL
	RefusedThrottled                   // too many refused binds from the address lately: ESME_RBINDFAIL
	RefusedMalformed                   // the bind body could not be read: the field's status
	RefusedShuttingDown                // the server is shutting down: ESME_RBINDFAIL
	RefusedSuspended                   // an operator suspended the client: ESME_RBINDFAIL
)

var refusalNames = [...]string{
	BindAccepted:           "accepted",
	RefusedWrongPassword:   "wrong_password",
	RefusedUnknownSystemID: "unknown_system_id",
	RefusedAllowList:       "allow_list",
	RefusedMaxBinds:        "max_binds",
	RefusedThrottled:       "throttled",
	RefusedMalformed:       "malformed",
	RefusedShuttingDown:    "shutting_down",
	RefusedSuspended:       "suspended",
}

// String returns the refusal's name, as in logs and metric labels.
func (r BindRefusal) String() string {
	if int(r) < len(refusalNames) {
		return refusalNames[r]
	}
	return "unknown"
}

// Status returns the command_status a bind refused for r gets;
// pdu.StatusOK for BindAccepted. A malformed bind gets the status of the
// field that failed, which the session knows; ESME_RBINDFAIL here.
func (r BindRefusal) Status() pdu.Status {
	switch r {
	case BindAccepted:
		return pdu.StatusOK
	case RefusedWrongPassword:
		return pdu.StatusInvPaswd
	case RefusedUnknownSystemID:
		return pdu.StatusInvSysID
	default:
		return pdu.StatusBindFail
	}
}

// Refusals returns every reason a bind may be refused for.
func Refusals() []BindRefusal {
	rs := make([]BindRefusal, 0, len(refusalNames)-1)
	for r := BindAccepted + 1; int(r) < len(refusalNames); r++ {
		rs = append(rs, r)
	}
	return rs
}
