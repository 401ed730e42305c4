package pebblestore

import (
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// logLimit lets a line of a kind through at most once per interval,
// counting the ones it held back.
type logLimit struct {
	every time.Duration
	mu    sync.Mutex
	seen  map[string]*limitState
}

type limitState struct {
	last    time.Time
	skipped int
}

func newLogLimit(every time.Duration) *logLimit {
	return &logLimit{every: every, seen: make(map[string]*limitState)}
}

// allow reports whether a line of kind goes out now, and how many were
// held back since the last.
func (l *logLimit) allow(kind string) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	st := l.seen[kind]
	if st == nil {
		if len(l.seen) >= 256 {
			clear(l.seen)
		}
		st = &limitState{}
		l.seen[kind] = st
	} else if now.Sub(st.last) < l.every {
		st.skipped++
		return false, 0
	}
	n := st.skipped
	st.last, st.skipped = now, 0
	return true, n
}

// pebbleLogger sends Pebble's own messages to zap: information at debug,
// errors at most once a minute for each kind. Fatalf does not end the
// process: it fences the database, whose store then fails its writes and
// opens it again, and returns.
type pebbleLogger struct {
	l     *zap.Logger
	limit *logLimit
	fence *fence
}

func (p pebbleLogger) Infof(format string, args ...any) { p.l.Sugar().Debugf(format, args...) }

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.limited(zap.ErrorLevel, "pebble: "+format, fmt.Errorf(format, args...))
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	err := fmt.Errorf(format, args...)
	p.fence.trip(err, true)
	p.limited(zap.ErrorLevel, "pebble: fatal error: the store's writes stop until the database is opened again", err)
}

// limited logs msg with err, at most once per the limit's interval for
// each msg.
func (p pebbleLogger) limited(level zapcore.Level, msg string, err error) {
	ok, n := p.limit.allow(msg)
	if !ok {
		return
	}
	if ce := p.l.Check(level, msg); ce != nil {
		ce.Write(zap.Error(err), zap.Int("more_since_last_line", n))
	}
}
