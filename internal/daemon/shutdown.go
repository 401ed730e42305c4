package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"go.uber.org/zap"

	"github.com/smppmux/smppmux/internal/smppconn"
	"github.com/smppmux/smppmux/smppserver"
	"github.com/smppmux/smppmux/upstream"
)

// Shutdown stops smppmux in order, within ctx: intake (the admin API and
// the listeners: no new bind), drain (the clients' submits under way
// finish, then their sessions unbind), the receipts parked (answered
// ESME_RX_T_APPN while their binds are up) and the upstreams (unbound
// once their requests are answered), the groups and the outboxes, then
// the Tracker (no timer of the relay fires after it, and the work running
// ends), and the store last. Each wait ends when ctx is done; then the
// store, which work may still use, is left open (every write it took is
// synced) and Shutdown reports ctx's error.
func (d *Daemon) Shutdown(ctx context.Context) error {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return nil
	}
	d.stopped = true
	stats, statsDone := d.statsStop, d.statsDone
	d.mu.Unlock()
	var errs []error
	// Before d.mu is held for the rest: a reading of the store's
	// statistics takes it.
	if stats != nil {
		close(stats)
		select {
		case <-statsDone:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("store statistics: %w", ctx.Err()))
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.log.Info("shutting down")
	// Intake and drain.
	if d.admin != nil {
		_ = d.admin.Shutdown(ctx)
		select {
		case err := <-d.adminErr:
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs = append(errs, fmt.Errorf("admin: %w", err))
			}
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("admin: %w", ctx.Err()))
		}
	}
	if err := d.Server.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("clients: %w", err))
	}
	// An accept loop that died earlier may have had its error taken
	// from Err already: wait for the loops' ends, within ctx, and report
	// the errors still unread.
waitLoops:
	for range d.serving {
		select {
		case <-d.served:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("accept loops: %w", ctx.Err()))
			break waitLoops
		}
	}
	for unread := true; unread; {
		select {
		case err := <-d.serveErr:
			if err != nil && !errors.Is(err, smppserver.ErrServerClosed) {
				errs = append(errs, err)
			}
		default:
			unread = false
		}
	}
	d.step("drained")
	// No client submits any more: a receipt still waiting for its
	// mapping gets a temporary error while its bind is up to take it.
	d.Relay.ReleaseParked()
	d.step("parking released")
	ups := make([]*upstream.Upstream, 0, len(d.upstreams))
	for _, u := range d.upstreams {
		ups = append(ups, u)
	}
	errs = append(errs, stopUpstreams(ctx, ups, smppconn.ReasonShutdown)...)
	for _, g := range d.groups {
		g.Stop()
	}
	d.step("upstreams stopped")
	// The store-and-forward drainers: what they sent is settled or put
	// back before the store closes.
	if err := d.Relay.StopQueues(ctx); err != nil {
		errs = append(errs, fmt.Errorf("queues: %w", err))
	}
	// The outboxes, then the timers and goroutines left: none runs once
	// the store closes.
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		d.Relay.Close()
	}()
	select {
	case <-ended:
	case <-ctx.Done():
		select {
		case <-ended:
		default:
			d.log.Error("the outboxes did not stop in time: the store is left open")
			return errors.Join(append(errs, fmt.Errorf("outboxes: %w", ctx.Err()))...)
		}
	}
	d.step("outboxes closed")
	if err := d.life.Stop(ctx); err != nil {
		d.log.Error("work still running at shutdown: the store is left open", zap.Error(err))
		return errors.Join(append(errs, err)...)
	}
	d.step("lifecycle stopped")
	if err := d.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("store: %w", err))
	}
	d.step("store closed")
	return errors.Join(errs...)
}

// stopUpstreams unbinds ups in parallel within ctx, their binds closed
// for reason r.
func stopUpstreams(ctx context.Context, ups []*upstream.Upstream, r smppconn.Reason) []error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, u := range ups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := u.StopFor(ctx, r); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("upstream %s: %w", u.Name(), err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errs
}
