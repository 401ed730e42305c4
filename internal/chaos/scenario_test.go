//go:build chaos && linux

package chaos

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The shape of every scenario.
const (
	loadRate   = 1000            // messages per second, each asking for a receipt
	loadWindow = 500             // the client's outstanding submits
	warmup     = 3 * time.Second // load before the fault
	faultFor   = 10 * time.Second
	// afterFault is how long the load goes on once the fault ends, at
	// least; it goes on past a late recovery, up to recoverWait.
	afterFault  = 8 * time.Second
	recoverWait = 30 * time.Second
	// answerWait bounds the wait for the answers owed once the load stops:
	// server.submit_timeout and a margin.
	answerWait = 35 * time.Second
	// Receipts are awaited until none came for receiptStall, or for
	// receiptMax after the answers.
	receiptStall = 10 * time.Second
	receiptMax   = 45 * time.Second
	// stopGrace is how long smppmux has to stop on SIGTERM: its own bound
	// on a graceful stop (cmd/smppmux shutdownTimeout).
	stopGrace = 30 * time.Second
)

// run is one scenario under way.
type run struct {
	t      *testing.T
	n      int
	name   string
	ctx    context.Context
	dir    string
	store  string // pebble or redis
	config string
	simA   *proc
	simB   *proc
	redis  *proc
	disk   *disk
	log    *muxLog
	ready  *readiness
	load   *load
	notes  []string
	fails  []string
	// logFrom is where the log summary of the row starts: the fault.
	logFrom time.Time
	// injectTook is how long putting the fault in place took (iptables
	// commands, a process's death): detection is measured from before it.
	injectTook time.Duration

	mu       sync.Mutex
	cur      *mux   // the smppmux process, the latest started
	exits    []exit // unrequested exits seen by supervise
	stopping bool   // teardown began: start nothing more
}

// exit is an exit of smppmux the scenario did not ask for.
type exit struct {
	at   time.Time
	text string
}

// restartDelay is how soon a supervised smppmux is started again after it
// exited: systemd/smppmux.service's RestartSec, with Restart=on-failure.
const restartDelay = 2 * time.Second

// setup starts the SMSCs, Redis when store is redis, a loop-mounted
// state_dir when onDisk, and smppmux, and waits until smppmux is ready
// with both carriers bound.
func setup(t *testing.T, n int, name, store string, onDisk bool) *run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	r := &run{t: t, n: n, name: name, ctx: ctx, store: store, log: newMuxLog(), ready: newReadiness()}
	r.dir = filepath.Join(env.dir, fmt.Sprintf("%d-%s", n, strings.ReplaceAll(name, " ", "-")))
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.teardown)
	var err error
	if r.simA, err = startSim(ctx, env.bin, r.dir, nsA); err != nil {
		t.Fatal(err)
	}
	if r.simB, err = startSim(ctx, env.bin, r.dir, nsB); err != nil {
		t.Fatal(err)
	}
	if store == "redis" {
		if r.redis, err = startRedis(ctx, r.dir); err != nil {
			t.Fatal(err)
		}
	}
	stateDir := filepath.Join(r.dir, "state")
	if onDisk {
		if r.disk, err = newDisk(r.dir); err != nil {
			t.Fatal(err)
		}
		stateDir = filepath.Join(r.disk.mnt, "smppmux")
	}
	r.config = filepath.Join(r.dir, "config.yaml")
	if err := os.WriteFile(r.config, []byte(muxConfig(stateDir, store)), 0o644); err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithCancel(context.Background())
	go r.ready.run(pctx)
	t.Cleanup(pcancel)
	r.start()
	r.waitReady(time.Now(), 30*time.Second)
	for _, up := range []string{"carrier-a", "carrier-b"} {
		if _, ok := r.log.first(time.Time{}, msgIs("upstream bound", up)); !ok {
			wctx, c := context.WithTimeout(ctx, 10*time.Second)
			_, ok = r.log.wait(wctx, time.Time{}, msgIs("upstream bound", up))
			c()
			if !ok {
				t.Fatalf("%s never bound; log in %s", up, r.dir)
			}
		}
	}
	return r
}

// muxConfig is smppmux's configuration: the defaults an operator runs,
// but for the carriers' response_timeout and enquire_link_interval,
// short enough for the faults to show within a scenario, and a client
// window that keeps a second of load in flight.
func muxConfig(stateDir, store string) string {
	st := ""
	if store == "redis" {
		st = fmt.Sprintf("store: {kind: redis, instance: 1, redis: {addrs: [%q]}}\n", redisAddr)
	}
	up := func(name string, n netns) string {
		return fmt.Sprintf("  - {name: %s, addr: %q, system_id: smppmux, password: secret, response_timeout: 2s, enquire_link_interval: 5s}\n",
			name, linkTo(n).peerAddr+":2775")
	}
	return fmt.Sprintf(`listen: {smpp: %q, admin: %q}
state_dir: %q
log: {level: info, format: json}
%sclients:
  - {system_id: %s, password: %s, window: %d}
upstreams:
%s%sgroups:
  - {name: main, mode: active-active, members: [{upstream: carrier-a}, {upstream: carrier-b}]}
routes:
  - {group: main}
`, muxSMPP, muxAdmin, stateDir, st, loadSystemID, loadPassword, loadWindow, up("carrier-a", nsA), up("carrier-b", nsB))
}

