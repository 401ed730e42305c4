// Package daemon builds a running smppmux from a configuration: the client
// listener, the upstream binds, the groups, the routes and the receipt
// machinery; it applies a new configuration live where it can, and stops
// everything in order.
//
// Goroutines: a lifecycle.Tracker owns the daemon's (the accept loops, the
// admin server, the reading of the store's statistics) and the relay's
// timers; Start starts every upstream. Shutdown ends them in order:
// intake (listeners, new binds), drain (submits under way, then the
// sessions unbind), the receipts parked and the upstreams, the outboxes,
// the Tracker (no timer fires after it), and the store last.
//
// LOCKING: Daemon.mu serialises Reload, Start and Shutdown and guards the
// maps of upstreams and groups; the configuration's snapshot (clients,
// upstreams, groups, routes) is swapped atomically in the relay, where
// the hot path and the binds' Auth read it without a lock of the daemon's.
package daemon

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/smppmux/smppmux/admin"
	"github.com/smppmux/smppmux/balancer"
	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/pebblestore"
	"github.com/smppmux/smppmux/dlr/redisstore"
	"github.com/smppmux/smppmux/internal/clients"
	"github.com/smppmux/smppmux/internal/lifecycle"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/relay"
	"github.com/smppmux/smppmux/internal/smppconn"
	"github.com/smppmux/smppmux/internal/tlsconf"
	"github.com/smppmux/smppmux/metrics"
	"github.com/smppmux/smppmux/smppserver"
	"github.com/smppmux/smppmux/upstream"
)

// Options are what a Daemon takes besides its configuration.
type Options struct {
	// Level, when set, is changed by a reload of log.level.
	Level *zap.AtomicLevel
	// Registry receives the metrics and serves them on the admin
	// listener; nil: a registry of the Daemon's own.
	Registry *prometheus.Registry
	// Reload re-reads the configuration for the admin API; nil: the admin
	// reload endpoint refuses.
	Reload func() error
	// PebbleFS is the file system of the Pebble store; nil: the disk.
	// Tests make it fail.
	PebbleFS vfs.FS
}

// Daemon is one running smppmux.
type Daemon struct {
	log    *zap.Logger
	opts   Options
	Relay  *relay.Relay
	Server *smppserver.Server

	store     dlr.Store
	storeKind string
	// life owns the daemon's goroutines and the relay's timers.
	life *lifecycle.Tracker
	// closes keeps the last close reason of each client's sessions.
	closes closeLog
	// shutdownStep, when a test sets it, is called as Shutdown passes
	// each stage, by name.
	shutdownStep func(stage string)
	// stats is the store's part of the snapshot, read by statsLoop until
	// statsStop is closed; statsDone is closed when it has returned.
	stats     storeStats
	statsStop chan struct{}
	statsDone chan struct{}
	auth      *clients.Auth
	handler   lateHandler
	listener  net.Listener
	serveErr  chan error
	served    chan struct{} // one per accept loop that returned
	adminAddr net.Addr
	tlsAddr   net.Addr
	metrics   *metrics.Metrics
	tls       *tlsconf.Server // nil without listen.smpp_tls
	serving   int             // accept loops running
	admin     *http.Server
	adminErr  chan error

	mu        sync.Mutex
	cfg       *config.Config
	started   bool
	stopped   bool
	upstreams map[string]*upstream.Upstream
	groups    map[string]*balancer.Group
	// drained holds the members drained through the admin API: a reload
	// keeps them drained until undrained or a restart.
	drained map[member]bool
	// ctl is what else operators change through the admin API.
	ctl control
	// known is the label values the metrics were last given: apply
	// gives them again only when they change.
	known metrics.Known
}

// member names a member of a group.
type member struct{ group, upstream string }

