package quickack

import "errors"

// Errors returned by Armed.
var (
	// ErrNotTCP means the connection has no TCP socket under it.
	ErrNotTCP = errors.New("quickack: not a TCP connection")
	// ErrUnsupported means the system has no TCP_QUICKACK.
	ErrUnsupported = errors.New("quickack: TCP_QUICKACK is Linux only")
)
