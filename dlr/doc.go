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
// A backend keeps mappings (MappingStore) and outboxes (OutboxStore, with
// their dead letters) as one Store, and passes the conformance suite of
// storetest: pebblestore is the durable one (synced, group-committed
// writes), redisstore the one several instances share (a SharedStore:
// outboxes are Redis streams delivered by the instance holding the
// client's lease), memstore the one in memory; an Outbox is given one.
// Writes are asynchronous: their callback runs once the data is durable,
// so no connection reader waits for a disk. The Outbox keeps a client's
// items in the process (outbox_local.go) or, with a SharedStore, in the
// store (outbox_shared.go), through one strategy; a shared outbox
// delivers each item once through outages of the store.
//
// Goroutines: an Outbox runs one dispatcher goroutine per client
// system_id that has had something queued, ended by Close (the stores'
// goroutines are in their packages' doc). A Parking's receipts share one
// timer; with a shared store a parked receipt also looks for its mapping
// again on a timer of its own.
package dlr
