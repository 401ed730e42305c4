//go:build !linux

package quickack

import (
	"io"
	"net"
)

// Reader returns nc: only Linux has TCP_QUICKACK.
func Reader(nc net.Conn) io.Reader { return nc }

// Armed reports ErrUnsupported: only Linux has TCP_QUICKACK.
func Armed(net.Conn) (bool, error) { return false, ErrUnsupported }
