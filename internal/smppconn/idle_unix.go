//go:build unix

package smppconn

import "syscall"

// canPeek says readable works on this system.
const canPeek = true

// readable is the function syscall.RawConn.Read calls to learn whether the
// socket fd has something to read: it peeks at one octet, which stays in
// the socket. Any answer but "nothing yet" (data, end of stream, an error)
// makes the read that follows worth doing.
func readable(fd uintptr) bool {
	var b [1]byte
	for {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
		if err != syscall.EINTR {
			return err != syscall.EAGAIN
		}
	}
}