// start starts smppmux (again).
func (r *run) start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, err := startMux(env.bin, r.dir, r.config, r.log)
	if err != nil {
		r.t.Fatal(err)
	}
	r.cur = m
}

// m is the smppmux process started last.
func (r *run) m() *mux {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}

// superviseMux restarts smppmux restartDelay after each exit, as systemd
// does with the unit's Restart=on-failure (every exit here is a failure:
// only teardown stops it). It runs until teardown.
func (r *run) superviseMux() {
	for {
		m := r.m()
		select {
		case <-m.done:
		case <-r.ctx.Done():
			return
		}
		if !r.unlessStopping(func() { r.exits = append(r.exits, exit{at: m.at, text: m.exitText()}) }) {
			return
		}
		select {
		case <-time.After(restartDelay):
		case <-r.ctx.Done():
			return
		}
		// A start that fails leaves the exited process current: it is
		// counted again and retried after restartDelay.
		if !r.unlessStopping(func() {
			if nm, err := startMux(env.bin, r.dir, r.config, r.log); err == nil {
				r.cur = nm
			}
		}) {
			return
		}
	}
}

// unlessStopping runs fn under r.mu unless teardown began; it reports
// whether fn ran.
func (r *run) unlessStopping(fn func()) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopping {
		return false
	}
	fn()
	return true
}

// exitsSince returns the unrequested exits at or after t.
func (r *run) exitsSince(t time.Time) []exit {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []exit
	for _, e := range r.exits {
		if !e.at.Before(t) {
			out = append(out, e)
		}
	}
	return out
}

// waitReady waits for /readyz 200 at or after since.
func (r *run) waitReady(since time.Time, d time.Duration) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(r.ctx, d)
	defer cancel()
	if _, ok := r.ready.waitFor(ctx, since, http.StatusOK); !ok {
		r.t.Fatalf("smppmux not ready within %s (last /readyz: %d %q, process exited: %v); log in %s",
			d, r.ready.now().code, r.ready.now().body, r.m().exited(), r.dir)
	}
}

// teardown stops everything the scenario started.
func (r *run) teardown() {
	if r.load != nil {
		select {
		case <-r.load.stop:
		default:
			r.load.stopLoad(time.Second)
		}
		r.load.closeLoad()
	}
	r.mu.Lock()
	r.stopping = true
	m := r.cur
	r.mu.Unlock()
	if m != nil {
		m.stop(5 * time.Second)
	}
	for _, p := range []*proc{r.simA, r.simB, r.redis} {
		if p != nil {
			p.stop(5 * time.Second)
		}
	}
	for _, n := range []netns{nsA, nsB, nsRedis} {
		if env.pre.iptabls == "" {
			_ = heal(n)
		}
	}
	if r.disk != nil {
		r.disk.close()
	}
	// The logs and the configuration stay; the data goes.
	_ = os.RemoveAll(filepath.Join(r.dir, "state"))
	_ = os.RemoveAll(filepath.Join(r.dir, "redis"))
}

// startLoad starts the client and waits until its messages are accepted.
func (r *run) startLoad() {
	r.t.Helper()
	r.load = newLoad(loadRate, loadWindow)
	t0 := time.Now()
	go r.load.run(r.ctx)
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	if _, ok := r.load.waitAccepted(ctx, t0); !ok {
		r.t.Fatalf("no message accepted within 10 s of the load's start (last bind error: %s)", r.load.bindErr)
	}
}

// pause lets a phase of the scenario run for d.
func (r *run) pause(d time.Duration) {
	select {
	case <-time.After(d):
	case <-r.ctx.Done():
	}
}

// awaitRecovery waits, from the end of the fault at t1, for smppmux to be
// ready again and for a message sent since then to have its receipt
// delivered (the simulated SMSCs send each receipt 500 ms after the
// response); it returns how long that took after t1.
func (r *run) awaitRecovery(t1 time.Time) (time.Duration, bool) {
	ctx, cancel := context.WithTimeout(r.ctx, recoverWait)
	defer cancel()
	from := t1
	for ctx.Err() == nil {
		rs, ok := r.ready.waitFor(ctx, from, http.StatusOK)
		if !ok {
			break
		}
		at, ok := r.load.waitReceipted(ctx, rs.at)
		if !ok {
			break
		}
		// Still ready when that receipt came?
		if r.ready.now().code == http.StatusOK {
			return at.Sub(t1), true
		}
		from = at
	}
	return 0, false
}

