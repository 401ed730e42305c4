package daemon

import (
	"net"
	"net/http"
	"testing"

	"go.uber.org/zap/zapcore"

	"github.com/smppmux/smppmux/internal/pdu"
)

// TestLogLevelAtRunTime: the level set through the API decides what is
// logged from then on; a level that does not exist is refused.
func TestLogLevelAtRunTime(t *testing.T) {
	t.Parallel()
	c := startControl(t)
	ctx := deadline(t)
	var lv map[string]string
	c.callJSON(t, "GET", "/api/v1/log-level", "", http.StatusOK, &lv)
	if lv["level"] != "info" {
		t.Fatalf("level %v, want info", lv)
	}
	// A connection closed before its bind is logged at debug; the closes
	// are counted once logged.
	unbound := func() {
		t.Helper()
		before := metricSum(t, c.d, "smppmux_client_sessions_closed_total")
		conn, err := net.Dial("tcp", c.d.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
		waitUntil(t, ctx, "the connection's close counted", func() bool {
			return metricSum(t, c.d, "smppmux_client_sessions_closed_total") > before
		})
	}
	debugLines := func() int { return c.logs.FilterMessage("connection closed before bind").Len() }
	unbound()
	if n := debugLines(); n != 0 {
		t.Fatalf("%d debug lines at level info", n)
	}

	c.callJSON(t, "PUT", "/api/v1/log-level", `{"level": "debug"}`, http.StatusOK, &lv)
	if lv["level"] != "debug" || c.level.Level() != zapcore.DebugLevel {
		t.Fatalf("after PUT debug: %v, logger at %v", lv, c.level.Level())
	}
	unbound()
	if n := debugLines(); n != 1 {
		t.Fatalf("%d debug lines at level debug, want 1", n)
	}
	if c.control(t).LogLevel != "debug" {
		t.Fatal("the status does not show the level set")
	}

	c.callJSON(t, "PUT", "/api/v1/log-level", `{"level": "warn"}`, http.StatusOK, &lv)
	infos := c.logs.FilterLevelExact(zapcore.InfoLevel).Len()
	closes := metricSum(t, c.d, "smppmux_client_sessions_closed_total")
	kept := c.dial(t, "shop", "secret", pdu.BindTransmitter, 10) // "client bound" and "session closed" at info
	kept.Unbind(ctx)
	unbound()
	waitUntil(t, ctx, "both closes counted", func() bool {
		return metricSum(t, c.d, "smppmux_client_sessions_closed_total") == closes+2
	})
	if n := c.logs.FilterLevelExact(zapcore.InfoLevel).Len(); n != infos || debugLines() != 1 {
		t.Fatalf("at warn: %d new info lines, %d debug lines, want none new", n-infos, debugLines()-1)
	}

	for _, body := range []string{`{"level": "verbose"}`, `{"level": "fatal"}`, `{"level": ""}`, `{"lvl": "info"}`, `debug`, ``} {
		if code, b := c.call(t, "PUT", "/api/v1/log-level", body); code != http.StatusBadRequest {
			t.Errorf("PUT %q: %d %s, want 400", body, code, b)
		}
	}
	if c.level.Level() != zapcore.WarnLevel {
		t.Fatalf("refused levels changed it to %v", c.level.Level())
	}
	// A reload that changes log.level sets it; one that does not keeps
	// the level set through the API.
	c.reload(t, "window: 10", "window: 20")
	if c.level.Level() != zapcore.WarnLevel {
		t.Fatalf("a reload without log.level changed the level to %v", c.level.Level())
	}
}
