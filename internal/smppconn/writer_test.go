package smppconn

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
)

func TestSlowConsumer(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{QueueLen: 1, WriteTimeout: waitLimit}, nil)
	big := pdu.Request(pdu.GenericNack, 0, make([]byte, pdu.DefaultMaxLen-pdu.HeaderLen))
	var err error
	for i := 0; i < 1<<20 && err == nil; i++ {
		err = fx.c.Send(big)
	}
	if !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("Send to a peer that does not read: %v, want ErrSlowConsumer", err)
	}
	ev := fx.expectClose(t, ReasonSlowPending)
	if !errors.Is(ev.err, ErrSlowConsumer) {
		t.Fatalf("close error %v", ev.err)
	}
	fx.c.Wait()
}

func TestWriteTimeout(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{WriteTimeout: 100 * time.Millisecond, QueueLen: 1 << 12}, nil)
	big := pdu.Request(pdu.GenericNack, 0, make([]byte, pdu.DefaultMaxLen-pdu.HeaderLen))
	// 64 MiB is more than the socket buffers hold and less than the queue:
	// the writer misses its deadline before the queue overflows.
	for range 1 << 10 {
		if err := fx.c.Send(big); errors.Is(err, ErrClosed) {
			break // the deadline already passed
		} else if err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	ev := fx.expectClose(t, ReasonSlowDeadline)
	if !errors.Is(ev.err, os.ErrDeadlineExceeded) {
		t.Fatalf("close error %v, want a write deadline", ev.err)
	}
}

// TestWriterOnDemand: the writer ends once it has written what was
// queued, so an idle connection has none, and the next PDU queued starts
// another; order holds across writers.
func TestWriterOnDemand(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{QueueLen: 4096}, nil)
	for i := range 3 {
		if err := fx.c.Send(pdu.Empty(pdu.EnquireLinkResp, pdu.StatusOK, uint32(i+1))); err != nil {
			t.Fatal(err)
		}
		expectHeader(t, fx.read(t), pdu.EnquireLinkResp, pdu.StatusOK, uint32(i+1))
		stopped := make(chan struct{})
		go func() {
			fx.c.writers.Wait()
			close(stopped)
		}()
		recv(t, stopped, "the writer to end with nothing queued")
	}
	// Many PDUs queued from many goroutines at once all arrive, each
	// goroutine's in order.
	const senders, each = 8, 200
	for g := range senders {
		go func() {
			for i := range each {
				_ = fx.c.Send(pdu.Empty(pdu.EnquireLinkResp, pdu.StatusOK, uint32(g<<16|i)))
			}
		}()
	}
	next := make([]int, senders)
	for range senders * each {
		f := fx.read(t)
		g, i := int(f.Seq>>16), int(f.Seq&0xFFFF)
		if i != next[g] {
			t.Fatalf("sender %d: PDU %d arrived, want %d", g, i, next[g])
		}
		next[g]++
	}
}
