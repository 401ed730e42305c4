// Package daemon builds a running smppmux from a configuration: the client
// listener, the upstream binds, the groups, the routes and the receipt
// machinery, and stops it in order.
//
// Goroutines: Start runs the SMPP accept loop in one goroutine it owns and
// starts every upstream; Shutdown ends them all and waits.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/smppmux/smppmux/balancer"
	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/relay"
	"github.com/smppmux/smppmux/internal/router"
	"github.com/smppmux/smppmux/smppserver"
	"github.com/smppmux/smppmux/upstream"
)

// Daemon is one running smppmux.
type Daemon struct {
	cfg       *config.Config
	log       *zap.Logger
	Relay     *relay.Relay
	Server    *smppserver.Server
	Upstreams map[string]*upstream.Upstream
	Groups    map[string]*balancer.Group

	store    dlr.Store
	listener net.Listener
	serveErr chan error
	stopOnce sync.Once
}

// New builds a Daemon from cfg. Nothing runs until Start.
func New(cfg *config.Config, log *zap.Logger) (*Daemon, error) {
	if log == nil {
		log = zap.NewNop()
	}
	d := &Daemon{
		cfg:       cfg,
		log:       log,
		Upstreams: make(map[string]*upstream.Upstream),
		Groups:    make(map[string]*balancer.Group),
	}
	registry := smppserver.NewRegistry()
	formats := make(map[string]relay.ClientIDFormat)
	for _, c := range cfg.Clients {
		f, err := dlr.ParseIDFormat(string(c.MessageID.Format))
		if err != nil {
			return nil, fmt.Errorf("client %s: %w", c.SystemID, err)
		}
		formats[c.SystemID] = relay.ClientIDFormat{Format: f, Length: c.MessageID.Length}
	}

	// The relay needs the router, which needs the groups, which need the
	// upstreams, which need the relay as their deliver handler: the
	// handler is bound late through a small indirection.
	var h lateHandler
	for _, uc := range cfg.Upstreams {
		d.Upstreams[uc.Name] = upstream.New(upstream.Config{
			Name:                uc.Name,
			Addr:                uc.Addr,
			SystemID:            uc.SystemID,
			Password:            uc.Password,
			SystemType:          uc.SystemType,
			Bind:                string(uc.Bind),
			Binds:               uc.Binds,
			Window:              uc.Window,
			TPS:                 uc.TPS,
			ResponseTimeout:     uc.ResponseTimeout,
			EnquireLinkInterval: uc.EnquireLinkInterval,
			ConnectTimeout:      uc.ConnectTimeout,
			ReconnectMin:        uc.ReconnectMin,
			ReconnectMax:        uc.ReconnectMax,
		}, &h, log.Named("upstream"))
	}
	groupsOf := make(map[string][]*balancer.Group)
	for _, gc := range cfg.Groups {
		var ms []balancer.Weighted
		for _, m := range gc.Members {
			u, ok := d.Upstreams[m.Upstream]
			if !ok {
				return nil, fmt.Errorf("group %s: unknown upstream %q", gc.Name, m.Upstream)
			}
			ms = append(ms, balancer.Weighted{Member: u, Weight: m.Weight})
		}
		glog := log.Named("balancer").With(zap.String("group", gc.Name))
		g := balancer.NewGroup(balancer.GroupConfig{
			Name:            gc.Name,
			Mode:            balancer.Mode(gc.Mode),
			Members:         ms,
			RetryOn:         statuses(gc.RetryOn),
			FailureStatuses: statuses(gc.Breaker.Statuses),
			MaxAttempts:     gc.MaxAttempts,
			QueueTimeout:    gc.QueueTimeout,
			ResubmitUnknown: gc.ResubmitUnknown,
			StickyTTL:       gc.StickyTTL,
			Breaker: balancer.BreakerConfig{
				Failures:    gc.Breaker.Failures,
				ErrorRate:   gc.Breaker.ErrorRate,
				MinRequests: gc.Breaker.MinRequests,
				Window:      gc.Breaker.Window,
				Cooldown:    gc.Breaker.Cooldown,
				Probes:      gc.Breaker.Probes,
				SlowStart:   gc.Breaker.SlowStart,
			},
			OnFailover: func(from, reason string) {
				glog.Debug("failover", zap.String("upstream", from), zap.String("reason", reason))
			},
			OnBreaker: func(member string, from, to balancer.BreakerState) {
				glog.Warn("circuit breaker changed", zap.String("upstream", member),
					zap.Stringer("from", from), zap.Stringer("to", to))
			},
		})
		d.Groups[gc.Name] = g
		for _, m := range gc.Members {
			groupsOf[m.Upstream] = append(groupsOf[m.Upstream], g)
		}
	}
	idReaders := make(map[string]*dlr.IDReader, len(cfg.Upstreams))
	for _, uc := range cfg.Upstreams {
		form, auto, err := dlr.ParseIDForm(uc.IDFormat)
		if err != nil {
			return nil, fmt.Errorf("upstream %s: %w", uc.Name, err)
		}
		idReaders[uc.Name] = dlr.NewIDReader(form, auto)
	}
	members := make(map[string]balancer.Member, len(d.Upstreams))
	for name, u := range d.Upstreams {
		members[name] = u
	}
	var moRouter *router.Router[string]
	if len(cfg.MORoutes) > 0 {
		var mo []router.Route[string]
		for _, rc := range cfg.MORoutes {
			mo = append(mo, router.Route[string]{
				Clients:           rc.Upstreams,
				DestinationPrefix: rc.DestinationPrefix,
				SourcePrefix:      rc.SourcePrefix,
				Target:            rc.Client,
			})
		}
		moRouter = router.New(mo)
	}
	var routes []router.Route[*balancer.Group]
	for i, rc := range cfg.Routes {
		g, ok := d.Groups[rc.Group]
		if !ok {
			return nil, fmt.Errorf("routes[%d]: unknown group %q", i, rc.Group)
		}
		routes = append(routes, router.Route[*balancer.Group]{
			Clients:           rc.Clients,
			DestinationPrefix: rc.DestinationPrefix,
			SourcePrefix:      rc.SourcePrefix,
			ServiceType:       rc.ServiceType,
			Target:            g,
		})
	}
	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	store, err := dlr.OpenPebble(dlr.PebbleConfig{Dir: filepath.Join(cfg.StateDir, "dlr"), Logger: log.Named("store")})
	if err != nil {
		return nil, err
	}
	d.store = store
	d.Relay = relay.New(relay.Config{
		Router:      router.New(routes),
		MORouter:    moRouter,
		Members:     members,
		IDReaders:   idReaders,
		Registry:    registry,
		Store:       store,
		MappingTTL:  cfg.Receipts.MappingTTL,
		ParkTimeout: cfg.Receipts.WaitForMapping,
		Outbox: dlr.OutboxConfig{
			MaxItems: cfg.Receipts.OutboxMaxItems,
			MaxAge:   cfg.Receipts.OutboxMaxAge,
			RetryMin: cfg.Receipts.RetryMin,
			RetryMax: cfg.Receipts.RetryMax,
		},
		IDs:           dlr.NewIDs(time.Now()),
		IDFormats:     formats,
		SubmitTimeout: cfg.Server.SubmitTimeout,
		NoRouteStatus: pdu.Status(config.Status(cfg.Server.NoRouteStatus)),
		GroupsOf:      func(upstream string) []*balancer.Group { return groupsOf[upstream] },
		Logger:        log.Named("relay"),
	})
	h.h = d.Relay
	d.Server = &smppserver.Server{
		Auth:                relay.NewAuth(cfg.Clients),
		Handler:             d.Relay,
		Logger:              log.Named("smppserver"),
		Registry:            registry,
		BindTimeout:         cfg.Server.BindTimeout,
		EnquireLinkInterval: cfg.Server.EnquireLinkInterval,
		InactivityTimeout:   cfg.Server.InactivityTimeout,
		ResponseTimeout:     cfg.Server.ResponseTimeout,
		WriteTimeout:        cfg.Server.WriteTimeout,
	}
	return d, nil
}

