package dlr

// LeaseGrant says how SharedStore.Lease found a client's delivery lease.
// Whether this instance may go on from what it read before depends on who
// held the lease in between: only its own unbroken holding keeps what it
// read valid, since another holder may have delivered and removed those
// items meanwhile.
type LeaseGrant int

const (
	// LeaseOther: another instance holds the lease; it was not taken.
	LeaseOther LeaseGrant = iota
	// LeaseKept: this instance holds it and no other instance held it
	// since it last did, even if it lapsed in between (Redis unreachable):
	// what this instance read under it is still its own to deliver.
	LeaseKept
	// LeaseFree: taken; no instance held it, or the last holder released
	// it, every item it delivered removed before.
	LeaseFree
	// LeaseLapsed: taken from another instance that let it lapse without
	// releasing it: that instance may have delivered items it could not
	// remove yet, and may still be trying to.
	LeaseLapsed
)

// Ours reports whether the lease is this instance's now.
func (g LeaseGrant) Ours() bool { return g != LeaseOther }

func (g LeaseGrant) String() string {
	switch g {
	case LeaseOther:
		return "held by another instance"
	case LeaseKept:
		return "kept"
	case LeaseFree:
		return "free"
	case LeaseLapsed:
		return "lapsed"
	}
	return "unknown"
}
