package daemon

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/smppmux/smppmux/admin"
	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
)

// TestKickClient: every session of a kicked client is unbound, closed
// with reason kicked, and logged with the operator's reason; other
// clients keep theirs, and the client may bind again at once.
func TestKickClient(t *testing.T) {
	t.Parallel()
	c := startControl(t)
	shop1 := c.dial(t, "shop", "secret", pdu.BindTransceiver, 10)
	shop2 := c.dial(t, "shop", "secret", pdu.BindTransmitter, 10)
	bank := c.dial(t, "bank", "secret2", pdu.BindTransmitter, 10)

	var res map[string]int
	c.callJSON(t, "POST", "/api/v1/clients/shop/kick?reason=flooding+us", "", http.StatusOK, &res)
	if res["closed"] != 2 {
		t.Fatalf("kick answered %v, want closed 2", res)
	}
	for i, s := range []*esmetest.Client{shop1, shop2} {
		if err := ended(t, s); err != esmetest.ErrUnbound {
			t.Errorf("shop session %d ended with %v, want an unbind from smppmux", i, err)
		}
	}
	// The closes are counted once logged; the client may see its
	// connection end a moment before.
	waitUntil(t, deadline(t), "2 sessions closed", func() bool {
		return metricSum(t, c.d, "smppmux_client_sessions_closed_total") == 2
	})
	if v, _ := seriesValue(families(t, c.d.opts.Registry), "smppmux_client_sessions_closed_total", "reason=kicked"); v != 2 {
		t.Errorf("sessions closed for kicked: %v, want 2", v)
	}
	var kicked, closed int
	for _, e := range c.logs.All() {
		f := e.ContextMap()
		switch {
		case e.Message == "session kicked by an operator" && f["why"] == "flooding us" && f["system_id"] == "shop":
			kicked++
		case e.Message == "session closed" && f["reason"] == "kicked" && f["system_id"] == "shop":
			closed++
		}
	}
	if kicked != 2 || closed != 2 {
		t.Errorf("log: %d kick lines with the reason, %d closes with reason kicked, want 2 each", kicked, closed)
	}
	if r, err := bank.Submit(deadline(t), plainBody(0)); err != nil || r.Status != pdu.StatusOK {
		t.Fatalf("bank's session after shop's kick: %v %v", r.Status, err)
	}
	again := c.dial(t, "shop", "secret", pdu.BindTransmitter, 10)
	if r, err := again.Submit(deadline(t), plainBody(1)); err != nil || r.Status != pdu.StatusOK {
		t.Fatalf("shop bound again after the kick: %v %v", r.Status, err)
	}
	c.callJSON(t, "POST", "/api/v1/clients/bank/kick", "", http.StatusOK, &res)
	if res["closed"] != 1 || ended(t, bank) != esmetest.ErrUnbound {
		t.Fatalf("kick without a reason: %v", res)
	}

	for _, tc := range []struct {
		path string
		code int
	}{
		{"/api/v1/clients/nobody/kick", http.StatusNotFound},
		{"/api/v1/clients/shop/kick?reason=" + strings.Repeat("x", 201), http.StatusBadRequest},
		{"/api/v1/clients/shop/kick?reason=a%0Ab", http.StatusBadRequest},
	} {
		if code, body := c.call(t, "POST", tc.path, ""); code != tc.code {
			t.Errorf("POST %s: %d %s, want %d", tc.path, code, body, tc.code)
		}
	}
	select {
	case <-again.Done():
		t.Fatal("a refused kick closed the session")
	default:
	}
}

