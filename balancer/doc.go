// Package balancer spreads a connection group's traffic over its members.
//
// It knows members only through the Member interface. A policy only orders
// the healthy members of a group for one message: smooth weighted round
// robin for active-active groups, configuration order for active-standby.
// Group.Submit tries the members in that order without waiting, then waits
// for a window slot on the first of them.
//
// The package starts no goroutines. LOCKING: Group.mu guards the weighted
// round robin state only; member calls are made without it.
package balancer
