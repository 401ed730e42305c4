// Package balancer spreads a connection group's traffic over its members.
//
// It knows members only through the Member interface. A policy only orders
// the available members of a group for one message: smooth weighted round
// robin for active-active groups, configuration order for active-standby,
// weights scaled by measured quality for adaptive. A member is available
// when it is healthy (bound) and its circuit breaker lets traffic through;
// a recovered member ramps back to its weight. Group.Submit tries the
// members in that order without waiting, fails over on the statuses that
// prove a message was not taken, and hands a message that finds no room to
// the group's queue.
//
// Goroutines: each Group runs one waiter goroutine, started with its first
// queued message and ended by Stop, which serves the queue in order; member
// callbacks run on the members' goroutines. LOCKING: Group.mu guards the
// round robin state and the sticky map, Group.waitMu the queue's start and
// stop, each breaker its own mutex; member calls are made without any of
// them.
package balancer
