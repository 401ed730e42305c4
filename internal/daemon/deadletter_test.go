package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smppmux/smppmux/admin"
	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
	"github.com/smppmux/smppmux/metrics"
)

// judged is what a client that judges its receipts has answered, over
// all its connections.
type judged struct {
	judge    func(n int, sm *pdu.SM) pdu.Status
	mu       sync.Mutex
	n        int            // deliveries judged
	accepted map[string]int // times each receipt id was accepted
	refused  map[string]int // times a receipt was refused, by its source address
	more     chan struct{}  // something was judged; never blocks
}

// dialJudging binds a transceiver of shop whose answer to each receipt is
// judge's, given how many deliveries came before and the receipt.
func (e *env) dialJudging(t *testing.T, judge func(n int, sm *pdu.SM) pdu.Status) (*esmetest.Client, *judged) {
	t.Helper()
	j := &judged{judge: judge, accepted: map[string]int{}, refused: map[string]int{}, more: make(chan struct{}, 1)}
	return e.dialJudged(t, j), j
}

// dialJudged binds another transceiver of shop answering as j says.
func (e *env) dialJudged(t *testing.T, j *judged) *esmetest.Client {
	t.Helper()
	return esmetest.Bind(t, deadline(t), esmetest.Config{
		Addr: e.d.Addr().String(), SystemID: "shop", Password: "secret", Window: 100, DeliveryBuffer: 16384,
		DeliverStatus: func(f pdu.Frame) pdu.Status {
			var sm pdu.SM
			if err := pdu.ParseSM(f.Body(), &sm); err != nil {
				t.Errorf("delivery does not decode: %v", err)
				return pdu.StatusSysErr
			}
			j.mu.Lock()
			st := j.judge(j.n, &sm)
			j.n++
			if st == pdu.StatusOK {
				j.accepted[esmetest.ReceiptID(&sm)]++
			} else {
				j.refused[string(sm.SourceAddr)]++
			}
			j.mu.Unlock()
			select {
			case j.more <- struct{}{}:
			default:
			}
			return st
		},
	})
}

// waitFor waits until cond, called with j locked, holds.
func (j *judged) waitFor(ctx context.Context, cond func(j *judged) bool) bool {
	for {
		j.mu.Lock()
		ok := cond(j)
		j.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-j.more:
		case <-ctx.Done():
			return false
		}
	}
}

// destination is the destination of message i, which its receipt comes
// from.
func destination(i int) string { return fmt.Sprintf("4477009%05d", i) }

// submitN sends n messages asking for receipts and returns the ids given.
func submitN(t *testing.T, c *esmetest.Client, from, n int) []string {
	t.Helper()
	ids := make([]string, 0, n)
	for i := from; i < from+n; i++ {
		r, err := c.Submit(deadline(t), esmetest.SubmitBody("Shop", destination(i), []byte("hello"), 1, nil))
		if err != nil || r.Status != pdu.StatusOK {
			t.Fatalf("submit %d: %+v %v", i, r.Status, err)
		}
		ids = append(ids, r.MessageID)
	}
	return ids
}

const deadLetterYAML = `
listen: {smpp: "127.0.0.1:0", admin: "127.0.0.1:0"}
admin: {token: s3cret}
receipts: {%s}
clients: [{system_id: shop, password: secret, window: 100}]
upstreams: [{name: a, addr: "{{0}}", system_id: mux}]
groups: [{name: g, members: [{upstream: a}]}]
routes: [{group: g}]
`

