//go:build chaos && linux

package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a process started in a namespace.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
	err  error         // its exit, once done
	at   time.Time     // when it exited, once done
}

// startIn starts argv in namespace n through nsenter, which execs it: the
// process is argv itself. out receives its stdout and stderr.
func startIn(n netns, name string, out io.Writer, argv ...string) (*proc, error) {
	cmd := exec.Command("nsenter", append([]string{"--net=" + n.path(), "--"}, argv...)...)
	cmd.Stdout, cmd.Stderr = out, out
	// If the suite dies, so do its processes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		p.at = time.Now()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) signal(s syscall.Signal) error { return p.cmd.Process.Signal(s) }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process: SIGTERM, then SIGKILL past grace. It reports how
// long it took to exit after the SIGTERM and whether it needed SIGKILL.
func (p *proc) stop(grace time.Duration) (time.Duration, bool) {
	if p.exited() {
		return 0, false
	}
	t0 := time.Now()
	_ = p.signal(syscall.SIGCONT) // a stopped process cannot act on SIGTERM
	_ = p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.at.Sub(t0), false
	case <-time.After(grace):
	}
	_ = p.signal(syscall.SIGKILL)
	<-p.done
	return p.at.Sub(t0), true
}

// exitText says how the process ended.
func (p *proc) exitText() string {
	if p.err == nil {
		return "exit 0"
	}
	return p.err.Error()
}

// cpu is the process's user+system CPU time so far.
func (p *proc) cpu() time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.pid()) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseUint(string(f[11]), 10, 64)
	s, _ := strconv.ParseUint(string(f[12]), 10, 64)
	return time.Duration(u+s) * time.Second / 100 // USER_HZ
}

// startSim starts a simulated SMSC in its namespace and waits until it
// listens. Its receipts follow each response after 500 ms and are held
// until a deliver_sm_resp ESME_ROK answers them, as a carrier's are.
func startSim(ctx context.Context, bin, dir string, n netns) (*proc, error) {
	addr := net.JoinHostPort(linkTo(n).peerAddr, "2775")
	logf, err := os.Create(filepath.Join(dir, string(n)+".log"))
	if err != nil {
		return nil, err
	}
	p, err := startIn(n, string(n), logf, bin, "sim", "-listen", addr, "-name", string(n),
		"-receipt-delay", "500ms", "-hold-receipts")
	if err != nil {
		logf.Close()
		return nil, err
	}
	go func() { <-p.done; logf.Close() }()
	if err := waitDial(ctx, nsMux, addr); err != nil {
		return nil, err
	}
	return p, nil
}

// redisAddr is where Redis listens, from smppmux's namespace.
var redisAddr = net.JoinHostPort(linkTo(nsRedis).peerAddr, "6379")

