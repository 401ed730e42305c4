package smppconn

import (
	"testing"
	"time"

	"github.com/smppmux/smppmux/internal/pdu"
)

func TestKeepalive(t *testing.T) {
	t.Parallel()
	// The response timeout leaves room for a test goroutine held up on a
	// busy machine: an answer 100 ms late closed the connection.
	fx := newFixture(t, Config{EnquireLinkInterval: 30 * time.Millisecond, ResponseTimeout: time.Second}, nil)
	var last uint32
	for range 3 {
		f := fx.read(t)
		expectHeader(t, f, pdu.EnquireLink, pdu.StatusOK, f.Seq)
		if f.Seq <= last {
			t.Fatalf("enquire_link seq %d after %d", f.Seq, last)
		}
		last = f.Seq
		fx.send(t, pdu.Empty(pdu.EnquireLinkResp, pdu.StatusOK, f.Seq))
	}
	// Unanswered, the next one closes the connection.
	expectHeader(t, fx.read(t), pdu.EnquireLink, pdu.StatusOK, last+1)
	sent := time.Now()
	fx.expectEOF(t)
	fx.expectClose(t, ReasonDeadPeer)
	if d := time.Since(sent); d < 500*time.Millisecond {
		t.Fatalf("closed %v after the enquire_link, before its response timeout", d)
	}
	none(t, fx.unmatched, "unmatched response")
}

func TestInactivity(t *testing.T) {
	t.Parallel()
	start := time.Now()
	fx := newFixture(t, Config{InactivityTimeout: 100 * time.Millisecond}, nil)
	fx.expectEOF(t)
	fx.expectClose(t, ReasonDeadPeer)
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("closed after %v", d)
	}
}

func TestNoKeepalive(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, Config{}, nil)
	if fx.c.keepaliveDelay(0) != 0 {
		t.Fatal("keepalive on without interval or timeout")
	}
	fx.send(t, pdu.Empty(pdu.EnquireLink, pdu.StatusOK, 1))
	recv(t, fx.handled, "request")
}

func TestKeepaliveDelay(t *testing.T) {
	t.Parallel()
	cases := []struct {
		iv, it, idle, want time.Duration
	}{
		{0, 0, 0, 0},
		{30 * time.Second, 0, 0, 30 * time.Second},
		{30 * time.Second, 0, 10 * time.Second, 20 * time.Second},
		{30 * time.Second, 0, 35 * time.Second, 25 * time.Second},
		{0, 90 * time.Second, 0, 90 * time.Second},
		{0, 90 * time.Second, 80 * time.Second, 10 * time.Second},
		{30 * time.Second, 90 * time.Second, 0, 30 * time.Second},
		{30 * time.Second, 40 * time.Second, 35 * time.Second, 5 * time.Second},
		{30 * time.Second, 90 * time.Second, 89999 * time.Millisecond, 10 * time.Millisecond},
	}
	for _, tc := range cases {
		c := &Conn{cfg: Config{EnquireLinkInterval: tc.iv, InactivityTimeout: tc.it}}
		if got := c.keepaliveDelay(tc.idle); got != tc.want {
			t.Errorf("interval %v timeout %v idle %v: delay %v, want %v", tc.iv, tc.it, tc.idle, got, tc.want)
		}
	}
}
