package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/smppmux/smppmux/config"
	"github.com/smppmux/smppmux/internal/daemon"
)

// shutdownTimeout bounds a graceful stop: in-flight submits, unbinds.
const shutdownTimeout = 30 * time.Second

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("smppmux", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "/etc/smppmux/config.yaml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	d, err := daemon.New(cfg, log)
	if err != nil {
		return err
	}
	if err := d.Start(); err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			log.Warn("SIGHUP received: live reload is not available in this version; restart to apply changes")
			continue
		case err := <-d.Err():
			sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			_ = d.Shutdown(sctx)
			cancel()
			return fmt.Errorf("smpp listener stopped: %w", err)
		case <-ctx.Done():
		}
		break
	}
	log.Info("stop signal received")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := d.Shutdown(sctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Warn("graceful stop incomplete", zap.Error(err))
		return err
	}
	log.Info("stopped")
	return nil
}

// newLogger builds the process logger: JSON when stderr is not a terminal
// (systemd, a pipe), console lines when it is, unless cfg says otherwise.
func newLogger(cfg config.Log, w io.Writer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(cfg.Level)
	if err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	format := cfg.Format
	if format == config.FormatAuto || format == "" {
		format = config.FormatJSON
		if f, ok := w.(*os.File); ok && isTerminal(f) {
			format = config.FormatConsole
		}
	}
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
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
