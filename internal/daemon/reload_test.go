package daemon

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smppconn"
	"github.com/smppmux/smppmux/internal/smsctest"
)

const reloadBase = `
state_dir: %q
listen: {smpp: "127.0.0.1:0", admin: ""}
clients:
  - {system_id: shop, password: secret}
%s
upstreams:
  - {name: a, addr: "%s", system_id: mux, reconnect_min: 10ms, reconnect_max: 50ms}
  - {name: b, addr: "%s", system_id: mux, window: %d, reconnect_min: 10ms, reconnect_max: 50ms}
%s
groups:
  - name: main
    members: [{upstream: a, weight: %d}, {upstream: b}%s]
routes:
  - {group: main}
`

// TestReloadKeepsUnchangedBinds: a reload that adds a client and an
// upstream and changes another upstream keeps the unchanged upstream's
// TCP connection (same local port); one that needs a restart is refused
// whole.
func TestReloadKeepsUnchangedBinds(t *testing.T) {
	t.Parallel()
	a, b, c := smsctest.Start(t, smsctest.Config{}), smsctest.Start(t, smsctest.Config{}), smsctest.Start(t, smsctest.Config{})
	dir := t.TempDir()
	e := startYAML(t, fmt.Sprintf(reloadBase, dir, "", a.Addr(), b.Addr(), 50, "", 1, ""), a, b)
	ctx := deadline(t)
	portBefore := e.d.Upstream("a").Binds()[0].LocalAddr().String()
	oldB := e.d.Upstream("b")
	shop := e.dial(t, "shop", "secret", pdu.BindTransceiver, 1)
	shopSessions := e.d.Server.Sessions()

	next, err := config.Parse([]byte(fmt.Sprintf(reloadBase, dir,
		"  - {system_id: bank, password: secret2}", a.Addr(), b.Addr(), 20,
		fmt.Sprintf("  - {name: c, addr: %q, system_id: mux}", c.Addr()), 3, ", {upstream: c}")))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := e.d.Apply(next)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	for _, want := range []string{"client bank added", "upstream b changed", "upstream c added", "group main changed"} {
		if !strings.Contains(strings.Join(ch.Live, "\n"), want) {
			t.Errorf("changes %q lack %q", ch.Live, want)
		}
	}
	if err := c.WaitBinds(ctx, 1); err != nil {
		t.Fatalf("the new upstream never bound: %v", err)
	}
	if got := e.d.Upstream("a").Binds()[0].LocalAddr(); got == nil || got.String() != portBefore {
		t.Fatalf("unchanged upstream a rebound: %s before, %v after", portBefore, got)
	}
	// The binds of the upstream the reload replaced closed as removed.
	if r := oldB.Binds()[0].LastClose(); r != smppconn.ReasonRemoved {
		t.Fatalf("replaced upstream b's bind closed for %v, want removed", r)
	}
	// The new client binds; the old client's session is still up.
	e.dial(t, "bank", "secret2", pdu.BindTransmitter, 1)
	if r, err := shop.Submit(ctx, esmetest.SubmitBody("Shop", "447700900001", []byte("x"), 0, nil)); err != nil || r.Status != pdu.StatusOK {
		t.Fatalf("submit after reload: %v %v", r.Status, err)
	}

	// A new listen address needs a restart: refused whole, nothing
	// applied, even the client it also adds.
	bad, err := config.Parse([]byte(strings.Replace(fmt.Sprintf(reloadBase, dir,
		"  - {system_id: bank, password: secret2}\n  - {system_id: late, password: pw}", a.Addr(), b.Addr(), 20,
		fmt.Sprintf("  - {name: c, addr: %q, system_id: mux}", c.Addr()), 3, ", {upstream: c}"),
		`smpp: "127.0.0.1:0"`, `smpp: "127.0.0.1:1"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.d.Apply(bad); !errors.Is(err, ErrNeedsRestart) || !strings.Contains(err.Error(), "listen.smpp") {
		t.Fatalf("reload with a new listen address: %v", err)
	}
	if _, err := esmetest.Dial(ctx, esmetest.Config{Addr: e.d.Addr().String(), SystemID: "late", Password: "pw"}); err == nil {
		t.Fatal("a refused reload added a client")
	}

	// Removing a client closes its sessions.
	gone, err := config.Parse([]byte(strings.Replace(fmt.Sprintf(reloadBase, dir,
		"  - {system_id: bank, password: secret2}", a.Addr(), b.Addr(), 20,
		fmt.Sprintf("  - {name: c, addr: %q, system_id: mux}", c.Addr()), 3, ", {upstream: c}"),
		"  - {system_id: shop, password: secret}\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.d.Apply(gone); err != nil {
		t.Fatal(err)
	}
	select {
	case <-shop.Done():
	case <-ctx.Done():
		t.Fatal("the removed client's session stayed open")
	}
	if len(shopSessions) != 1 {
		t.Fatalf("%d sessions before the reloads, want shop's", len(shopSessions))
	}
	<-shopSessions[0].Done()
	if r := shopSessions[0].CloseReason(); r != smppconn.ReasonRemoved {
		t.Fatalf("the removed client's session closed for %v, want removed", r)
	}
}

// TestDrainSurvivesReload: a member drained through the admin API stays
// drained through a reload that rebuilds its group (another member
// changed), and gets its weight back on undrain.
func TestDrainSurvivesReload(t *testing.T) {
	t.Parallel()
	a, b := smsctest.Start(t, smsctest.Config{}), smsctest.Start(t, smsctest.Config{})
	dir := t.TempDir()
	conf := func(bWindow, aWeight int) *config.Config {
		cfg, err := config.Parse([]byte(fmt.Sprintf(reloadBase, dir, "", a.Addr(), b.Addr(), bWindow, "", aWeight, "")))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	e := startYAML(t, fmt.Sprintf(reloadBase, dir, "", a.Addr(), b.Addr(), 50, "", 2, ""), a, b)
	weightOfA := func() int { return e.d.Group("main").Status()[0].Weight }
	if err := e.d.Drain("main", "a"); err != nil {
		t.Fatal(err)
	}
	before := e.d.Group("main")
	if _, err := e.d.Apply(conf(20, 2)); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if e.d.Group("main") == before {
		t.Fatal("the reload kept the group: it does not test a rebuilt one")
	}
	if w := weightOfA(); w != 0 {
		t.Fatalf("drained member's weight %d after a reload, want 0", w)
	}
	shop := e.dial(t, "shop", "secret", pdu.BindTransceiver, 10)
	for i, r := range submitAll(t, shop, 50, plainBody) {
		if r.Status != pdu.StatusOK {
			t.Fatalf("submit %d: 0x%08x", i, uint32(r.Status))
		}
	}
	if a.Received() != 0 {
		t.Fatalf("drained member got %d submits", a.Received())
	}
	// A new configured weight applies on undrain, and sticks.
	if _, err := e.d.Apply(conf(20, 3)); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if w := weightOfA(); w != 0 {
		t.Fatalf("drained member's weight %d after a second reload, want 0", w)
	}
	if err := e.d.Undrain("main", "a"); err != nil {
		t.Fatal(err)
	}
	if w := weightOfA(); w != 3 {
		t.Fatalf("undrained member's weight %d, want 3", w)
	}
	if _, err := e.d.Apply(conf(30, 3)); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if w := weightOfA(); w != 3 {
		t.Fatalf("undrained member's weight %d after a reload, want 3", w)
	}
}
