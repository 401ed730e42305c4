// Package clients holds what smppmux knows of its clients (the ESMEs that
// bind to it) for one configuration: a Table of their settings, the
// networks they may bind from, their limits on submits (Limits: allowed
// sources, a TPS cap, a per-destination limit) and the format of their
// message ids; and Auth, which checks binds against the Table in force.
//
// A Table is built whole from a configuration and never changed: a reload
// builds another, which keeps the Limits (and their state) of the clients
// the reload leaves as they were, and forgets every remembered password.
//
// The package starts no goroutines; Auth runs on the sessions' goroutines
// that call it, and a bind waiting for another's bcrypt check of the same
// password blocks on it.
package clients
