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
