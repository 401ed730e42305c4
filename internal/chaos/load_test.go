//go:build chaos && linux

package chaos

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
)

// Outcomes of a submit besides an SMPP status.
const (
	outNoAnswer = -1 // sent, then the connection ended first
	outNotSent  = -2 // due while no bind was up
)

// submit is the fate of one message of the load.
type submit struct {
	due  time.Time
	done time.Time
	out  int64 // an SMPP command_status, or outNoAnswer, outNotSent
}

// accepted is a message the client was given a message_id for.
type accepted struct {
	due, at time.Time // when it was due to be sent; when ESME_ROK came
}

// firstReceipt is the first receipt of an accepted message.
type firstReceipt struct {
	due, at time.Time // when the message was due; when its receipt came
}

// load is a client that binds to smppmux as a transceiver and submits at
// a steady rate, each message asking for a receipt, through any fault:
// when its bind drops it binds again, and the messages due meanwhile are
// counted as not sent. It counts every receipt per message_id.
type load struct {
	rate   float64
	window int

	start time.Time
	stop  chan struct{}
	done  chan struct{}
	wg    sync.WaitGroup // submits awaiting their answer

	mu       sync.Mutex
	subs     []submit
	accepted map[string]accepted  // by message_id
	receipts map[string]int       // message_id -> receipts delivered
	firsts   []firstReceipt       // first receipts of accepted messages, in order
	dupAt    []time.Time          // when each duplicate came
	firstAt  map[string]time.Time // message_id -> its first receipt
	dupFirst []time.Time          // when the first receipt of each duplicated one came
	idReused int                  // ESME_ROK with a message_id given before
	binds    int
	bindErr  string           // last failed bind
	last     *esmetest.Client // the bind up when the load stopped
	changed  chan struct{}
}

const (
	loadSystemID = "chaos"
	loadPassword = "secret"
)

func newLoad(rate float64, window int) *load {
	return &load{
		rate: rate, window: window, start: time.Now(),
		stop: make(chan struct{}), done: make(chan struct{}),
		accepted: make(map[string]accepted), receipts: make(map[string]int),
		firstAt: make(map[string]time.Time),
		changed: make(chan struct{}),
	}
}