// New builds a Daemon from cfg. Nothing runs until Start.
func New(cfg *config.Config, log *zap.Logger, opts ...Options) (*Daemon, error) {
	if log == nil {
		log = zap.NewNop()
	}
	d := &Daemon{
		log:       log,
		upstreams: make(map[string]*upstream.Upstream),
		groups:    make(map[string]*balancer.Group),
		drained:   make(map[member]bool),
	}
	log = d.ctl.init(log) // its warnings are kept for the status page
	d.log = log
	if len(opts) > 0 {
		d.opts = opts[0]
	}
	if d.opts.Registry == nil {
		d.opts.Registry = prometheus.NewRegistry()
	}
	d.life = lifecycle.New(log.Named("lifecycle"))
	d.metrics = metrics.New(d.opts.Registry, d)
	d.metrics.Reload(true, time.Now())
	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	store, ids, err := openStore(cfg, log.Named("store"), d.opts.PebbleFS, d.metrics)
	if err != nil {
		return nil, err
	}
	d.store = store
	d.storeKind = cfg.Store.Kind
	if d.storeKind == "" {
		d.storeKind = config.StorePebble
	}
	if cfg.Listen.SMPPTLS != "" {
		if d.tls, err = tlsconf.NewServer(cfg.TLS); err != nil {
			_ = store.Close()
			return nil, err
		}
	}
	registry := smppserver.NewRegistry()
	d.Relay = relay.New(relay.Config{
		Registry:         registry,
		Store:            store,
		IDs:              ids,
		MappingTTL:       cfg.Receipts.MappingTTL,
		MaxPendingWrites: cfg.Store.MaxPendingWrites,
		ParkTimeout:      cfg.Receipts.WaitForMapping,
		Hold:             cfg.Receipts.UnmatchedHold,
		DeliveryHold:     cfg.Receipts.DeliveryHold,
		ResendWindow:     cfg.Receipts.ResendWindow,
		Outbox: dlr.OutboxConfig{
			MaxItems: cfg.Receipts.OutboxMaxItems,
			MaxAge:   cfg.Receipts.OutboxMaxAge,
			RetryMin: cfg.Receipts.RetryMin,
			RetryMax: cfg.Receipts.RetryMax,

			MaxAttempts:        cfg.Receipts.MaxAttempts,
			DeadLetterStatuses: config.Statuses(cfg.Receipts.DeadLetterStatuses),
		},
		Metrics:   d.metrics,
		Logger:    log.Named("relay"),
		Lifecycle: d.life,
	})
	d.handler.h = d.Relay
	d.auth = clients.NewAuth(func() *clients.Table { return d.Relay.Snapshot().Clients },
		cfg.Server.FailedBindsPerIP, cfg.Server.FailedBindWindow)
	d.Server = &smppserver.Server{
		Auth:                gate{d.Relay, d},
		Handler:             gate{d.Relay, d},
		Logger:              log.Named("smppserver"),
		Registry:            registry,
		BindTimeout:         cfg.Server.BindTimeout,
		EnquireLinkInterval: cfg.Server.EnquireLinkInterval,
		InactivityTimeout:   cfg.Server.InactivityTimeout,
		ResponseTimeout:     cfg.Server.ResponseTimeout,
		WriteTimeout:        cfg.Server.WriteTimeout,
		OnBindFailed: func(systemID string, st pdu.Status, r smppserver.BindRefusal) {
			d.metrics.BindFailed(systemID, d.auth.Known(systemID), uint32(st), r.String())
		},
		OnSessionClosed: func(r smppconn.Reason) { d.metrics.SessionClosed(r.String()) },
		Lifecycle:       d.life,
	}
	if _, err := d.apply(cfg, config.Diff(nil, cfg)); err != nil {
		d.Relay.Close()
		_ = store.Close()
		return nil, err
	}
	return d, nil
}

// lateHandler forwards to the relay, which is built after the first
// upstreams.
type lateHandler struct{ h upstream.DeliverHandler }

func (l *lateHandler) HandleDeliver(u *upstream.Upstream, f pdu.Frame, ack func(pdu.Status)) {
	l.h.HandleDeliver(u, f, ack)
}

