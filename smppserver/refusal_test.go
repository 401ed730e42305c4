package smppserver_test

import (
	"context"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/smppserver"
)

// refusal is one call of Server.OnBindFailed.
type refusal struct {
	systemID string
	status   pdu.Status
	reason   smppserver.BindRefusal
}

// watchRefusals makes h's server log to an observer and report every
// OnBindFailed call on the returned channel.
func watchRefusals(h *harness) (*observer.ObservedLogs, chan refusal) {
	core, logs := observer.New(zap.InfoLevel)
	h.srv.Logger = zap.New(core)
	ch := make(chan refusal, 16)
	h.srv.OnBindFailed = func(systemID string, st pdu.Status, r smppserver.BindRefusal) {
		ch <- refusal{systemID, st, r}
	}
	return logs, ch
}

// checkRefusal checks that one bind was refused for want, both in the
// OnBindFailed call and in exactly one "bind refused" log line, and takes
// that line out of logs.
func checkRefusal(t *testing.T, ctx context.Context, logs *observer.ObservedLogs, ch <-chan refusal, want refusal) {
	t.Helper()
	if got := recv(t, ctx, ch, "OnBindFailed"); got != want {
		t.Fatalf("OnBindFailed%+v, want %+v", got, want)
	}
	var lines []observer.LoggedEntry
	for _, en := range logs.TakeAll() {
		if en.Message == "bind refused" {
			lines = append(lines, en)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("%d bind refused lines, want 1: %v", len(lines), lines)
	}
	m := lines[0].ContextMap()
	st, _ := m["status"].(string)
	if m["reason"] != want.reason.String() || st != pdu.StatusText(want.status) {
		t.Fatalf("bind refused line %v, want reason %s, status %s", m, want.reason, pdu.StatusText(want.status))
	}
	if _, ok := m["password"]; ok {
		t.Fatalf("bind refused line carries the password: %v", m)
	}
}

// TestBindRefusalReasons: each refused bind says why, to the log and to
// OnBindFailed, with the status the client got.
func TestBindRefusalReasons(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	var logs *observer.ObservedLogs
	var refused chan refusal
	h := start(t, func(h *harness) {
		h.auth.maxBinds = 1
		logs, refused = watchRefusals(h)
	})
	refuse := func(b []byte, id pdu.ID, st pdu.Status, want refusal) {
		t.Helper()
		rc := esmetest.Connect(t, ctx, h.addr)
		send(t, rc, b)
		expect(t, read(t, ctx, rc), id, st, 1)
		expectEOF(t, ctx, rc)
		checkRefusal(t, ctx, logs, refused, want)
	}
	refuse(bindPDU(pdu.BindTransmitter, 1, "nobody", testPassword), pdu.BindTransmitterResp, pdu.StatusInvSysID,
		refusal{"nobody", pdu.StatusInvSysID, smppserver.RefusedUnknownSystemID})
	refuse(bindPDU(pdu.BindTransmitter, 1, testSystemID, "wrong"), pdu.BindTransmitterResp, pdu.StatusInvPaswd,
		refusal{testSystemID, pdu.StatusInvPaswd, smppserver.RefusedWrongPassword})
	// A system_id longer than 15 characters.
	refuse(bindPDU(pdu.BindReceiver, 1, "a-system-id-too-long", testPassword), pdu.BindReceiverResp, pdu.StatusInvSysID,
		refusal{"", pdu.StatusInvSysID, smppserver.RefusedMalformed})
	esmetest.Bind(t, ctx, shop(h.addr, pdu.BindTransceiver))
	refuse(bindPDU(pdu.BindTransceiver, 1, testSystemID, testPassword), pdu.BindTransceiverResp, pdu.StatusBindFail,
		refusal{testSystemID, pdu.StatusBindFail, smppserver.RefusedMaxBinds})
}

// TestBindRefusedShuttingDown: a bind whose check ends after Shutdown began
// is refused as shutting_down.
func TestBindRefusedShuttingDown(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	gate := make(chan struct{})
	var logs *observer.ObservedLogs
	var refused chan refusal
	h := start(t, func(h *harness) {
		h.auth.gate = gate
		logs, refused = watchRefusals(h)
	})
	rc := esmetest.Connect(t, ctx, h.addr)
	send(t, rc, bindPDU(pdu.BindTransceiver, 1, testSystemID, testPassword))
	recv(t, ctx, h.auth.requests, "bind request")
	shutdown := make(chan error, 1)
	go func() { shutdown <- h.srv.Shutdown(ctx) }()
	// Serve returns once Shutdown has marked the server as shutting down.
	recv(t, ctx, h.served, "Serve to return")
	close(gate)
	checkRefusal(t, ctx, logs, refused, refusal{testSystemID, pdu.StatusBindFail, smppserver.RefusedShuttingDown})
	if err := recv(t, ctx, shutdown, "Shutdown"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}
