// Package memstore is dlr's store in memory (a dlr.Store): mappings,
// marks, waiting receipts and dead letters in sharded maps, nothing kept
// across a restart. An Outbox given it keeps its items in the process. It
// passes storetest as pebblestore and redisstore do, and serves tests and
// benchmarks that need a store without a disk.
//
// Expired mappings are dropped a few at a time as new ones are written,
// so no sweep ever blocks the hot path, and the store runs no goroutine.
package memstore