// openStore opens the store cfg names and the message id issuer that goes
// with it: ids carry the instance number when the store is shared.
func openStore(cfg *config.Config, log *zap.Logger, fs vfs.FS, m *metrics.Metrics) (dlr.Store, *dlr.IDs, error) {
	kind := cfg.Store.Kind
	if kind == "" {
		kind = config.StorePebble
	}
	m.StoreKind(kind)
	observe := func(d time.Duration, writes int, err error) { m.StoreCommit(kind, d, writes, err) }
	if cfg.Store.Kind != config.StoreRedis {
		pc := pebblestore.Config{Dir: filepath.Join(cfg.StateDir, "dlr"), Logger: log, FS: fs, OnCommit: observe}
		if cfg.Store.Sync == config.SyncInterval {
			pc.SyncInterval = cfg.Store.SyncInterval
		}
		s, err := pebblestore.Open(pc)
		if err != nil {
			return nil, nil, err
		}
		return s, dlr.NewIDs(time.Now()), nil
	}
	r := cfg.Store.Redis
	s, err := redisstore.Open(redisstore.Config{
		Addrs: r.Addrs, MasterName: r.MasterName, Username: r.Username, Password: r.Password,
		SentinelPassword: r.SentinelPassword, DB: r.DB, Prefix: r.Prefix, Instance: cfg.Store.Instance,
		LeaseTTL: r.LeaseTTL, MaxItems: cfg.Receipts.OutboxMaxItems,
		WaitReplicas: r.WaitReplicas, WaitTimeout: r.WaitTimeout, Logger: log, OnCommit: observe,
		// Mappings an earlier version wrote live as long as ours.
		OldLayoutFor: cfg.Receipts.MappingTTL + time.Hour,
	})
	if err != nil {
		return nil, nil, err
	}
	log.Info("store: Redis, shared", zap.Strings("addrs", r.Addrs), zap.String("master_name", r.MasterName),
		zap.Int("instance", cfg.Store.Instance))
	return s, dlr.NewInstanceIDs(time.Now(), uint8(cfg.Store.Instance)), nil
}

// Start restores the outboxes, listens on the configured SMPP address,
// starts the upstreams and serves clients.
func (d *Daemon) Start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.restoreOutboxes(); err != nil {
		return err
	}
	d.Relay.StartQueues()
	d.statsStop, d.statsDone = make(chan struct{}), make(chan struct{})
	stop, done := d.statsStop, d.statsDone
	_ = d.life.Go("store statistics", func(context.Context) {
		defer close(done)
		d.statsLoop(stop)
	})
	l, err := net.Listen("tcp", d.cfg.Listen.SMPP)
	if err != nil {
		return fmt.Errorf("listen smpp %s: %w", d.cfg.Listen.SMPP, err)
	}
	d.listener = l
	d.started = true
	for _, u := range d.upstreams {
		u.Start()
	}
	d.serveErr = make(chan error, 2)
	d.served = make(chan struct{}, 2)
	d.serving = 1
	d.goServe(l)
	fields := []zap.Field{zap.Stringer("smpp", l.Addr()),
		zap.Int("clients", len(d.cfg.Clients)), zap.Int("upstreams", len(d.upstreams))}
	if d.tls != nil {
		tl, err := net.Listen("tcp", d.cfg.Listen.SMPPTLS)
		if err != nil {
			return fmt.Errorf("listen smpp_tls %s: %w", d.cfg.Listen.SMPPTLS, err)
		}
		d.tlsAddr = tl.Addr()
		d.serving++
		d.goServe(tls.NewListener(tl, d.tls.Config()))
		fields = append(fields, zap.Stringer("smpp_tls", tl.Addr()))
	}
	if d.cfg.Listen.Admin != "" {
		al, err := net.Listen("tcp", d.cfg.Listen.Admin)
		if err != nil {
			return fmt.Errorf("listen admin %s: %w", d.cfg.Listen.Admin, err)
		}
		d.admin = &http.Server{
			Handler: admin.NewHandler(admin.Config{
				Controller: d, Operator: d, Gatherer: d.opts.Registry, Token: d.cfg.Admin.Token, Logger: d.log.Named("admin"),
			}),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      30 * time.Second,
			MaxHeaderBytes:    16 << 10,
		}
		d.adminErr = make(chan error, 1)
		srv, errc := d.admin, d.adminErr
		_ = d.life.Go("admin server", func(context.Context) { errc <- srv.Serve(al) })
		d.adminAddr = al.Addr()
		fields = append(fields, zap.Stringer("admin", al.Addr()))
	}
	d.log.Info("smppmux listening", fields...)
	return nil
}

