//go:build !unix

package smppconn

// canPeek says readable works on this system: without it, a connection
// keeps one reader goroutine and sets no read deadline.
const canPeek = false

func readable(uintptr) bool { return true }
