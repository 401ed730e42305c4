//go:build !linux

package smppconn

import "errors"

// sysPoller is missing on this system: Poller registers nothing, and each
// idle connection waits on a goroutine of its own.
type sysPoller struct{}

func (s *sysPoller) started() bool { return false }

func (s *sysPoller) start(*Poller) error {
	return errors.New("smppconn: no epoll on this system")
}

func (s *sysPoller) watch(*Conn, uint64) error { return errors.ErrUnsupported }

func (s *sysPoller) stop() error { return nil }
