package smppconn

import (
	"errors"
	"os"
	"syscall"
)

// sysPoller is an epoll instance, itself waited for through Go's poller:
// its goroutine sleeps in syscall.RawConn.Read on the epoll descriptor and
// collects the ready connections with epoll_wait without blocking.
// Connections are registered one-shot: an event disarms the registration
// until the connection parks again.
type sysPoller struct {
	ep     *os.File // nil until started
	fd     int      // ep's descriptor (ep.Fd would make it blocking)
	rc     syscall.RawConn
	events [64]syscall.EpollEvent // the goroutine's
}

func (s *sysPoller) started() bool { return s.ep != nil }

// start makes the epoll instance and starts the goroutine. Called with
// p.mu held.
func (s *sysPoller) start(p *Poller) error {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("epoll_create1", err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return os.NewSyscallError("setnonblock", err)
	}
	ep := os.NewFile(uintptr(fd), "epoll")
	rc, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		return err
	}
	s.ep, s.fd, s.rc = ep, fd, rc
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ready := func(fd uintptr) bool { return s.collect(p, fd) }
		for s.rc.Read(ready) == nil {
		}
	}()
	return nil
}

// collect wakes the connections epoll reports ready. It reports false when
// it took every one, so that the goroutine waits for the epoll descriptor
// to be readable (a connection turning ready afterwards makes it so), and
// true when there may be more, to be called again.
func (s *sysPoller) collect(p *Poller, fd uintptr) bool {
	n, err := syscall.EpollWait(int(fd), s.events[:], 0)
	if err == syscall.EINTR {
		return true
	}
	for _, ev := range s.events[:max(n, 0)] {
		p.wake(uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32)
	}
	return n == len(s.events)
}

// watch arms c's socket, one-shot, for registration id.
func (s *sysPoller) watch(c *Conn, id uint64) error {
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     int32(uint32(id)),
		Pad:    int32(uint32(id >> 32)),
	}
	var err error
	cerr := c.raw.Control(func(fd uintptr) {
		op := syscall.EPOLL_CTL_ADD
		if c.polled.Load() {
			op = syscall.EPOLL_CTL_MOD
		}
		err = syscall.EpollCtl(s.epfd(), op, int(fd), &ev)
		switch {
		case errors.Is(err, syscall.EEXIST):
			err = syscall.EpollCtl(s.epfd(), syscall.EPOLL_CTL_MOD, int(fd), &ev)
		case errors.Is(err, syscall.ENOENT):
			err = syscall.EpollCtl(s.epfd(), syscall.EPOLL_CTL_ADD, int(fd), &ev)
		}
		if err == nil {
			c.polled.Store(true)
		}
	})
	if cerr != nil {
		return cerr
	}
	return err
}

func (s *sysPoller) epfd() int { return s.fd }

// stop closes the epoll instance, which ends the goroutine. Called once,
// after p.closed was set.
func (s *sysPoller) stop() error {
	if s.ep == nil {
		return nil
	}
	return s.ep.Close()
}