// TestRefusedReceiptDoesNotHoldBackOthers: the client refuses one receipt
// every time; it is retried in an hour, and the 199 others arrive
// meanwhile.
func TestRefusedReceiptDoesNotHoldBackOthers(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{})
	e := startYAML(t, fmt.Sprintf(deadLetterYAML, "retry_min: 1h, retry_max: 1h"), s)
	c, j := e.dialJudging(t, func(_ int, sm *pdu.SM) pdu.Status {
		if string(sm.SourceAddr) == destination(0) {
			return pdu.StatusXTAppn
		}
		return pdu.StatusOK
	})
	const n = 200
	ids := submitN(t, c, 0, n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if !j.waitFor(ctx, func(j *judged) bool { return len(j.accepted) == n-1 }) {
		j.mu.Lock()
		defer j.mu.Unlock()
		t.Fatalf("%d of the %d receipts not refused arrived", len(j.accepted), n-1)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, id := range ids[1:] {
		if j.accepted[id] != 1 {
			t.Errorf("receipt %s accepted %d times", id, j.accepted[id])
		}
	}
	if j.refused[destination(0)] != 1 {
		t.Errorf("refused receipt delivered %d times, want once", j.refused[destination(0)])
	}
}

// TestReceiptsWithRefusals: a client refuses every tenth delivery of a
// receipt. The receipts behind each refused one arrive while it waits for
// its retry, in an hour; after a restart with a short retry time, the
// refused ones arrive too, and each of the 300 is accepted exactly once.
func TestReceiptsWithRefusals(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{})
	const yaml = `
state_dir: %q
listen: {smpp: "127.0.0.1:0", admin: "127.0.0.1:0"}
receipts: {retry_min: %s, retry_max: %[2]s}
clients: [{system_id: shop, password: secret, window: 100}]
upstreams: [{name: a, addr: "{{0}}", system_id: mux}]
groups: [{name: g, members: [{upstream: a}]}]
routes: [{group: g}]
`
	dir := t.TempDir()
	e := startYAML(t, fmt.Sprintf(yaml, dir, "1h"), s)
	c, j := e.dialJudging(t, func(n int, _ *pdu.SM) pdu.Status {
		if n%10 == 9 {
			return pdu.StatusXTAppn
		}
		return pdu.StatusOK
	})
	const n = 300
	ids := submitN(t, c, 0, n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if !j.waitFor(ctx, func(j *judged) bool { return len(j.accepted)+len(j.refused) == n }) {
		j.mu.Lock()
		defer j.mu.Unlock()
		t.Fatalf("%d receipts accepted and %d refused of %d, after %d deliveries", len(j.accepted), len(j.refused), n, j.n)
	}
	j.mu.Lock()
	refused := len(j.refused)
	j.mu.Unlock()
	if refused != n/10 {
		t.Fatalf("%d receipts refused, want one in ten", refused)
	}
	// The client has answered; smppmux must have read the answers before
	// the client goes, or it rightly delivers those receipts again.
	waitUntil(t, ctx, "the accepted receipts delivered", func() bool {
		return e.d.Relay.Stats.Delivered.Load() == uint64(n-refused)
	})
	c.Close()
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := e.d.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}

	e = startYAML(t, fmt.Sprintf(yaml, dir, "10ms"), s)
	e.dialJudged(t, j)
	if !j.waitFor(ctx, func(j *judged) bool { return len(j.accepted) == n }) {
		j.mu.Lock()
		defer j.mu.Unlock()
		t.Fatalf("after the restart %d of %d receipts accepted", len(j.accepted), n)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, id := range ids {
		if j.accepted[id] != 1 {
			t.Errorf("receipt %s accepted %d times", id, j.accepted[id])
		}
	}
	if len(j.accepted) != n {
		t.Errorf("%d receipt ids accepted, want %d", len(j.accepted), n)
	}
	if st := e.d.Relay.Stats.DeadLetters.Load(); st != 0 {
		t.Errorf("%d dead letters", st)
	}
}

// adminClient calls the admin API of e with its token.
func adminClient(t *testing.T, e *env) func(method, path string) (int, string) {
	return func(method, path string) (int, string) {
		t.Helper()
		return adminDo(t, e.d, "s3cret", method, path, "")
	}
}

// waitDeadLetters waits until the admin API lists n dead letters of shop
// and returns them.
func waitDeadLetters(t *testing.T, call func(method, path string) (int, string), n int) []admin.DeadLetter {
	t.Helper()
	ctx := deadline(t)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		code, body := call("GET", "/api/v1/deadletters/shop")
		var list []admin.DeadLetter
		if code != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil {
			t.Fatalf("GET /api/v1/deadletters/shop = %d %s", code, body)
		}
		if len(list) == n {
			return list
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("dead letters listed: %s, want %d", body, n)
		}
	}
}