// run sends until stopLoad; call it on its own goroutine.
func (l *load) run(ctx context.Context) {
	defer close(l.done)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var c *esmetest.Client
	var lastDial time.Time
	next := 0
	defer func() {
		if c != nil {
			l.finish(c)
		}
	}()
	for {
		select {
		case <-l.stop:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if c != nil {
			select {
			case <-c.Done():
				c = nil
			default:
			}
		}
		if c == nil && time.Since(lastDial) >= 200*time.Millisecond {
			lastDial = time.Now()
			c = l.bind(ctx)
		}
		due := int(time.Since(l.start).Seconds() * l.rate)
		for ; next < due; next++ {
			at := l.start.Add(time.Duration(float64(next) / l.rate * float64(time.Second)))
			if c == nil || !l.send(c, next, at) {
				c = nil
				l.record(submit{due: at, done: at, out: outNotSent})
			}
		}
	}
}

// bind connects from smppmux's namespace and binds; nil if it failed.
func (l *load) bind(ctx context.Context) *esmetest.Client {
	var c *esmetest.Client
	var err error
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if e := nsMux.do(func() {
		c, err = esmetest.Dial(dctx, esmetest.Config{
			Addr: muxSMPP, SystemID: loadSystemID, Password: loadPassword,
			Bind: pdu.BindTransceiver, Window: l.window, DeliveryBuffer: 1 << 16,
		})
	}); e != nil {
		err = e
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.bindErr = err.Error()
		return nil
	}
	l.binds++
	go func() {
		for d := range c.Deliveries() {
			now := time.Now()
			l.mu.Lock()
			l.receipts[d.ReceiptID]++
			if k := l.receipts[d.ReceiptID]; k > 1 {
				l.dupAt = append(l.dupAt, now)
				l.dupFirst = append(l.dupFirst, l.firstAt[d.ReceiptID])
			} else {
				l.firstAt[d.ReceiptID] = now
				if a, ok := l.accepted[d.ReceiptID]; ok {
					l.firsts = append(l.firsts, firstReceipt{due: a.due, at: now})
				}
			}
			l.notifyLocked()
			l.mu.Unlock()
		}
	}()
	return c
}

// send submits message i on c, waiting for a window slot; false if the
// connection has ended.
func (l *load) send(c *esmetest.Client, i int, due time.Time) bool {
	body := esmetest.SubmitBody("Chaos", fmt.Sprintf("4479%08d", i), []byte("smppmux chaos"), 1, nil)
	l.wg.Add(1)
	err := c.SubmitAsync(body, func(r esmetest.Resp, err error) {
		defer l.wg.Done()
		s := submit{due: due, done: time.Now(), out: int64(r.Status)}
		if err != nil {
			s.out = outNoAnswer
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.subs = append(l.subs, s)
		if s.out == int64(pdu.StatusOK) {
			if _, ok := l.accepted[r.MessageID]; ok {
				l.idReused++
			}
			l.accepted[r.MessageID] = accepted{due: due, at: s.done}
		}
		l.notifyLocked()
	})
	if err != nil {
		l.wg.Done()
		return false
	}
	return true
}

func (l *load) record(s submit) {
	l.mu.Lock()
	l.subs = append(l.subs, s)
	l.notifyLocked()
	l.mu.Unlock()
}

func (l *load) notifyLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// stopLoad stops sending and waits up to answerWait for the answers owed;
// a submit still unanswered then counts as without answer, its
// connection being closed.
func (l *load) stopLoad(answerWait time.Duration) {
	close(l.stop)
	<-l.done
	answered := make(chan struct{})
	go func() { l.wg.Wait(); close(answered) }()
	select {
	case <-answered:
	case <-time.After(answerWait):
	}
}

// finish is the end of the last bind: kept open (receipts still come)
// until closeLoad.
func (l *load) finish(c *esmetest.Client) {
	l.mu.Lock()
	l.last = c
	l.mu.Unlock()
}

// waitReceipts waits until every accepted message has its receipt, or no
// receipt came for stall, or until max; it reports whether all came.
func (l *load) waitReceipts(stall, max time.Duration) bool {
	deadline := time.Now().Add(max)
	for {
		l.mu.Lock()
		missing := l.missingLocked()
		ch := l.changed
		l.mu.Unlock()
		if missing == 0 {
			return true
		}
		wait := min(stall, time.Until(deadline))
		if wait <= 0 {
			return false
		}
		select {
		case <-ch:
		case <-time.After(wait):
			return false
		}
	}
}

func (l *load) missingLocked() int {
	n := 0
	for id := range l.accepted {
		if l.receipts[id] == 0 {
			n++
		}
	}
	return n
}

// closeLoad unbinds the last bind and closes it.
func (l *load) closeLoad() {
	l.mu.Lock()
	c := l.last
	l.mu.Unlock()
	if c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	_ = c.Unbind(ctx)
	cancel()
	c.Close()
	l.wg.Wait()
}

// tally is what the client saw.
type tally struct {
	sent, accepted int
	errors         map[string]int // by status name, "no answer", "not sent"
	lost           int            // accepted, no receipt
	lostAt         []time.Time    // when the lost ones were accepted
	dupAt          []time.Time    // when the duplicates came
	dupFirst       []time.Time    // when the duplicated ones first came
	dups           int            // receipts beyond the first for one message_id
	dupIDs         int            // message_ids delivered more than once
	unknown        int            // receipts for message_ids the client was never given
	idReused       int
	binds          int
}

func (l *load) tally() tally {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := tally{errors: map[string]int{}, idReused: l.idReused, binds: l.binds}
	for _, s := range l.subs {
		switch {
		case s.out == outNotSent:
			t.errors["not sent (no bind)"]++
			continue
		case s.out == outNoAnswer:
			t.errors["no answer"]++
		case s.out != int64(pdu.StatusOK):
			t.errors[statusText(pdu.Status(s.out))]++
		}
		t.sent++
	}
	t.accepted = len(l.accepted)
	for id, a := range l.accepted {
		if l.receipts[id] == 0 {
			t.lost++
			t.lostAt = append(t.lostAt, a.at)
		}
	}
	t.dupAt = append(t.dupAt, l.dupAt...)
	t.dupFirst = append(t.dupFirst, l.dupFirst...)
	for id, n := range l.receipts {
		if n > 1 {
			t.dups += n - 1
			t.dupIDs++
		}
		if _, ok := l.accepted[id]; !ok {
			t.unknown++
		}
	}
	sort.Slice(t.lostAt, func(i, j int) bool { return t.lostAt[i].Before(t.lostAt[j]) })
	return t
}

// firstRefusal returns the first submit due at or after since that was
// answered with an error status, by when its answer came.
func (l *load) firstRefusal(since time.Time) (submit, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var best submit
	found := false
	for _, s := range l.subs {
		if s.due.Before(since) || s.out <= int64(pdu.StatusOK) {
			continue
		}
		if !found || s.done.Before(best.done) {
			best, found = s, true
		}
	}
	return best, found
}

// firstAccepted returns when the first submit due at or after since was
// accepted.
func (l *load) firstAccepted(since time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var best time.Time
	for _, s := range l.subs {
		if s.due.Before(since) || s.out != int64(pdu.StatusOK) {
			continue
		}
		if best.IsZero() || s.done.Before(best) {
			best = s.done
		}
	}
	return best, !best.IsZero()
}

// slowest is the longest a submit due in [from, to) waited for its
// answer, and how many were answered.
func (l *load) slowest(from, to time.Time) (time.Duration, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var worst time.Duration
	n := 0
	for _, s := range l.subs {
		if s.due.Before(from) || !s.due.Before(to) || s.out == outNotSent {
			continue
		}
		n++
		worst = max(worst, s.done.Sub(s.due))
	}
	return worst, n
}

// waitReceipted waits until a message due at or after since has its
// receipt, and returns when it came.
func (l *load) waitReceipted(ctx context.Context, since time.Time) (time.Time, bool) {
	i := 0
	for {
		l.mu.Lock()
		ch := l.changed
		for ; i < len(l.firsts); i++ {
			if f := l.firsts[i]; !f.due.Before(since) {
				l.mu.Unlock()
				return f.at, true
			}
		}
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return time.Time{}, false
		}
	}
}

// waitAccepted waits until a submit due at or after since is accepted.
func (l *load) waitAccepted(ctx context.Context, since time.Time) (time.Time, bool) {
	for {
		l.mu.Lock()
		ch := l.changed
		l.mu.Unlock()
		if at, ok := l.firstAccepted(since); ok {
			return at, true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return time.Time{}, false
		}
	}
}

// statusText writes a command_status short: "0x58 RTHROTTLED".
func statusText(st pdu.Status) string {
	name, ok := pdu.StatusName(st)
	if !ok {
		return fmt.Sprintf("0x%02x", uint32(st))
	}
	return fmt.Sprintf("0x%02x %s", uint32(st), strings.TrimPrefix(name, "ESME_"))
}
