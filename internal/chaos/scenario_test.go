//go:build chaos && linux

package chaos

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
