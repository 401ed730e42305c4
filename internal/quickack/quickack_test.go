package quickack

import (
	"errors"
	"net"
	"testing"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(tb testing.TB) (client, server net.Conn) {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := l.Accept()
		ch <- accepted{c, err}
	}()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	a := <-ch
	if a.err != nil {
		tb.Fatal(a.err)
	}
	tb.Cleanup(func() {
		client.Close()
		a.c.Close()
	})
	return client, a.c
}

// BenchmarkRead is one read of a byte with and without re-arming
// TCP_QUICKACK after it: what the option adds per read.
func BenchmarkRead(b *testing.B) {
	for _, bc := range []struct {
		name string
		wrap func(net.Conn) interface{ Read([]byte) (int, error) }
	}{
		{"plain", func(c net.Conn) interface{ Read([]byte) (int, error) } { return c }},
		{"quickack", func(c net.Conn) interface{ Read([]byte) (int, error) } { return Reader(c) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c, s := tcpPair(b)
			r := bc.wrap(s)
			p := make([]byte, 1)
			w := []byte{1}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(w); err != nil {
					b.Fatal(err)
				}
				if _, err := r.Read(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestNotTCP(t *testing.T) {
	t.Parallel()
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	if r := Reader(s); r != s {
		t.Fatalf("Reader of a pipe is %T, want the pipe itself", r)
	}
	if _, err := Armed(s); !errors.Is(err, ErrNotTCP) && !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Armed: %v", err)
	}
}
