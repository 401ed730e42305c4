package daemon

import (
	"fmt"
	"slices"
	"sync"

	"go.uber.org/zap/zapcore"

	"github.com/smppmux/smppmux/admin"
)

// recentKeep is how many warnings and errors the status page can show.
const recentKeep = 50

// recentLog keeps the last warnings and errors logged, for the status
// page; a line that repeats the one before it (same logger and message)
// counts instead of taking a place.
type recentLog struct {
	mu      sync.Mutex
	entries []admin.LogEntry // oldest first, at most recentKeep
}

// list returns the entries, newest first.
func (r *recentLog) list() []admin.LogEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]admin.LogEntry, len(r.entries))
	for i, e := range r.entries {
		out[len(out)-1-i] = e
	}
	return out
}

func (r *recentLog) add(e admin.LogEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.entries); n > 0 {
		last := &r.entries[n-1]
		if last.Logger == e.Logger && last.Message == e.Message && last.Level == e.Level {
			last.Time, last.Fields = e.Time, e.Fields
			last.Count++
			return
		}
	}
	if len(r.entries) == recentKeep {
		r.entries = slices.Delete(r.entries, 0, 1)
	}
	e.Count = 1
	r.entries = append(r.entries, e)
}

// recentCore is a zapcore.Core that gives the warnings and errors written
// through it, with their fields, to a recentLog. What smppmux logs holds
// neither passwords nor message text, and never at these levels.
type recentCore struct {
	log    *recentLog
	fields []zapcore.Field
}

func (c *recentCore) Enabled(l zapcore.Level) bool { return l >= zapcore.WarnLevel }

func (c *recentCore) With(fs []zapcore.Field) zapcore.Core {
	return &recentCore{log: c.log, fields: append(slices.Clip(c.fields), fs...)}
}

func (c *recentCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *recentCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fs {
		f.AddTo(enc)
	}
	fields := make(map[string]string, len(enc.Fields))
	for k, v := range enc.Fields {
		fields[k] = fmt.Sprint(v)
	}
	c.log.add(admin.LogEntry{Time: e.Time, Level: e.Level.String(), Logger: e.LoggerName, Message: e.Message, Fields: fields})
	return nil
}

func (c *recentCore) Sync() error { return nil }
