package balancer

// Why a submit leaves a member for the next, as GroupConfig.OnFailover
// reports it: a fixed set, so metrics label it.
const (
	// FailoverNotSent: queued on a connection that closed before writing
	// it.
	FailoverNotSent = "not_sent"
	// FailoverUnknownOutcome: written, then a timeout or a lost
	// connection, in a group with ResubmitUnknown.
	FailoverUnknownOutcome = "unknown_outcome"
	// FailoverThrottled: the SMSC answered ESME_RTHROTTLED or
	// ESME_RMSGQFUL.
	FailoverThrottled = "throttled"
	// FailoverStatus: the SMSC answered a status of RetryOn.
	FailoverStatus = "status"
)

// FailoverReasons returns every reason OnFailover may report.
func FailoverReasons() []string {
	return []string{FailoverNotSent, FailoverUnknownOutcome, FailoverThrottled, FailoverStatus}
}