// finishLoad keeps the load going until at least until, then stops it,
// waits for answers and receipts, and closes the client.
func (r *run) finishLoad(until time.Time) tally {
	r.pause(time.Until(until))
	r.load.stopLoad(answerWait)
	t0 := time.Now()
	all := r.load.waitReceipts(receiptStall, receiptMax)
	if !all {
		r.note("receipts awaited %.0f s after the last answer (none came for %s at the end)",
			time.Since(t0).Seconds(), receiptStall)
	}
	r.load.closeLoad()
	return r.load.tally()
}

func (r *run) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

func (r *run) fail(format string, args ...any) {
	r.fails = append(r.fails, fmt.Sprintf(format, args...))
}

// since formats d after a reference as +1.23s.
func since(d time.Duration) string { return fmt.Sprintf("+%.2fs", d.Seconds()) }

// report adds the scenario's row and fails the test for each failed
// criterion: a lost receipt, a duplicate (unless dupsAllowed), no
// recovery.
func (r *run) report(tl tally, detect, recovered string, isRecovered, dupsAllowed bool) {
	if tl.lost > 0 {
		r.fail("%d of %d accepted messages never got their receipt", tl.lost, tl.accepted)
		r.note("lost receipts: of messages accepted %s", lostSpan(tl.lostAt, r.load.start))
	}
	if tl.dups > 0 {
		r.note("duplicates delivered %s; their first deliveries %s", lostSpan(tl.dupAt, r.load.start), lostSpan(tl.dupFirst, r.load.start))
		if dupsAllowed {
			r.note("%d duplicate receipts over %d message_ids (allowed across a kill -9)", tl.dups, tl.dupIDs)
		} else {
			r.fail("%d duplicate receipts over %d message_ids", tl.dups, tl.dupIDs)
		}
	}
	if tl.idReused > 0 {
		r.fail("%d message_ids given twice", tl.idReused)
	}
	if !isRecovered {
		r.fail("no recovery: %s", recovered)
	}
	if r.logFrom.IsZero() {
		r.logFrom = r.load.start
	}
	if l := r.log.loudest(r.logFrom, 8); len(l) > 0 {
		r.note("smppmux's warn/error lines from the fault on: %s", strings.Join(l, "; "))
	}
	if tl.unknown > 0 {
		r.note("%d receipts for message_ids the client was never given (their submits got no ESME_ROK)", tl.unknown)
	}
	if tl.binds > 1 {
		r.note("the client bound %d times", tl.binds)
	}
	verdict := "PASS"
	if len(r.fails) > 0 {
		verdict = "FAIL"
	}
	notes := append([]string(nil), r.notes...)
	for _, f := range r.fails {
		notes = append(notes, "FAIL: "+f)
	}
	row := row{n: r.n, name: r.name, detect: detect, errors: errorsText(tl), accepted: tl.accepted,
		lost: tl.lost, dups: tl.dups, recovered: recovered, verdict: verdict, notes: notes}
	addRow(row)
	r.t.Logf("%s: detection %s; client errors %s; accepted %d, lost %d, duplicated %d; recovered %s: %s",
		r.name, row.detect, row.errors, row.accepted, row.lost, row.dups, row.recovered, verdict)
	for _, n := range notes {
		r.t.Log("  " + n)
	}
	for _, f := range r.fails {
		r.t.Errorf("%s (log in %s)", f, r.dir)
	}
}

// errorsText lists the client's errors by kind, most first.
func errorsText(tl tally) string {
	if len(tl.errors) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(tl.errors))
	for k := range tl.errors {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return tl.errors[keys[i]] > tl.errors[keys[j]] })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, tl.errors[k])
	}
	return strings.Join(parts, ", ")
}

// lostSpan says when the lost messages were accepted, from the load's
// start.
func lostSpan(at []time.Time, start time.Time) string {
	if len(at) == 0 {
		return ""
	}
	sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
	return fmt.Sprintf("between %s and %s after the load started", since(at[0].Sub(start)), since(at[len(at)-1].Sub(start)))
}

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

// errSuffix writes a log line's error fields after its message.
func errSuffix(err string) string {
	if err == "" {
		return ""
	}
	return " (" + clip(err, 120) + ")"
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// recoveredText writes a recovery for the row; restarts counts the
// supervised restarts it took.
func (r *run) recoveredText(d time.Duration, ok bool, restarts int) string {
	switch {
	case !ok && r.m().exited():
		return "no (exited)"
	case !ok:
		return fmt.Sprintf("no (in %s)", recoverWait)
	case restarts == 1:
		return "yes " + since(d) + " after a restart"
	case restarts > 1:
		return fmt.Sprintf("yes %s after %d restarts", since(d), restarts)
	}
	return "yes " + since(d)
}

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
