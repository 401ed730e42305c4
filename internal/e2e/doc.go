// Package e2e holds tests that run the smppmux binary as operators do, in
// a process of its own, and kill it: what survives a SIGKILL is what the
// durable store promised. It has no code outside its tests.
package e2e
