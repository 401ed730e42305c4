// Package dlr keeps what smppmux needs to bring delivery receipts home:
// the message ids it issues to clients, the map from an upstream's message
// id to the client and id it belongs to, the parsing and rewriting of
// receipts, receipts that arrive before their submit_sm_resp, and the
// per-client outbox that holds receipts until a receiving session takes
// them, and the dead letters: what a client refused for good, kept until
// an operator purges it or puts it back.
//
// Upstream ids are kept as the SMSC wrote them. Find looks a receipt's id
// up as written, then, only when the upstream's ReceiptIDForm allows folding
// (FoldID: case, leading zeros) and only one message's id folds alike,
// takes that one; several make the receipt Ambiguous.
//
// The Store interface keeps mappings, outbox items and dead letters
// (DeadLetterStore); PebbleStore is the
// durable implementation (synced, group-committed writes), RedisStore the
// one several instances share (a SharedStore: outboxes are Redis streams
// delivered by the instance holding the client's lease), MemStore the one
// for tests. Writes are asynchronous: their callback runs once the
// data is durable, so no connection reader waits for a disk. A shared
// outbox delivers each item once through outages of Redis
// (outbox_shared.go), and a receipt whose write had no answer is added
// once (redis_limbo.go).
//
// Goroutines: an Outbox runs one dispatcher goroutine per client system_id
// that has had something queued, ended by Close; a PebbleStore runs one
// committer, one sweeper of expired mappings and one keeper that watches
// its disk and opens its database again after a fault (pebblekeep.go),
// a RedisStore one writer,
// one keeper of its instance number and one event watcher, all ended by
// Close. A Parking's receipts share one timer; with a shared store a
// parked receipt also looks for its mapping again on a timer of its own.
package dlr