// startRedis starts redis-server in its namespace on data in dir, with
// every write appended and synced before it is answered (so a restart
// keeps every write Redis acknowledged), and waits until it answers PING.
func startRedis(ctx context.Context, dir string) (*proc, error) {
	logf, err := os.OpenFile(filepath.Join(dir, "redis.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "redis")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	p, err := startIn(nsRedis, "redis-server", logf, "redis-server",
		"--bind", linkTo(nsRedis).peerAddr, "--port", "6379", "--protected-mode", "no",
		"--dir", data, "--save", "", "--appendonly", "yes", "--appendfsync", "always")
	if err != nil {
		logf.Close()
		return nil, err
	}
	go func() { <-p.done; logf.Close() }()
	for {
		if redisPing(ctx) == nil {
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("redis-server exited: %s (log in %s)", p.exitText(), dir)
		case <-ctx.Done():
			return nil, fmt.Errorf("redis-server does not answer PING: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// redisPing asks Redis for PONG, from smppmux's namespace. A Redis still
// loading its data answers an error.
func redisPing(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c, err := nsMux.dial(dctx, "tcp", redisAddr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING: %q", strings.TrimSpace(line))
	}
	return nil
}

// logEvent is one line of smppmux's log.
type logEvent struct {
	at       time.Time // its ts, or when the suite read it if it has none
	level    string
	logger   string
	msg      string
	upstream string
	err      string
}

// muxLog reads smppmux's JSON log, keeps a copy in a file and the lines
// as events.
type muxLog struct {
	mu      sync.Mutex
	events  []logEvent
	lines   int
	changed chan struct{} // closed and replaced on every line
}

// maxEvents bounds the events kept; lines past it are only counted.
const maxEvents = 500000

func newMuxLog() *muxLog { return &muxLog{changed: make(chan struct{})} }

// read consumes r until it ends.
func (l *muxLog) read(r io.Reader, copyTo io.Writer) {
	sc := bufio.NewScanner(io.TeeReader(r, copyTo))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			TS       string `json:"ts"`
			Level    string `json:"level"`
			Logger   string `json:"logger"`
			Msg      string `json:"msg"`
			Upstream string `json:"upstream"`
			Error    string `json:"error"`
			Cause    string `json:"cause"`
			Reason   string `json:"reason"`
		}
		e := logEvent{at: time.Now()}
		if json.Unmarshal(sc.Bytes(), &line) == nil {
			if ts, err := time.Parse(time.RFC3339Nano, line.TS); err == nil {
				e.at = ts
			}
			e.level, e.logger, e.msg, e.upstream = line.Level, line.Logger, line.Msg, line.Upstream
			e.err = strings.TrimPrefix(strings.Join([]string{line.Reason, line.Cause, line.Error}, " "), " ")
			e.err = strings.TrimSpace(e.err)
		} else {
			e.level, e.msg = "raw", sc.Text()
		}
		l.mu.Lock()
		l.lines++
		if len(l.events) < maxEvents {
			l.events = append(l.events, e)
		}
		close(l.changed)
		l.changed = make(chan struct{})
		l.mu.Unlock()
	}
}

// first returns the first event at or after since that match accepts.
func (l *muxLog) first(since time.Time, match func(logEvent) bool) (logEvent, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if !e.at.Before(since) && match(e) {
			return e, true
		}
	}
	return logEvent{}, false
}

// count counts the events in [from, to) that match accepts (nil: all).
func (l *muxLog) count(from, to time.Time, match func(logEvent) bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if !e.at.Before(from) && e.at.Before(to) && (match == nil || match(e)) {
			n++
		}
	}
	return n
}

// loudest lists the most frequent warn, error and fatal messages (and
// lines that are not JSON) at or after from, at most n, digits folded so
// that file and session numbers do not split them: "1234 × error msg".
func (l *muxLog) loudest(from time.Time, n int) []string {
	l.mu.Lock()
	counts := map[string]int{}
	var order []string
	for _, e := range l.events {
		if e.at.Before(from) || e.level == "info" || e.level == "debug" {
			continue
		}
		k := e.level + " " + strconv.Quote(clip(foldDigits(e.msg), 140))
		if counts[k] == 0 {
			order = append(order, k)
		}
		counts[k]++
	}
	l.mu.Unlock()
	sort.SliceStable(order, func(i, j int) bool { return counts[order[i]] > counts[order[j]] })
	var out []string
	for i, k := range order {
		if i == n {
			break
		}
		out = append(out, fmt.Sprintf("%d × %s", counts[k], k))
	}
	return out
}

// foldDigits writes every run of digits as N.
func foldDigits(s string) string {
	var b strings.Builder
	digit := false
	for _, r := range s {
		if r >= '0' && r <= '9' {
			if !digit {
				b.WriteByte('N')
			}
			digit = true
			continue
		}
		digit = false
		b.WriteRune(r)
	}
	return b.String()
}

// wait waits for an event at or after since that match accepts.
func (l *muxLog) wait(ctx context.Context, since time.Time, match func(logEvent) bool) (logEvent, bool) {
	for {
		l.mu.Lock()
		ch := l.changed
		l.mu.Unlock()
		if e, ok := l.first(since, match); ok {
			return e, true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return logEvent{}, false
		}
	}
}

// msgIs matches log lines by message, and by upstream when one is given.
func msgIs(msg, upstream string) func(logEvent) bool {
	return func(e logEvent) bool { return e.msg == msg && (upstream == "" || e.upstream == upstream) }
}

// mux is one smppmux process with its log.
type mux struct {
	*proc
	log *muxLog
}

// The addresses smppmux listens on, in its namespace.
const (
	muxSMPP  = "127.0.0.1:2775"
	muxAdmin = "127.0.0.1:9090"
)

// startMux starts smppmux on config in its namespace, logging to
// dir/smppmux.log (appended across restarts). It does not wait.
func startMux(bin, dir, config string, l *muxLog) (*mux, error) {
	logf, err := os.OpenFile(filepath.Join(dir, "smppmux.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	p, err := startIn(nsMux, "smppmux", pw, bin, "-config", config)
	if err != nil {
		logf.Close()
		return nil, err
	}
	go func() { <-p.done; pw.Close() }()
	go func() { l.read(pr, logf); logf.Close() }()
	return &mux{proc: p, log: l}, nil
}

// readyState is an answer of /readyz, or its absence (code 0).
type readyState struct {
	sent time.Time // when the request went
	at   time.Time // when its answer (or failure) came
	code int
	body string
}

// readiness polls smppmux's /readyz every 100 ms and keeps its changes.
type readiness struct {
	client *http.Client
	mu     sync.Mutex
	states []readyState
	polls  int
	answer int // polls answered
}

func newReadiness() *readiness {
	return &readiness{client: &http.Client{
		Timeout:   500 * time.Millisecond,
		Transport: &http.Transport{DialContext: nsMux.dial, DisableKeepAlives: true},
	}}
}

// run polls until ctx ends.
func (r *readiness) run(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		s := readyState{sent: time.Now()}
		resp, err := r.client.Get("http://" + muxAdmin + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			resp.Body.Close()
			s.code, s.body = resp.StatusCode, strings.TrimSpace(string(b))
		}
		s.at = time.Now()
		r.mu.Lock()
		r.polls++
		if s.code != 0 {
			r.answer++
		}
		if n := len(r.states); n == 0 || r.states[n-1].code != s.code || r.states[n-1].body != s.body {
			r.states = append(r.states, s)
		}
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// first returns the first state at or after since with code (0: no
// answer), and the state in force at since if it already has it.
func (r *readiness) first(since time.Time, code int) (readyState, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, s := range r.states {
		next := time.Time{}
		if i+1 < len(r.states) {
			next = r.states[i+1].at
		}
		if s.code == code && (!s.at.Before(since) || next.IsZero() || next.After(since)) {
			if s.at.Before(since) {
				s.at = since
			}
			return s, true
		}
	}
	return readyState{}, false
}

// polledSince returns the first state with code that a request sent at
// or after t found: unlike first, never an answer of a process that was
// there before t.
func (r *readiness) polledSince(t time.Time, code int) (readyState, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.states {
		if s.code == code && !s.sent.Before(t) {
			return s, true
		}
	}
	return readyState{}, false
}

// now is the last state seen.
func (r *readiness) now() readyState {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.states) == 0 {
		return readyState{}
	}
	return r.states[len(r.states)-1]
}

// waitFor waits for a state with code at or after since.
func (r *readiness) waitFor(ctx context.Context, since time.Time, code int) (readyState, bool) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if s, ok := r.first(since, code); ok {
			return s, true
		}
		select {
		case <-ctx.Done():
			return readyState{}, false
		case <-t.C:
		}
	}
}

// bodies lists the distinct 503 answers seen in [from, to).
func (r *readiness) bodies(from, to time.Time) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	seen := map[string]bool{}
	for _, s := range r.states {
		if s.code == http.StatusServiceUnavailable && !s.at.Before(from) && s.at.Before(to) && !seen[s.body] {
			seen[s.body] = true
			out = append(out, s.body)
		}
	}
	return out
}
