package daemon

import (
	"strings"
	"testing"

	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// TestReloadKeepsClientLimits: a reload that leaves a client as it was
// keeps its limits' state (a destination at its cap stays refused), and
// one that changes the client starts it afresh.
func TestReloadKeepsClientLimits(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{})
	e := startYAML(t, `
listen: {smpp: "127.0.0.1:0"}
clients:
  - {system_id: shop, password: secret, destination_limit: {count: 1, per: 1h}}
upstreams: [{name: a, addr: "{{0}}", system_id: mux}]
groups: [{name: g, members: [{upstream: a}]}]
routes: [{group: g}]
`, s)
	ctx := deadline(t)
	c := e.dial(t, "shop", "secret", pdu.BindTransmitter, 1)
	send := func() pdu.Status {
		t.Helper()
		r, err := c.Submit(ctx, esmetest.SubmitBody("Shop", "447700900001", []byte("otp 1234"), 0, nil))
		if err != nil {
			t.Fatal(err)
		}
		return r.Status
	}
	reload := func(yaml string) config.Changes {
		t.Helper()
		next, err := config.Parse([]byte(yaml))
		if err != nil {
			t.Fatal(err)
		}
		ch, err := e.d.Apply(next)
		if err != nil {
			t.Fatalf("reload: %v", err)
		}
		return ch
	}
	for i, want := range []pdu.Status{pdu.StatusOK, pdu.StatusThrottled} {
		if st := send(); st != want {
			t.Fatalf("message %d to one destination: 0x%x, want 0x%x", i+1, uint32(st), uint32(want))
		}
	}

	added := strings.Replace(e.yaml, "clients:\n", "clients:\n  - {system_id: bank, password: secret2}\n", 1)
	if ch := reload(added); !ch.Clients.Kept("shop") || ch.Clients.Kept("bank") {
		t.Fatalf("changes: %+v", ch.Clients)
	}
	if st := send(); st != pdu.StatusThrottled {
		t.Fatalf("after a reload that left the client as it was: 0x%x, want ESME_RTHROTTLED", uint32(st))
	}

	changed := strings.Replace(added, "count: 1, per: 1h", "count: 2, per: 1h", 1)
	if ch := reload(changed); ch.Clients.Kept("shop") {
		t.Fatalf("changes: %+v", ch.Clients)
	}
	if st := send(); st != pdu.StatusOK {
		t.Fatalf("after a reload that changed the client's limit: 0x%x, want ESME_ROK", uint32(st))
	}
}
