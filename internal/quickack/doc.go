// Package quickack keeps a TCP connection from holding back its
// acknowledgements of what it reads.
//
// Linux delays the ACK of data it receives (40 ms and more) when the
// connection looks interactive, hoping to carry it on the reply. A peer
// with Nagle's algorithm on does not send a small segment while an earlier
// small one is unacknowledged, so the two meet: a legacy ESME that writes
// a PDU's header and its body in two writes, or answers a deliver_sm while
// its last submit_sm is unacknowledged, waits out the delayed ACK on every
// message. [Reader] re-arms TCP_QUICKACK each time its read finds nothing
// to read and is about to wait for the peer, which also sends at once an
// ACK the kernel was holding: the peer's next segment goes without
// waiting, whatever the reply's timing. The reader has read and handed on
// everything the peer sent by then, a few microseconds after it arrived.
// It costs one setsockopt per wait: a busy connection, whose reads find
// data waiting, costs none for most reads. Over TLS, whose records are
// read through buffers of their own, the socket is re-armed after every
// read that returned data.
//
// On other systems, and on connections that are not TCP, Reader returns
// the connection itself. The package starts no goroutine.
package quickack
