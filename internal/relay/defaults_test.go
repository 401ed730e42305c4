package relay

import (
	"testing"
	"time"

	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/pdu"
)

// TestConfigDefaults: what a file that writes no optional key gives the
// relay is what the relay takes on its own for a zero setting.
func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Parse([]byte(`
listen: {smpp: "127.0.0.1:0"}
clients: [{system_id: shop, password: secret}]
upstreams: [{name: a, addr: "127.0.0.1:1", system_id: mux}]
groups: [{name: main, members: [{upstream: a}]}]
routes: [{group: main}]
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct {
		key       string
		got, want time.Duration
	}{
		{"receipts.wait_for_mapping", c.Receipts.WaitForMapping, DefaultParkTimeout},
		{"receipts.mapping_ttl", c.Receipts.MappingTTL, DefaultMappingTTL},
		{"receipts.unmatched_hold", c.Receipts.UnmatchedHold, DefaultHold},
		{"receipts.delivery_hold", c.Receipts.DeliveryHold, DefaultDeliveryHold},
		{"receipts.resend_window", c.Receipts.ResendWindow, dlr.DefaultResendWindow},
		{"server.submit_timeout", c.Server.SubmitTimeout, DefaultSubmitTimeout},
	} {
		if d.got != d.want {
			t.Errorf("%s = %v, the relay's default %v", d.key, d.got, d.want)
		}
	}
	if c.Store.MaxPendingWrites != DefaultMaxPendingWrites {
		t.Errorf("store.max_pending_writes = %d, the relay's default %d", c.Store.MaxPendingWrites, DefaultMaxPendingWrites)
	}
	if st := pdu.Status(config.Status(c.Server.NoRouteStatus)); st != DefaultNoRouteStatus {
		t.Errorf("server.no_route_status = %s, the relay's default 0x%08X", c.Server.NoRouteStatus, uint32(DefaultNoRouteStatus))
	}
}