// lateHandler forwards to a DeliverHandler set after the upstreams exist.
type lateHandler struct{ h upstream.DeliverHandler }

func (l *lateHandler) HandleDeliver(u *upstream.Upstream, f pdu.Frame, ack func(pdu.Status)) {
	l.h.HandleDeliver(u, f, ack)
}

// Start listens on the configured SMPP address, starts the upstreams and
// serves clients.
func (d *Daemon) Start() error {
	n, err := d.Relay.Outbox().Restore()
	if err != nil {
		return fmt.Errorf("loading the outboxes: %w", err)
	}
	if n > 0 {
		d.log.Info("receipts and messages waiting for clients restored", zap.Int("count", n))
	}
	l, err := net.Listen("tcp", d.cfg.Listen.SMPP)
	if err != nil {
		return fmt.Errorf("listen smpp %s: %w", d.cfg.Listen.SMPP, err)
	}
	d.listener = l
	for _, u := range d.Upstreams {
		u.Start()
	}
	d.serveErr = make(chan error, 1)
	go func() { d.serveErr <- d.Server.Serve(l) }()
	d.log.Info("smppmux listening", zap.Stringer("smpp", l.Addr()),
		zap.Int("clients", len(d.cfg.Clients)), zap.Int("upstreams", len(d.Upstreams)))
	return nil
}

// Addr returns the SMPP listener's address.
func (d *Daemon) Addr() net.Addr { return d.listener.Addr() }

// Err returns a channel that receives the accept loop's error if it stops
// on its own.
func (d *Daemon) Err() <-chan error { return d.serveErr }

// Shutdown stops accepting binds, lets in-flight submits finish, unbinds
// clients, then upstreams, within ctx.
func (d *Daemon) Shutdown(ctx context.Context) error {
	var errs []error
	d.stopOnce.Do(func() {
		d.log.Info("shutting down")
		if err := d.Server.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("clients: %w", err))
		}
		if d.serveErr != nil {
			if err := <-d.serveErr; err != nil && !errors.Is(err, smppserver.ErrServerClosed) {
				errs = append(errs, err)
			}
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, u := range d.Upstreams {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := u.Stop(ctx); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("upstream %s: %w", u.Name(), err))
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		for _, g := range d.Groups {
			g.Stop()
		}
		d.Relay.Close()
		if err := d.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("store: %w", err))
		}
	})
	return errors.Join(errs...)
}

// statuses converts validated command_status names. nil stays nil, so
// the balancer's default applies; an empty list stays empty: none.
func statuses(names []string) []pdu.Status {
	if names == nil {
		return nil
	}
	out := make([]pdu.Status, len(names))
	for i, n := range names {
		out[i] = pdu.Status(config.Status(n))
	}
	return out
}
