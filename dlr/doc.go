// Package dlr keeps what smppmux needs to bring delivery receipts home:
// the message ids it issues to clients, the map from an upstream's message
// id to the client and id it belongs to, the parsing and rewriting of
// receipts, receipts that arrive before their submit_sm_resp, and the
// per-client outbox that holds receipts until a receiving session takes
// them.
//
// This version keeps the id map and the outboxes in memory behind the
// Store and Outbox types; a restart loses them.
//
// Goroutines: an Outbox runs one dispatcher goroutine per client system_id
// that has had something queued, ended by Close. Parked receipts expire on
// time.AfterFunc timers.
package dlr
