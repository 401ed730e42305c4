// Package forward drains a group's store-and-forward queue: the messages
// a client was answered ESME_ROK for once they were stored (see
// dlr.QueueStore) are taken from the store as the group's members have
// room, sent through the group (its policy, pacing and failover), and
// their outcome handed to the caller, which writes the message's mapping
// or makes the client's receipt before the message leaves the queue.
//
// A message is never sent twice: it is marked taken in the store before
// it is sent; one the group could not send (no member, throttled) is put
// back in its place and tried again after a backoff; one whose outcome is
// unknown (no answer, lost bind, or taken by a process that ended) is not
// sent again.
//
// Goroutines: a Drainer runs one, Run, owned by its caller and ended by
// its context; the group's callbacks run on the members' goroutines.
package forward
