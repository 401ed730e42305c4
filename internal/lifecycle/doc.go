// Package lifecycle owns the goroutines and timers of smppmux's long-lived
// parts: a Tracker starts them (Go, AfterFunc), counts them for the status
// API, recovers a panic in any of them (logged with its stack, the process
// goes on), refuses new ones once Stop began, and Stop waits for those
// running.
//
// Goroutines: none of its own. Go runs fn in a goroutine the Tracker
// waits for; AfterFunc runs fn on the runtime's timer goroutine, counted
// from the moment it fires until fn returns.
//
// LOCKING: Tracker.mu guards the stopping flag, the pending timers and
// the counts; fn is never called with it held.
package lifecycle
