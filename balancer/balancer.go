package balancer

import (
	"context"
	"errors"

	"github.com/smppmux/smppmux/internal/pdu"
)

// Errors a submit ends with when no member gave an answer.
var (
	// ErrNoMember means no member could take the message within the
	// queue timeout or the submit's deadline: it was never sent.
	ErrNoMember = errors.New("balancer: no member can take the message")
	// ErrStopped means the group was stopped before the message was sent.
	ErrStopped = errors.New("balancer: group stopped")
)

// Member is one way out of a group: an upstream.
type Member interface {
	Name() string
	// Healthy reports whether the member can send now (it has a bound
	// transmitter).
	Healthy() bool
	// Submit sends raw and calls done once with the response, or returns
	// an error when raw was not sent. It waits for a window slot until ctx
	// is done. raw's sequence number is overwritten.
	Submit(ctx context.Context, raw []byte, done func(pdu.Frame, error)) error
}

// Mode is a group's policy.
type Mode string

// Group modes.
const (
	// ActiveActive spreads messages by weight (smooth weighted round
	// robin).
	ActiveActive Mode = "active-active"
	// ActiveStandby sends everything to the first available member in
	// configuration order.
	ActiveStandby Mode = "active-standby"
	// Adaptive is ActiveActive with weights scaled by each member's
	// measured success ratio, latency and delivered-receipt ratio.
	Adaptive Mode = "adaptive"
)

// Weighted is a member and its weight; weight 0 drains it.
type Weighted struct {
	Member Member
	Weight int
}

// expired is a context that is already done: Submit with it never waits.
var expired = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()