// TestDeadLetterAfterMaxAttempts: a receipt refused receipts.max_attempts
// times becomes a dead letter: listed, counted and in the metrics through
// the admin API; retried, it reaches the client that takes it now.
func TestDeadLetterAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{})
	e := startYAML(t, fmt.Sprintf(deadLetterYAML, "retry_min: 10ms, retry_max: 20ms, max_attempts: 3"), s)
	var mu sync.Mutex
	refusing := true
	c, j := e.dialJudging(t, func(_ int, sm *pdu.SM) pdu.Status {
		mu.Lock()
		defer mu.Unlock()
		if refusing && string(sm.SourceAddr) == destination(0) {
			return pdu.StatusXTAppn
		}
		return pdu.StatusOK
	})
	call := adminClient(t, e)
	ids := submitN(t, c, 0, 20)
	list := waitDeadLetters(t, call, 1)
	d := list[0]
	if d.Reason != "refused" || d.Attempts != 3 || d.Refusals != 3 || d.LastStatus != "0x00000064" ||
		d.Command != "deliver_sm" || !d.Receipt || d.MessageID != ids[0] || d.Source != destination(0) ||
		d.Destination != "Shop" || d.Arrived.IsZero() || d.DeadAt.Before(d.Arrived) {
		t.Fatalf("dead letter %+v, want the receipt of %s refused 3 times", d, ids[0])
	}
	ctx := deadline(t)
	if !j.waitFor(ctx, func(j *judged) bool { return len(j.accepted) == 19 }) {
		t.Fatal("the other receipts never arrived")
	}
	code, body := call("GET", "/api/v1/deadletters")
	var counts []metrics.DeadLetterInfo
	if code != http.StatusOK || json.Unmarshal([]byte(body), &counts) != nil || len(counts) != 1 ||
		counts[0].SystemID != "shop" || counts[0].Count != 1 || !counts[0].Oldest.Equal(d.DeadAt) {
		t.Fatalf("GET /api/v1/deadletters = %d %s", code, body)
	}
	_, body = call("GET", "/metrics")
	for _, want := range []string{
		`smppmux_dead_letters{client="shop"} 1`,
		`smppmux_dead_letters_total{client="shop",reason="refused"} 1`,
		`smppmux_outbox_retries_total{client="shop"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// The client is fixed; the operator puts the dead letter back.
	mu.Lock()
	refusing = false
	mu.Unlock()
	if code, body := call("POST", "/api/v1/deadletters/shop/retry"); code != http.StatusOK || !strings.Contains(body, `"requeued": 1`) {
		t.Fatalf("retry = %d %s", code, body)
	}
	if !j.waitFor(ctx, func(j *judged) bool { return j.accepted[ids[0]] == 1 }) {
		t.Fatal("the dead letter put back never reached the client")
	}
	waitDeadLetters(t, call, 0)
	if code, _ := call("POST", "/api/v1/deadletters/nobody/retry"); code != http.StatusNotFound {
		t.Errorf("retry of an unknown client: %d, want 404", code)
	}
}

// TestDeadLetterStatusAtOnce: a receipt refused with a status of
// receipts.dead_letter_statuses becomes a dead letter at its first
// refusal, though the next try would be in an hour; dead letters are
// purged one at a time or all at once.
func TestDeadLetterStatusAtOnce(t *testing.T) {
	t.Parallel()
	s := smsctest.Start(t, smsctest.Config{})
	e := startYAML(t, fmt.Sprintf(deadLetterYAML, "retry_min: 1h, retry_max: 1h"), s)
	c, j := e.dialJudging(t, func(_ int, sm *pdu.SM) pdu.Status {
		switch string(sm.SourceAddr) {
		case destination(1):
			return pdu.StatusXPAppn
		case destination(2):
			return pdu.StatusXRAppn
		}
		return pdu.StatusOK
	})
	call := adminClient(t, e)
	submitN(t, c, 0, 4)
	list := waitDeadLetters(t, call, 2)
	for i, d := range list {
		if d.Reason != "never" || d.Refusals != 1 || d.Attempts != 1 {
			t.Errorf("dead letter %d: %+v, want made at the first refusal", i, d)
		}
	}
	if !j.waitFor(deadline(t), func(j *judged) bool { return len(j.accepted) == 2 }) {
		t.Fatal("the other receipts never arrived")
	}
	path := fmt.Sprintf("/api/v1/deadletters/shop/%d", list[0].Seq)
	if code, body := call("DELETE", path); code != http.StatusOK || !strings.Contains(body, `"purged": 1`) {
		t.Fatalf("purge of one = %d %s", code, body)
	}
	if code, _ := call("DELETE", path); code != http.StatusNotFound {
		t.Fatalf("purge of one already purged: %d, want 404", code)
	}
	if left := waitDeadLetters(t, call, 1); left[0].Seq != list[1].Seq {
		t.Fatalf("left %+v, want the second", left)
	}
	if code, body := call("DELETE", "/api/v1/deadletters/shop"); code != http.StatusOK || !strings.Contains(body, `"purged": 1`) {
		t.Fatalf("purge of all = %d %s", code, body)
	}
	waitDeadLetters(t, call, 0)
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.refused[destination(1)] != 1 || j.refused[destination(2)] != 1 {
		t.Errorf("refusals %v, want one each", j.refused)
	}
}

// TestDeadLetterOperations: a receipt the client refuses for good is a
// dead letter, listed, and its message says so; retried, it reaches the
// client; purged, it never does.
func TestDeadLetterOperations(t *testing.T) {
	t.Parallel()
	c := startControl(t)
	ctx := deadline(t)
	var mu sync.Mutex
	refusing := true
	tx, j := c.dialJudging(t, func(_ int, sm *pdu.SM) pdu.Status {
		mu.Lock()
		defer mu.Unlock()
		if refusing && string(sm.SourceAddr) == destination(0) {
			return 0x65 // ESME_RX_P_APPN: a dead letter at once
		}
		return pdu.StatusOK
	})
	call := adminClient(t, c.env)
	ids := submitN(t, tx, 0, 2)
	dead := waitDeadLetters(t, call, 1)
	if dead[0].MessageID != ids[0] || dead[0].Reason != "never" {
		t.Fatalf("dead letter %+v, want the receipt of %s", dead[0], ids[0])
	}
	var m admin.Message
	c.callJSON(t, "GET", "/api/v1/clients/shop/messages/"+ids[0], "", http.StatusOK, &m)
	if m.State != "receipt_dead_letter" || len(m.Receipts) != 1 || m.Receipts[0].Where != "dead_letter" ||
		m.Receipts[0].Seq != dead[0].Seq || m.Receipts[0].State != "DELIVRD" {
		t.Fatalf("message %+v, want its receipt among the dead letters", m)
	}

	mu.Lock()
	refusing = false
	mu.Unlock()
	var res map[string]int
	c.callJSON(t, "POST", "/api/v1/deadletters/shop/retry", "", http.StatusOK, &res)
	if res["requeued"] != 1 {
		t.Fatalf("retry: %v", res)
	}
	if !j.waitFor(ctx, func(j *judged) bool { return j.accepted[ids[0]] == 1 }) {
		t.Fatal("the retried dead letter never reached the client")
	}
	waitDeadLetters(t, call, 0)

	mu.Lock()
	refusing = true
	mu.Unlock()
	again := submitN(t, tx, 0, 1)[0]
	dead = waitDeadLetters(t, call, 1)
	one := fmt.Sprintf("/api/v1/deadletters/shop/%d", dead[0].Seq)
	c.callJSON(t, "DELETE", one, "", http.StatusOK, &res)
	if res["purged"] != 1 {
		t.Fatalf("purge: %v", res)
	}
	if code, _ := c.call(t, "DELETE", one, ""); code != http.StatusNotFound {
		t.Fatalf("purge again: %d, want 404", code)
	}
	waitDeadLetters(t, call, 0)
	if code, body := c.call(t, "GET", "/api/v1/clients/shop/messages/"+again, ""); code != http.StatusNotFound {
		t.Fatalf("message of a purged dead letter: %d %s, want 404", code, body)
	}
	c.callJSON(t, "DELETE", "/api/v1/deadletters/shop", "", http.StatusOK, &res)
	if res["purged"] != 0 {
		t.Fatalf("purge of none: %v", res)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.accepted[again] != 0 || j.refused[destination(0)] != 2 {
		t.Fatalf("the purged receipt: accepted %d times; refusals %v", j.accepted[again], j.refused)
	}
}
