package lifecycle

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestTimerFiresAndIsCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := New(nil)
		var fired atomic.Int32
		release := make(chan struct{})
		tr.AfterFunc("hold", time.Second, func() {
			fired.Add(1)
			<-release
		})
		if c := tr.Counts(); c.Timers != 1 || c.Running != 0 {
			t.Fatalf("armed: counts %+v, want 1 timer, 0 running", c)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if fired.Load() != 1 {
			t.Fatal("timer did not fire after its delay")
		}
		if c := tr.Counts(); c.Timers != 0 || c.Running != 1 || c.ByName["hold"] != 1 {
			t.Fatalf("firing: counts %+v, want 0 timers, 1 running named hold", c)
		}
		close(release)
		synctest.Wait()
		if c := tr.Counts(); c.Running != 0 {
			t.Fatalf("after: counts %+v, want nothing running", c)
		}
	})
}

func TestStopDropsUnfiredTimersAndWaitsForRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := New(nil)
		var late atomic.Bool
		tr.AfterFunc("late", time.Hour, func() { late.Store(true) })
		release := make(chan struct{})
		var ended atomic.Bool
		if err := tr.Go("worker", func(ctx context.Context) {
			<-ctx.Done()
			<-release
			ended.Store(true)
		}); err != nil {
			t.Fatal(err)
		}
		stopped := make(chan error, 1)
		go func() { stopped <- tr.Stop(context.Background()) }()
		synctest.Wait()
		select {
		case err := <-stopped:
			t.Fatalf("Stop returned (%v) while a goroutine ran", err)
		default:
		}
		if err := tr.Go("new", func(context.Context) {}); !errors.Is(err, ErrStopped) {
			t.Fatalf("Go after Stop began: %v, want ErrStopped", err)
		}
		if tm := tr.AfterFunc("new", time.Millisecond, func() { late.Store(true) }); tm != nil {
			t.Fatal("AfterFunc after Stop began armed a timer")
		}
		close(release)
		if err := <-stopped; err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if !ended.Load() {
			t.Fatal("Stop returned before the goroutine ended")
		}
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		if late.Load() {
			t.Fatal("a timer not fired at Stop fired later")
		}
	})
}

func TestStopHonoursContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := New(nil)
		release := make(chan struct{})
		defer close(release)
		_ = tr.Go("stuck", func(context.Context) { <-release })
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := tr.Stop(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Stop: %v, want the context's deadline", err)
		}
	})
}

func TestTimerStopAndReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := New(nil)
		var n atomic.Int32
		tm := tr.AfterFunc("x", time.Second, func() { n.Add(1) })
		if !tm.Stop() {
			t.Fatal("Stop of an armed timer reported false")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if n.Load() != 0 {
			t.Fatal("stopped timer fired")
		}
		if tm.Reset(time.Second) {
			t.Fatal("Reset of a stopped timer reported it armed")
		}
		tm.Reset(3 * time.Second) // moves it later
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if n.Load() != 0 {
			t.Fatal("timer fired at its earlier delay after a Reset")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n.Load() != 1 {
			t.Fatalf("timer fired %d times, want 1", n.Load())
		}
		var nilTimer *Timer
		nilTimer.Stop()
		nilTimer.Reset(time.Second)
	})
}

func TestPanicRecoveredAndLogged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		core, logs := observer.New(zap.ErrorLevel)
		tr := New(zap.New(core))
		tr.AfterFunc("boom-timer", time.Second, func() { panic("timer bug") })
		_ = tr.Go("boom-goroutine", func(context.Context) { panic("goroutine bug") })
		time.Sleep(time.Second)
		synctest.Wait()
		var got error
		func() {
			defer tr.Recover("callback", func(err error) { got = err })
			panic("callback bug")
		}()
		if got == nil || got.Error() != "panic in callback: callback bug" {
			t.Fatalf("onPanic got %v", got)
		}
		if c := tr.Counts(); c.Panics != 3 || c.Running != 0 {
			t.Fatalf("counts %+v, want 3 panics, nothing running", c)
		}
		entries := logs.All()
		if len(entries) != 3 {
			t.Fatalf("%d lines logged, want 3", len(entries))
		}
		for _, e := range entries {
			if _, ok := e.ContextMap()["stack"]; !ok {
				t.Errorf("line %q has no stack", e.Message)
			}
		}
		if err := tr.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}
