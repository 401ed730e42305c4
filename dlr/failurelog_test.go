package dlr

import (
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/smppmux/smppmux/internal/pdu"
)

// TestFailureLogOneLinePerClientPerInterval: the first failure of a client
// is written at once; those within the interval after it are counted and
// written, by status, with the next line due; each client has its own
// interval.
func TestFailureLogOneLinePerClientPerInterval(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.InfoLevel)
	log := zap.New(core)
	clock := time.Unix(1_700_000_000, 0)
	l := &failureLog{now: func() time.Time { return clock }, every: 10 * time.Second}
	fail := func(client string, seq uint64, st pdu.Status, err error) {
		l.failed(log, client, &Item{Seq: seq, Attempts: 2}, st, err)
	}
	fail("shop", 1, pdu.StatusXTAppn, nil)
	for i := range 50 {
		clock = clock.Add(100 * time.Millisecond)
		fail("shop", uint64(2+i), pdu.StatusXTAppn, nil)
		fail("bank", uint64(100+i), pdu.StatusXTAppn, nil)
	}
	fail("shop", 60, 0, errors.New("no deliver_sm_resp within the response timeout"))
	fail("shop", 61, pdu.StatusSysErr, nil)
	if n := logs.Len(); n != 2 {
		t.Fatalf("%d lines for 53 failures of shop and 50 of bank within 5 s, want 2 (the first of each)", n)
	}
	clock = clock.Add(10 * time.Second)
	fail("shop", 62, pdu.StatusXTAppn, nil)
	lines := logs.TakeAll()
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3", len(lines))
	}
	first, last := lines[0].ContextMap(), lines[2].ContextMap()
	if first["system_id"] != "shop" || first["refused"] != int64(1) || first["statuses"] != "0x00000064 (ESME_RX_T_APPN): 1" {
		t.Errorf("first line %v", first)
	}
	if lines[1].ContextMap()["system_id"] != "bank" {
		t.Errorf("second line %v, want bank's first", lines[1].ContextMap())
	}
	want := map[string]any{
		"system_id": "shop", "refused": int64(52), "unanswered": int64(1),
		"statuses":   "0x00000008 (ESME_RSYSERR): 1, 0x00000064 (ESME_RX_T_APPN): 51",
		"last_error": "no deliver_sm_resp within the response timeout",
		"last_seq":   uint64(62), "last_attempts": int64(2),
	}
	for k, v := range want {
		if last[k] != v {
			t.Errorf("%s = %v (%T), want %v", k, last[k], last[k], v)
		}
	}
	if lines[2].Message != "delivery to client failed, will retry" {
		t.Errorf("message %q", lines[2].Message)
	}
}
