package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"
)

// ErrStopped is returned by Go once Stop began: the work was not started.
var ErrStopped = errors.New("lifecycle: stopping, nothing new starts")

// Tracker owns goroutines and timers. The zero value is not usable: call
// New.
type Tracker struct {
	log    *zap.Logger
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	stopping bool
	wg       sync.WaitGroup
	timers   map[*Timer]struct{} // armed, not fired yet
	running  map[string]int      // goroutines and fired timers, by name
	panics   int
	active   int // goroutines and fired timers running
}

// New returns a Tracker that logs recovered panics to log (nil: none).
func New(log *zap.Logger) *Tracker {
	if log == nil {
		log = zap.NewNop()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Tracker{log: log, ctx: ctx, cancel: cancel,
		timers: make(map[*Timer]struct{}), running: make(map[string]int)}
}

// Go runs fn(ctx) in a goroutine the Tracker owns; ctx is cancelled when
// Stop begins. A panic in fn is recovered and logged with its stack. Once
// Stop began Go starts nothing and returns ErrStopped.
func (t *Tracker) Go(name string, fn func(ctx context.Context)) error {
	if !t.enter(name) {
		return ErrStopped
	}
	go func() {
		defer t.leave(name)
		defer t.Recover(name, nil)
		fn(t.ctx)
	}()
	return nil
}

// Timer is a timer started by AfterFunc.
type Timer struct {
	t    *Tracker
	name string
	fn   func()
	// Guarded by Tracker.mu: each Reset arms a new runtime timer, and a
	// firing of an older one (that lost the race with Reset) is ignored.
	tm  *time.Timer
	gen uint64
}

// AfterFunc calls fn after d, as time.AfterFunc does, unless the timer is
// stopped first or Stop began: a timer that has not fired when Stop begins
// never fires. A panic in fn is recovered and logged with its stack.
// Once Stop began AfterFunc arms nothing and returns nil; Stop and Reset
// of a nil *Timer do nothing.
func (t *Tracker) AfterFunc(name string, d time.Duration, fn func()) *Timer {
	tm := &Timer{t: t, name: name, fn: fn}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopping {
		return nil
	}
	t.timers[tm] = struct{}{}
	tm.armLocked(d)
	return tm
}

func (tm *Timer) armLocked(d time.Duration) {
	tm.gen++
	gen := tm.gen
	tm.tm = time.AfterFunc(d, func() { tm.fire(gen) })
}

func (tm *Timer) fire(gen uint64) {
	t := tm.t
	t.mu.Lock()
	if _, armed := t.timers[tm]; !armed || t.stopping || gen != tm.gen {
		// Stopped or reset meanwhile, or the Tracker is stopping.
		t.mu.Unlock()
		return
	}
	delete(t.timers, tm)
	t.enterLocked(tm.name)
	t.mu.Unlock()
	defer t.leave(tm.name)
	defer t.Recover(tm.name, nil)
	tm.fn()
}

// Stop stops the timer and reports whether it stopped it before it fired.
func (tm *Timer) Stop() bool {
	if tm == nil {
		return false
	}
	tm.t.mu.Lock()
	defer tm.t.mu.Unlock()
	return tm.disarmLocked()
}

// Reset arms the timer again to fire after d, as time.Timer.Reset, and
// reports whether it had been armed. Once the Tracker is stopping it arms
// nothing.
func (tm *Timer) Reset(d time.Duration) bool {
	if tm == nil {
		return false
	}
	t := tm.t
	t.mu.Lock()
	defer t.mu.Unlock()
	armed := tm.disarmLocked()
	if !t.stopping {
		t.timers[tm] = struct{}{}
		tm.armLocked(d)
	}
	return armed
}

// disarmLocked stops the timer and reports whether it was armed. Called
// with Tracker.mu held.
func (tm *Timer) disarmLocked() bool {
	_, armed := tm.t.timers[tm]
	delete(tm.t.timers, tm)
	tm.tm.Stop()
	return armed
}

func (t *Tracker) enter(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopping {
		return false
	}
	t.enterLocked(name)
	return true
}

func (t *Tracker) enterLocked(name string) {
	t.running[name]++
	t.active++
	t.wg.Add(1)
}

func (t *Tracker) leave(name string) {
	t.mu.Lock()
	if t.running[name]--; t.running[name] == 0 {
		delete(t.running, name)
	}
	t.active--
	t.mu.Unlock()
	t.wg.Done()
}

// Recover, deferred, recovers a panic of the work named name: it logs
// it with its stack, counts it and calls onPanic (when not nil) with an
// error saying what panicked, so that the caller closes what the work
// belonged to, and no more. Use it wherever work enters a goroutine that
// is not its own (a store's committer calling back, a dispatcher
// delivering to a session).
func (t *Tracker) Recover(name string, onPanic func(err error)) {
	r := recover()
	if r == nil {
		return
	}
	err := t.Panicked(name, r)
	if onPanic != nil {
		onPanic(err)
	}
}

// Panicked logs and counts the panic v that a caller's own deferred
// function recovered in the work named name, and returns an error saying
// so. Such a function, calling recover itself, costs no closure where
// Recover's onPanic would.
func (t *Tracker) Panicked(name string, v any) error {
	t.mu.Lock()
	t.panics++
	t.mu.Unlock()
	t.log.Error("panic recovered: only what it belonged to is closed",
		zap.String("work", name), zap.Any("panic", v), zap.ByteString("stack", debug.Stack()))
	return fmt.Errorf("panic in %s: %v", name, v)
}

// Stop begins the end: nothing new starts, the timers not fired yet never
// fire, the context of Go's goroutines is cancelled, and Stop waits for
// the goroutines and the timers' functions running, until ctx is done.
func (t *Tracker) Stop(ctx context.Context) error {
	t.mu.Lock()
	t.stopping = true
	for tm := range t.timers {
		tm.tm.Stop()
	}
	clear(t.timers)
	t.mu.Unlock()
	t.cancel()
	done := make(chan struct{})
	go func() {
		t.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		select {
		case <-done:
			return nil // both ready: the work ended
		default:
		}
		c := t.Counts()
		return fmt.Errorf("lifecycle: %d still running (%v): %w", c.Running, c.runningNames(), ctx.Err())
	}
}

// Stopping reports whether Stop began.
func (t *Tracker) Stopping() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stopping
}

// Counts is what a Tracker holds now.
type Counts struct {
	Running int            `json:"running"`           // goroutines and timers' functions running
	Timers  int            `json:"timers"`            // timers armed, not fired yet
	Panics  int            `json:"panics"`            // panics recovered since New
	ByName  map[string]int `json:"by_name,omitempty"` // running, by name
}

func (c Counts) runningNames() []string {
	names := make([]string, 0, len(c.ByName))
	for n, k := range c.ByName {
		names = append(names, fmt.Sprintf("%s=%d", n, k))
	}
	sort.Strings(names)
	return names
}

// Counts returns what the Tracker holds now, for the status API.
func (t *Tracker) Counts() Counts {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := Counts{Running: t.active, Timers: len(t.timers), Panics: t.panics}
	if len(t.running) > 0 {
		c.ByName = make(map[string]int, len(t.running))
		for n, k := range t.running {
			c.ByName[n] = k
		}
	}
	return c
}
