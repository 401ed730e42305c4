//go:build chaos && linux

package chaos

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// storeDetect is how smppmux reacted to a store fault starting at t0:
// /readyz 503, refusals, or its exit.
func (r *run) storeDetect(t0, t1 time.Time) string {
	var parts []string
	if s, ok := r.ready.first(t0, http.StatusServiceUnavailable); ok && s.at.Before(t1.Add(time.Second)) {
		parts = append(parts, "503 "+since(s.at.Sub(t0)))
		for _, b := range r.ready.bodies(t0, t1.Add(time.Second)) {
			r.note("/readyz during the fault: %q", b)
		}
	}
	if s, ok := r.load.firstRefusal(t0); ok && s.done.Before(t1.Add(time.Second)) {
		parts = append(parts, "refusals "+since(s.done.Sub(t0)))
	}
	if ex := r.exitsSince(t0); len(ex) > 0 {
		parts = append(parts, "exited "+since(ex[0].at.Sub(t0)))
	}
	if e, ok := r.log.first(t0, func(e logEvent) bool { return e.level == "error" || e.level == "fatal" || e.level == "raw" }); ok {
		n := r.log.count(t0, t1, func(x logEvent) bool { return x.msg == e.msg })
		r.note("first error logged %s: %q%s (%d such lines during the fault)", since(e.at.Sub(t0)), clip(e.msg, 160), errSuffix(e.err), n)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// carrierDetect is how soon smppmux gave up carrier-a's bind after the
// fault began at t0, and notes when it bound again after the fault ended
// at t1.
func (r *run) carrierDetect(t0, t1 time.Time) string {
	e, ok := r.log.first(t0, msgIs("upstream bind lost", "carrier-a"))
	if !ok || e.at.After(t1) {
		return "bind kept"
	}
	d := e.at.Sub(t0)
	target := ""
	if d-r.injectTook > deadLinkTarget {
		target = fmt.Sprintf(", over the target of %s (response_timeout + 2 s) even less the %s the fault took to put in place",
			deadLinkTarget, r.injectTook.Round(time.Millisecond))
	}
	r.note("carrier-a's bind lost %s after the fault%s%s", since(d), errSuffix(e.err), target)
	if b, ok := r.log.first(t1, msgIs("upstream bound", "carrier-a")); ok {
		r.note("carrier-a bound again %s after the fault ended", since(b.at.Sub(t1)))
	} else {
		r.note("carrier-a did not bind again before the end")
	}
	return "bind lost " + since(d)
}

// deadLinkTarget is how soon a blackholed or hung carrier link should be
// closed: the upstreams' response_timeout (2s) plus 2 s.
const deadLinkTarget = 4 * time.Second

// faultScenario runs the common shape: load, fault for faultFor, end of
// the fault, recovery, receipts. inject and end apply and remove the
// fault; detect describes smppmux's reaction.
func (r *run) faultScenario(inject, end func() error, detect func(t0, t1 time.Time) string) {
	r.startLoad()
	go r.superviseMux()
	r.pause(warmup)
	t0 := time.Now()
	r.logFrom = t0
	if err := inject(); err != nil {
		r.t.Fatalf("injecting the fault: %v", err)
	}
	r.injectTook = time.Since(t0)
	r.pause(faultFor)
	t1 := time.Now()
	if err := end(); err != nil {
		r.t.Fatalf("ending the fault: %v", err)
	}
	d, ok := r.awaitRecovery(t1)
	until := t1.Add(afterFault)
	if ok && t1.Add(d+3*time.Second).After(until) {
		until = t1.Add(d + 3*time.Second)
	}
	tl := r.finishLoad(until)
	if worst, n := r.load.slowest(t0, t1); n > 0 {
		r.note("slowest answer to a submit sent during the fault: %.2f s", worst.Seconds())
	}
	ex := r.exitsSince(t0)
	if len(ex) > 0 {
		r.fail("smppmux exited %d times (first %s after the fault: %s); it was started again %s after each exit, as Restart=on-failure does",
			len(ex), since(ex[0].at.Sub(t0)), ex[0].text, restartDelay)
	}
	r.report(tl, detect(t0, t1), r.recoveredText(d, ok, len(ex)), ok, false)
}

// fault is a scenario of the common shape (faultScenario).
type fault struct {
	n      int
	name   string
	needs  []string // prerequisites beyond the namespaces: see need
	store  string   // pebble or redis
	onDisk bool     // state_dir on a loop-mounted filesystem
	inject func(r *run) error
	end    func(r *run) error
	detect func(r *run, t0, t1 time.Time) string
}

var faults = []fault{
	{n: 1, name: "carrier blackholed 10s", needs: []string{"iptables"}, store: "pebble",
		inject: func(*run) error { return blackhole(nsA) },
		end:    func(*run) error { return heal(nsA) },
		detect: (*run).carrierDetect},
	{n: 2, name: "carrier 30% loss 10s", needs: []string{"iptables"}, store: "pebble",
		inject: func(*run) error { return lossy(nsA, 0.3) },
		end:    func(*run) error { return heal(nsA) },
		detect: (*run).carrierDetect},
	{n: 3, name: "SMSC hung (SIGSTOP) 10s", store: "pebble",
		inject: func(r *run) error { return r.simA.signal(syscall.SIGSTOP) },
		end:    func(r *run) error { return r.simA.signal(syscall.SIGCONT) },
		detect: (*run).carrierDetect},
	{n: 4, name: "Redis killed, back 10s later", needs: []string{"redis"}, store: "redis",
		inject: func(r *run) error {
			if err := r.redis.signal(syscall.SIGKILL); err != nil {
				return err
			}
			<-r.redis.done
			return nil
		},
		end: func(r *run) error {
			p, err := startRedis(r.ctx, r.dir)
			r.redis = p
			return err
		},
		detect: (*run).storeDetect},
	{n: 5, name: "Redis blackholed 10s", needs: []string{"redis", "iptables"}, store: "redis",
		inject: func(*run) error { return blackhole(nsRedis) },
		end:    func(*run) error { return heal(nsRedis) },
		detect: (*run).storeDetect},
	{n: 6, name: "state_dir full 10s", needs: []string{"disk"}, store: "pebble", onDisk: true,
		inject: func(r *run) error {
			n, err := r.disk.fill()
			r.note("filled state_dir with %d MiB: 0 bytes free", n>>20)
			return err
		},
		end:    func(r *run) error { return r.disk.free() },
		detect: (*run).storeDetect},
	{n: 7, name: "state_dir read-only 10s", needs: []string{"disk"}, store: "pebble", onDisk: true,
		inject: func(r *run) error { return r.disk.readOnly() },
		end: func(r *run) error {
			lazy, err := r.disk.readWrite()
			if lazy {
				r.note("state_dir's filesystem was still held open when it was made writable again: unmounted lazily, and mounted anew")
			} else {
				r.note("state_dir's filesystem was unmounted (nothing held it) and mounted anew")
			}
			return err
		},
		detect: (*run).storeDetect},
	{n: 10, name: "carrier delayed 300ms 10s", needs: []string{"netem"}, store: "pebble",
		inject: func(*run) error { return delay(nsA) },
		end:    func(*run) error { return undelay(nsA) },
		detect: (*run).carrierDetect},
}

// TestFaults runs scenarios 1 to 7: carrier links, the SMSC, Redis and
// state_dir failing for faultFor under load.
func TestFaults(t *testing.T) {
	for _, f := range faults {
		t.Run(fmt.Sprintf("%d-%s", f.n, f.name), func(t *testing.T) {
			need(t, f.n, f.name, f.needs...)
			r := setup(t, f.n, f.name, f.store, f.onDisk)
			r.faultScenario(
				func() error { return f.inject(r) },
				func() error { return f.end(r) },
				func(t0, t1 time.Time) string { return f.detect(r, t0, t1) })
		})
	}
}

// TestRestartDiskFull, scenario 8, stops smppmux, fills state_dir, and starts it
// on the full disk: it must come up not ready, log the condition at a
// modest rate, stop on SIGTERM within its grace, and once started again
// get ready by itself when space returns, delivering the receipts owed.
func TestRestartDiskFull(t *testing.T) {
	const name = "restart on a full state_dir"
	need(t, 8, name, "disk")
	r := setup(t, 8, name, "pebble", true)
	r.startLoad()
	r.pause(warmup)
	if d, killed := r.m().stop(stopGrace); killed {
		t.Fatalf("smppmux did not stop within %s of SIGTERM before the disk was filled", d.Round(time.Millisecond))
	}
	n, err := r.disk.fill()
	if err != nil {
		t.Fatal(err)
	}
	r.note("filled state_dir with %d MiB after a graceful stop: 0 bytes free", n>>20)

	// Started on the full disk: watch it for a while.
	const watch = 6 * time.Second
	t0 := time.Now()
	r.logFrom = t0
	r.start()
	r.pause(watch)
	t1 := time.Now()
	alive := !r.m().exited()
	cpu := r.m().cpu()
	lines := r.log.count(t0, t1, nil)
	loud := r.log.count(t0, t1, func(e logEvent) bool { return e.level != "info" && e.level != "debug" })
	var detect []string
	switch rs, ok := r.ready.polledSince(t0, http.StatusServiceUnavailable); {
	case ok:
		detect = append(detect, "503 "+since(rs.at.Sub(t0)))
		for _, b := range r.ready.bodies(t0, t1) {
			r.note("/readyz on the full disk: %q", b)
		}
	default:
		if rs, ok := r.ready.polledSince(t0, http.StatusOK); ok {
			detect = append(detect, "ready on a full disk "+since(rs.at.Sub(t0)))
			r.fail("/readyz answered 200 on a full disk")
		} else {
			detect = append(detect, "no /readyz")
			r.fail("not listening: /readyz never answered in %s on the full disk", watch)
		}
	}
	r.note("on the full disk for %s: %d log lines (%.0f/s), %d above info; CPU %.0f%% of one core",
		watch, lines, float64(lines)/watch.Seconds(), loud, 100*cpu.Seconds()/watch.Seconds())
	if loud > int(watch.Seconds()) {
		r.fail("%d warn/error lines in %s: more than one a second", loud, watch)
	}
	if !alive {
		detect = append(detect, "exited")
		r.fail("exited on the full disk: %s", r.m().exitText())
	}
	if e, ok := r.log.first(t0, func(e logEvent) bool { return e.level == "error" || e.level == "warn" || e.level == "raw" }); ok {
		r.note("first complaint %s: %q%s", since(e.at.Sub(t0)), clip(e.msg, 160), errSuffix(e.err))
	}
	took, killed := r.m().stop(stopGrace)
	if killed {
		detect = append(detect, fmt.Sprintf("SIGTERM ignored %s", stopGrace))
		r.fail("did not stop within %s of SIGTERM on the full disk (killed)", stopGrace)
	} else {
		detect = append(detect, "SIGTERM "+since(took))
	}

	// Started again on the full disk; space returns 3 s later.
	r.start()
	r.pause(3 * time.Second)
	tFree := time.Now()
	if err := r.disk.free(); err != nil {
		t.Fatal(err)
	}
	d, ok := r.awaitRecovery(tFree)
	until := tFree.Add(afterFault)
	if ok && tFree.Add(d+3*time.Second).After(until) {
		until = tFree.Add(d + 3*time.Second)
	}
	tl := r.finishLoad(until)
	r.report(tl, strings.Join(detect, ", "), r.recoveredText(d, ok, 0), ok, false)
}

// TestKill9, scenario 9, kills smppmux with SIGKILL under load and starts it
// again at once: receipts may come twice, none may be lost.
func TestKill9(t *testing.T) {
	const name = "smppmux kill -9, restarted"
	need(t, 9, name)
	r := setup(t, 9, name, "pebble", false)
	r.startLoad()
	r.pause(warmup)
	t0 := time.Now()
	r.logFrom = t0
	if err := r.m().signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-r.m().done
	r.start()
	t1 := time.Now()
	detect := "not listening"
	lctx, cancel := context.WithTimeout(r.ctx, recoverWait)
	if e, ok := r.log.wait(lctx, t1, msgIs("smppmux listening", "")); ok {
		detect = "listening " + since(e.at.Sub(t0))
	}
	cancel()
	d, ok := r.awaitRecovery(t1)
	until := t1.Add(afterFault)
	if ok && t1.Add(d+3*time.Second).After(until) {
		until = t1.Add(d + 3*time.Second)
	}
	tl := r.finishLoad(until)
	r.report(tl, detect, r.recoveredText(d, ok, 0), ok, true)
}
