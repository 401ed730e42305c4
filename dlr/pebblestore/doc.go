// Package pebblestore is dlr's durable store: mappings, marks, waiting
// receipts, outbox items and dead letters in an embedded Pebble database
// (a dlr.Store), written in synced, group-committed batches.
//
// Goroutines: a Store runs one committer and one completer, which waits
// for each batch's sync while the committer applies the next (commit.go),
// one sweeper of expired mappings and marks (sweep.go) and one keeper that
// watches its disk and opens the database again after a fault (keep.go),
// all ended by Close.
package pebblestore
