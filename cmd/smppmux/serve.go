package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/dlr/redisstore"
	"github.com/smppmux/smppmux/internal/buildinfo"
	"github.com/smppmux/smppmux/internal/daemon"
	"github.com/smppmux/smppmux/internal/sdnotify"
)

// shutdownTimeout bounds a graceful stop: in-flight submits, unbinds.
const shutdownTimeout = 30 * time.Second

// serve runs the daemon on the configuration file at path until ctx is
// done.
func serve(ctx context.Context, path string, stderr io.Writer) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	level := zap.NewAtomicLevel()
	log, err := newLogger(cfg.Log, level, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	bi := buildinfo.Get()
	log.Info("smppmux starting", zap.String("version", bi.Version), zap.String("commit", bi.Commit),
		zap.String("go", bi.GoVersion), zap.String("config", path))
	redisstore.SetLogger(log.Named("store").Named("redis"))

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var d *daemon.Daemon
	d, err = daemon.New(cfg, log, daemon.Options{
		Level:    &level,
		Registry: reg,
		// The admin API logs the outcome of its reloads, with the
		// caller's address: one line, not two.
		Reload: func() error { return reloadFile(d, path, zap.NewNop()) },
	})
	if err != nil {
		return err
	}
	// SIGHUP is caught before the listeners open: one sent as soon as
	// smppmux listens would otherwise end the process (its default).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := d.Start(); err != nil {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		_ = d.Shutdown(sctx)
		return err
	}
	reload := func() error {
		_ = sdnotify.Reloading()
		defer func() { _ = sdnotify.Ready() }()
		return reloadFile(d, path, log)
	}
	if err := sdnotify.Ready(); err != nil {
		log.Warn("telling systemd we are ready failed", zap.Error(err))
	}
	// The watchdog is fed from this loop, so a wedged loop is noticed.
	var watchdog <-chan time.Time
	if iv, ok := sdnotify.WatchdogInterval(); ok {
		t := time.NewTicker(iv / 2)
		defer t.Stop()
		watchdog = t.C
	}

	var runErr error
loop:
	for {
		select {
		case <-watchdog:
			_ = sdnotify.Watchdog()
		case <-hup:
			_ = reload()
		case err := <-d.Err():
			runErr = fmt.Errorf("smpp listener stopped: %w", err)
			break loop
		case <-ctx.Done():
			log.Info("stop signal received")
			break loop
		}
	}
	_ = sdnotify.Stopping()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := d.Shutdown(sctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Warn("graceful stop incomplete", zap.Error(err))
		if runErr == nil {
			runErr = err
		}
	}
	if runErr == nil {
		log.Info("stopped")
	}
	return runErr
}

// reloadFile reads the configuration file again and applies it. An
// invalid file, or a change that needs a restart, keeps the running
// configuration; either way the outcome is logged to log, and returned.
func reloadFile(d *daemon.Daemon, path string, log *zap.Logger) error {
	cfg, err := config.Load(path)
	if err != nil {
		log.Error("reload refused: invalid configuration, the running one stays", zap.Error(err))
		d.ReloadRefused()
		return err
	}
	ch, err := d.Apply(cfg)
	if err != nil {
		log.Error("reload refused, the running configuration stays", zap.Error(err))
		return err
	}
	log.Info("reload applied", zap.Int("changes", len(ch.Live)))
	return nil
}

// newLogger builds the process logger: JSON when stderr is not a terminal
// (systemd, a pipe), console lines when it is, unless cfg says otherwise.
// level starts at cfg's level and is what a reload changes.
func newLogger(cfg config.Log, level zap.AtomicLevel, w io.Writer) (*zap.Logger, error) {
	l, err := zapcore.ParseLevel(cfg.Level)
	if err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	level.SetLevel(l)
	format := cfg.Format
	if format == config.FormatAuto || format == "" {
		format = config.FormatJSON
		if f, ok := w.(*os.File); ok && isTerminal(f) {
			format = config.FormatConsole
		}
	}
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	// Durations with their unit ("1.5s", "250ms"), never a bare number.
	ec.EncodeDuration = zapcore.StringDurationEncoder
	var enc zapcore.Encoder
	if format == config.FormatConsole {
		ec.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	} else {
		enc = zapcore.NewJSONEncoder(ec)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), level)
	return zap.New(core), nil
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