// restoreOutboxes loads what the outboxes kept in the store. A store that
// is not open yet (a full or read-only disk at start) restores them when
// it opens, before it takes writes.
func (d *Daemon) restoreOutboxes() error {
	restore := func() error {
		n, err := d.Relay.Outbox().Restore()
		if err != nil {
			return fmt.Errorf("loading the outboxes: %w", err)
		}
		if n > 0 {
			d.log.Info("receipts and messages waiting for clients restored", zap.Int("count", n))
		}
		// Clients may have bound before a late restore: their outboxes
		// look at once, not at their next bind.
		for _, st := range d.Relay.Outbox().Stats() {
			if st.Depth > 0 {
				d.Relay.Outbox().Wake(st.SystemID)
			}
		}
		return nil
	}
	// Receipts kept waiting for their mapping go through the relay, which
	// writes: they are restored once the store takes writes.
	restoreWaiting := func() error {
		n, err := d.Relay.RestoreWaiting()
		if err != nil {
			return fmt.Errorf("loading the receipts waiting for their mapping: %w", err)
		}
		if n > 0 {
			d.log.Info("receipts waiting for their message's mapping restored", zap.Int("count", n))
		}
		return nil
	}
	late, ok := d.store.(interface {
		WhenOpen(func() error) error
		AfterOpen(func())
	})
	if !ok {
		if err := restore(); err != nil {
			return err
		}
		return restoreWaiting()
	}
	if err := late.WhenOpen(restore); err != nil {
		return err
	}
	late.AfterOpen(func() {
		if err := restoreWaiting(); err != nil {
			d.log.Error("restoring receipts waiting for their mapping failed", zap.Error(err))
		}
	})
	return nil
}

// serve runs one accept loop. Its error goes to Err, where the caller
// may take it, and then its end is signalled to Shutdown on a channel of
// Shutdown's own.
func (d *Daemon) serve(l net.Listener) {
	d.serveErr <- d.Server.Serve(l)
	d.served <- struct{}{}
}

// goServe runs serve in a goroutine of the Tracker's.
func (d *Daemon) goServe(l net.Listener) {
	_ = d.life.Go("accept loop", func(context.Context) { d.serve(l) })
}

// Lifecycle returns the Tracker of the daemon's goroutines and timers.
func (d *Daemon) Lifecycle() *lifecycle.Tracker { return d.life }

// step tells a test which stage Shutdown reached.
func (d *Daemon) step(stage string) {
	if d.shutdownStep != nil {
		d.shutdownStep(stage)
	}
}

// TLSAddr returns the SMPP over TLS listener's address, nil when it is
// off.
func (d *Daemon) TLSAddr() net.Addr { return d.tlsAddr }

// AdminAddr returns the admin listener's address, nil when it is off.
func (d *Daemon) AdminAddr() net.Addr { return d.adminAddr }

// Addr returns the SMPP listener's address.
func (d *Daemon) Addr() net.Addr { return d.listener.Addr() }

// Err returns a channel that receives the accept loop's error if it stops
// on its own. Shutdown works whether it was read or not, and reports the
// errors left unread.
func (d *Daemon) Err() <-chan error { return d.serveErr }

// Upstream returns the running upstream of that name.
func (d *Daemon) Upstream(name string) *upstream.Upstream {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.upstreams[name]
}

// Group returns the running group of that name.
func (d *Daemon) Group(name string) *balancer.Group {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.groups[name]
}
