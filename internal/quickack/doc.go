// Package quickack keeps a TCP connection from holding back its
// acknowledgements of what it reads.
//
// Linux delays the ACK of data it receives (40 ms and more) when the
// connection looks interactive, hoping to carry it on the reply. A peer
// with Nagle's algorithm on does not send a small segment while an earlier
// small one is unacknowledged, so the two meet: a legacy ESME that writes
// a PDU's header and its body in two writes, or answers a deliver_sm while
// its last submit_sm is unacknowledged, waits out the delayed ACK on every
// message. [Reader] re-arms TCP_QUICKACK after every read that returned
// data, which also sends at once an ACK the kernel was holding: the peer's
// next segment goes without waiting, whatever the reply's timing. It costs
// one setsockopt per read; a busy connection reads several PDUs at once.
//
// On other systems, and on connections that are not TCP, Reader returns
// the connection itself. The package starts no goroutine.
package quickack
