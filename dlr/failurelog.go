package dlr

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/smppmux/smppmux/internal/pdu"
)

// failureLogEvery is the least time between two "delivery to client
// failed" lines of one client.
const failureLogEvery = 10 * time.Second

// failureLog writes the failed deliveries of each client, refused or
// unanswered, as one line per client per interval with counts, instead
// of one per item per try: a client that refuses everything would
// otherwise write a line per receipt per retry. The first failure of a
// quiet client is written at once; the next line, due failureLogEvery
// later, counts every failure since. The zero value is ready; now and
// every are for tests.
type failureLog struct {
	now   func() time.Time
	every time.Duration

	mu      sync.Mutex
	clients map[string]*clientFailures
}

// clientFailures counts one client's failures since its last line.
type clientFailures struct {
	last       time.Time // when its last line was written
	unanswered int
	refused    map[pdu.Status]int
	lastErr    error
	seq        uint64 // the latest failed item
	attempts   int
}

// failed records a delivery of it to systemID refused with st (err nil)
// or unanswered (err set), and writes the client's line when it is due.
func (l *failureLog) failed(log *zap.Logger, systemID string, it *Item, st pdu.Status, err error) {
	now := time.Now
	if l.now != nil {
		now = l.now
	}
	every := failureLogEvery
	if l.every > 0 {
		every = l.every
	}
	t := now()
	l.mu.Lock()
	if l.clients == nil {
		l.clients = make(map[string]*clientFailures)
	}
	c := l.clients[systemID]
	if c == nil {
		c = &clientFailures{refused: make(map[pdu.Status]int)}
		l.clients[systemID] = c
	}
	if err != nil {
		c.unanswered++
		c.lastErr = err
	} else {
		c.refused[st]++
	}
	c.seq, c.attempts = it.Seq, it.Attempts
	if !c.last.IsZero() && t.Sub(c.last) < every {
		l.mu.Unlock()
		return
	}
	fields := c.fields(systemID, t)
	c.last, c.unanswered, c.lastErr = t, 0, nil
	clear(c.refused)
	l.mu.Unlock()
	log.Info("delivery to client failed, will retry", fields...)
}

// fields describes c's failures since its last line. Called with the
// log's lock held.
func (c *clientFailures) fields(systemID string, now time.Time) []zap.Field {
	refused := 0
	statuses := make([]pdu.Status, 0, len(c.refused))
	for st, n := range c.refused {
		refused += n
		statuses = append(statuses, st)
	}
	slices.Sort(statuses)
	var b strings.Builder
	for i, st := range statuses {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(pdu.StatusText(st) + ": " + strconv.Itoa(c.refused[st]))
	}
	fields := []zap.Field{zap.String("system_id", systemID),
		zap.Int("refused", refused), zap.Int("unanswered", c.unanswered)}
	if b.Len() > 0 {
		fields = append(fields, zap.String("statuses", b.String()))
	}
	if c.lastErr != nil {
		fields = append(fields, zap.NamedError("last_error", c.lastErr))
	}
	fields = append(fields, zap.Uint64("last_seq", c.seq), zap.Int("last_attempts", c.attempts))
	if !c.last.IsZero() {
		fields = append(fields, zap.Duration("since_last_line", now.Sub(c.last).Round(time.Millisecond)))
	}
	return fields
}