// TestSuspendResume: a suspended client's sessions are unbound and its
// binds refused with ESME_RBINDFAIL, through a reload, while other
// clients bind; resumed, it binds again.
func TestSuspendResume(t *testing.T) {
	t.Parallel()
	c := startControl(t)
	ctx := deadline(t)
	addr := c.d.Addr().String()
	shop := c.dial(t, "shop", "secret", pdu.BindTransceiver, 10)

	var res map[string]int
	c.callJSON(t, "POST", "/api/v1/clients/shop/suspend", "", http.StatusOK, &res)
	if res["closed"] != 1 {
		t.Fatalf("suspend answered %v, want closed 1", res)
	}
	if err := ended(t, shop); err != esmetest.ErrUnbound {
		t.Fatalf("shop's session ended with %v, want an unbind from smppmux", err)
	}
	waitUntil(t, ctx, "the session's close counted", func() bool {
		return metricSum(t, c.d, "smppmux_client_sessions_closed_total") == 1
	})
	if v, _ := seriesValue(families(t, c.d.opts.Registry), "smppmux_client_sessions_closed_total", "reason=suspended"); v != 1 {
		t.Errorf("sessions closed for suspended: %v, want 1", v)
	}
	refused := func(when string) {
		t.Helper()
		for _, bind := range []pdu.ID{pdu.BindTransmitter, pdu.BindReceiver, pdu.BindTransceiver} {
			cl, st := esmetest.BindStatus(t, ctx, esmetest.Config{Addr: addr, SystemID: "shop", Password: "secret", Bind: bind})
			if cl != nil {
				cl.Close()
			}
			if st != pdu.StatusBindFail {
				t.Fatalf("%s: %v of shop answered 0x%08x, want ESME_RBINDFAIL", when, bind, uint32(st))
			}
		}
	}
	refused("suspended")
	// The wrong password is refused as such: a suspension tells nothing
	// to someone without the credentials.
	if _, st := dialStatus(t, ctx, addr, "shop", "wrong"); st != pdu.StatusInvPaswd {
		t.Fatalf("wrong password of a suspended client: 0x%08x, want ESME_RINVPASWD", uint32(st))
	}
	if v, _ := seriesValue(families(t, c.d.opts.Registry), "smppmux_client_bind_failures_total",
		"client=shop", "status=0x0000000d", "reason=suspended"); v != 3 {
		t.Errorf("binds refused for suspended: %v, want 3", v)
	}
	bank := c.dial(t, "bank", "secret2", pdu.BindTransmitter, 10)
	if r, err := bank.Submit(ctx, plainBody(0)); err != nil || r.Status != pdu.StatusOK {
		t.Fatalf("bank while shop is suspended: %v %v", r.Status, err)
	}
	ctl := c.control(t)
	if !slices.Equal(ctl.SuspendedClients, []string{"shop"}) ||
		!slices.Contains(ctl.Clients, admin.ClientState{SystemID: "shop", Suspended: true}) ||
		!slices.Contains(ctl.Clients, admin.ClientState{SystemID: "bank", Sessions: 1}) {
		t.Fatalf("control %+v, want shop suspended without sessions, bank with one", ctl)
	}

	c.reload(t, "{system_id: shop, password: secret, window: 50}", "{system_id: shop, password: secret, window: 60}")
	refused("suspended, reloaded")
	c.callJSON(t, "POST", "/api/v1/clients/shop/suspend", "", http.StatusOK, &res)
	if res["closed"] != 0 {
		t.Fatalf("suspend again answered %v, want closed 0", res)
	}

	for range 2 { // the second resume changes nothing and says so with 204 too
		if code, body := c.call(t, "POST", "/api/v1/clients/shop/resume", ""); code != http.StatusNoContent {
			t.Fatalf("resume: %d %s", code, body)
		}
	}
	again := c.dial(t, "shop", "secret", pdu.BindTransceiver, 10)
	if r, err := again.Submit(ctx, plainBody(1)); err != nil || r.Status != pdu.StatusOK {
		t.Fatalf("shop resumed: %v %v", r.Status, err)
	}
	if got := c.control(t).SuspendedClients; len(got) != 0 {
		t.Fatalf("suspended %q after resume, want none", got)
	}
	for _, path := range []string{"/api/v1/clients/nobody/suspend", "/api/v1/clients/nobody/resume"} {
		if code, body := c.call(t, "POST", path, ""); code != http.StatusNotFound {
			t.Errorf("POST %s: %d %s, want 404", path, code, body)
		}
	}
}
