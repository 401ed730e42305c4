package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/internal/smppconn"
)

// ErrNeedsRestart means a reload changed keys only a restart applies; the
// running configuration stays as it was.
var ErrNeedsRestart = errors.New("the change needs a restart")

// retireTimeout bounds the polite unbind of upstreams a reload removed.
const retireTimeout = 10 * time.Second

// Apply applies next, a validated configuration, without dropping what
// it does not change: unchanged upstreams keep their binds and groups
// their breakers. A change that needs a restart refuses the whole reload.
// Sessions of removed clients are closed; changed client settings apply
// to their next binds.
func (d *Daemon) Apply(next *config.Config) (ch config.Changes, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	defer func() { d.metrics.Reload(err == nil, time.Now()) }()
	if d.stopped {
		return config.Changes{}, errors.New("smppmux is stopping")
	}
	ch = config.Diff(d.cfg, next)
	if len(ch.Restart) > 0 {
		return ch, fmt.Errorf("%w: %s", ErrNeedsRestart, strings.Join(ch.Restart, ", "))
	}
	if ch.Empty() {
		// Nothing else changed, but renewed certificate files apply.
		if d.tls != nil {
			return ch, d.tls.Reload(next.TLS)
		}
		return ch, nil
	}
	old, err := d.apply(next, ch)
	if err != nil {
		return ch, err
	}
	// A level set through the admin API holds until log.level changes.
	if d.opts.Level != nil && ch.LogLevel {
		if l, err := zapcore.ParseLevel(next.Log.Level); err == nil {
			d.opts.Level.SetLevel(l)
		}
	}
	for _, s := range d.Server.Sessions() {
		if id := s.SystemID(); id != "" && slices.Contains(ch.Clients.Removed, id) {
			s.Logger().Info("closing the session of a client removed from the configuration")
			s.Close(smppconn.ReasonRemoved)
		}
	}
	for _, g := range old.groups {
		g.Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), retireTimeout)
	defer cancel()
	for _, err := range stopUpstreams(ctx, old.upstreams, smppconn.ReasonRemoved) {
		d.log.Warn("stopping a removed upstream", zap.Error(err))
	}
	for _, line := range ch.Live {
		d.log.Info("configuration reloaded", zap.String("change", line))
	}
	return ch, nil
}

// ReloadRefused records a reload that failed before Apply, such as an
// invalid file.
func (d *Daemon) ReloadRefused() { d.metrics.Reload(false, time.Now()) }
