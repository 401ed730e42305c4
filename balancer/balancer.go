package balancer

import (
	"context"
	"errors"
	"sync"

	"github.com/smppmux/smppmux/internal/pdu"
)

// ErrNoMember means no member of the group could take the message.
var ErrNoMember = errors.New("balancer: no member can take the message")

// Member is one way out of a group: an upstream.
type Member interface {
	Name() string
	// Healthy reports whether the member can send now.
	Healthy() bool
	// Submit sends raw and calls done once with the response, or returns
	// an error when raw was not sent. It waits for a window slot until ctx
	// is done.
	Submit(ctx context.Context, raw []byte, done func(pdu.Frame, error)) error
}

// Mode is a group's policy.
type Mode string

// Group modes.
const (
	ActiveActive  Mode = "active-active"
	ActiveStandby Mode = "active-standby"
)

// Weighted is a member and its weight; weight 0 drains it.
type Weighted struct {
	Member Member
	Weight int
}

// Group is a connection group.
type Group struct {
	name    string
	mode    Mode
	members []Weighted

	mu      sync.Mutex
	current []int // smooth weighted round robin state, by member index
}

// NewGroup returns a group of members under mode.
func NewGroup(name string, mode Mode, members []Weighted) *Group {
	return &Group{name: name, mode: mode, members: members, current: make([]int, len(members))}
}

// Name returns the group's name.
func (g *Group) Name() string { return g.name }

// Members returns the group's members and weights.
func (g *Group) Members() []Weighted { return g.members }

// Order appends to dst the indexes of the members to try for one message,
// best first: healthy members with a weight above zero.
func (g *Group) Order(dst []int) []int {
	switch g.mode {
	case ActiveStandby:
		for i, m := range g.members {
			if m.Weight > 0 && m.Member.Healthy() {
				dst = append(dst, i)
			}
		}
		return dst
	default:
		return g.smoothWeighted(dst)
	}
}

// smoothWeighted picks one member by smooth weighted round robin (as in
// nginx: every healthy member gains its weight, the richest is chosen and
// pays the total) and puts the others after it in configuration order.
func (g *Group) smoothWeighted(dst []int) []int {
	start := len(dst)
	g.mu.Lock()
	total, best := 0, -1
	for i, m := range g.members {
		if m.Weight <= 0 || !m.Member.Healthy() {
			continue
		}
		g.current[i] += m.Weight
		total += m.Weight
		if best < 0 || g.current[i] > g.current[best] {
			best = i
		}
		dst = append(dst, i)
	}
	if best >= 0 {
		g.current[best] -= total
	}
	g.mu.Unlock()
	if best < 0 {
		return dst
	}
	// Move best to the front, keeping the others in order.
	for j := start; j < len(dst); j++ {
		if dst[j] == best {
			copy(dst[start+1:j+1], dst[start:j])
			dst[start] = best
			break
		}
	}
	return dst
}

// Submit sends raw through the first member of the order that has room
// now, or else waits for room on the first one until ctx is done. done is
// called once with the member that took raw and its response; an error
// return means raw was not sent.
func (g *Group) Submit(ctx context.Context, raw []byte, done func(m Member, f pdu.Frame, err error)) error {
	var buf [8]int
	order := g.Order(buf[:0])
	if len(order) == 0 {
		return ErrNoMember
	}
	for _, i := range order {
		m := g.members[i].Member
		if m.Submit(expired, raw, func(f pdu.Frame, err error) { done(m, f, err) }) == nil {
			return nil
		}
	}
	m := g.members[order[0]].Member
	if err := m.Submit(ctx, raw, func(f pdu.Frame, err error) { done(m, f, err) }); err != nil {
		return errors.Join(ErrNoMember, err)
	}
	return nil
}

// expired is a context that is already done: Submit with it never waits.
var expired = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()
