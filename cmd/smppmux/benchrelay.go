package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
)

const benchRelayUsage = `usage: smppmux bench-relay -listen ADDR -to ADDR

Relays every TCP connection accepted on -listen to -to, octets copied
both ways and nothing parsed, until SIGINT or SIGTERM: what a Go process
spends relaying the bench's traffic without smppmux's work, the floor
make bench prints beside smppmux's figures. Not for production.

flags:
`

// benchRelay runs a plain TCP relay until ctx is done: for each
// connection accepted, a connection to the target and io.Copy both ways.
func benchRelay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("smppmux bench-relay", benchRelayUsage)
	listen := fs.String("listen", "127.0.0.1:2777", "address to listen on")
	to := fs.String("to", "127.0.0.1:2776", "address to relay each connection to")
	if err := parseArgs(fs, args, 0, stdout, stderr); err != nil {
		return err
	}
	l, err := listenTCP(*listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "plain TCP relay listening on %s, relaying to %s\n", l.Addr(), *to)
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() { _ = l.Close() })
	defer stop()
	for {
		in, err := l.Accept()
		if err != nil {
			wg.Wait()
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			relayConn(ctx, in, *to, stderr)
		}()
	}
}

// relayConn copies in to a new connection to addr and back until either
// side closes or ctx is done.
func relayConn(ctx context.Context, in net.Conn, addr string, stderr io.Writer) {
	defer in.Close()
	var d net.Dialer
	out, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "bench-relay: %v\n", err)
		return
	}
	defer out.Close()
	stop := context.AfterFunc(ctx, func() { _ = in.Close(); _ = out.Close() })
	defer stop()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(out, in)
		_ = out.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	_, _ = io.Copy(in, out)
	_ = in.(*net.TCPConn).CloseWrite()
	<-done
}
