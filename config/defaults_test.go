package config

import (
	"reflect"
	"slices"
	"testing"

	"github.com/smppmux/smppmux/balancer"
	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/smppserver"
	"github.com/smppmux/smppmux/upstream"
)

// TestDefaultsAreTheComponents: what a file that writes no optional key
// gives each component is what the component takes on its own for a zero
// setting, so the two cannot disagree.
func TestDefaultsAreTheComponents(t *testing.T) {
	t.Parallel()
	c := mustParse(t, doc(nil, ""))

	// Each key the file has for a setting is what the component takes for
	// a zero one; the component's settings the file has no key for keep
	// the component's default.
	got := c.Upstreams[0].Settings()
	want := upstream.Config{Name: got.Name, Addr: got.Addr, SystemID: got.SystemID}.WithDefaults()
	want.WriteTimeout = 0 // no key: the upstream's default stays
	if !reflect.DeepEqual(got, want) {
		t.Errorf("upstream settings %+v, the upstream's own defaults %+v", got, want)
	}

	gs := c.Groups[0].Settings(nil)
	wg := balancer.GroupConfig{Name: gs.Name}.WithDefaults()
	wg.Now = nil
	wg.FailureStatuses = nil // breaker.statuses: none written means retry_on
	wg.Breaker = balancer.BreakerConfig{}.WithDefaults()
	if !reflect.DeepEqual(gs, wg) {
		t.Errorf("group settings %+v, the balancer's own defaults %+v", gs, wg)
	}

	s := c.Server
	for _, d := range []struct {
		key       string
		got, want any
	}{
		{"server.bind_timeout", s.BindTimeout, smppserver.DefaultBindTimeout},
		{"server.enquire_link_interval", s.EnquireLinkInterval, smppserver.DefaultEnquireLinkInterval},
		{"server.inactivity_timeout", s.InactivityTimeout, smppserver.DefaultInactivityTimeout},
		{"server.response_timeout", s.ResponseTimeout, smppserver.DefaultResponseTimeout},
		{"server.write_timeout", s.WriteTimeout, smppserver.DefaultWriteTimeout},
		{"receipts.resend_window", c.Receipts.ResendWindow, dlr.DefaultResendWindow},
		{"receipts.outbox_max_items", c.Receipts.OutboxMaxItems, dlr.DefaultOutboxMaxItems},
		{"receipts.outbox_max_age", c.Receipts.OutboxMaxAge, dlr.DefaultOutboxMaxAge},
		{"receipts.retry_min", c.Receipts.RetryMin, dlr.DefaultRetryMin},
		{"receipts.retry_max", c.Receipts.RetryMax, dlr.DefaultRetryMax},
		{"receipts.max_attempts", c.Receipts.MaxAttempts, dlr.DefaultMaxAttempts},
	} {
		if reflect.ValueOf(d.got).Int() != reflect.ValueOf(d.want).Int() {
			t.Errorf("%s = %v, the component's default %v", d.key, d.got, d.want)
		}
	}
	if got := Statuses(c.Receipts.DeadLetterStatuses); !slices.Equal(got, dlr.DefaultDeadLetterStatuses) {
		t.Errorf("receipts.dead_letter_statuses = %v, the outbox's default %v", got, dlr.DefaultDeadLetterStatuses)
	}
}
