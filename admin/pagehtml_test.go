package admin

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smppmux/smppmux/metrics"
)

// errorsOperator is a fakeOperator whose Control lists recent errors.
type errorsOperator struct {
	fakeOperator
	errs []LogEntry
}

func (o *errorsOperator) Control() Control {
	return Control{LogLevel: "info", RecentErrors: o.errs}
}

// TestPageEscapes: names, addresses and log lines are shown as text, in
// cells and in attributes: a system_id or a log message holding markup
// and quotes adds no element and closes no attribute.
func TestPageEscapes(t *testing.T) {
	t.Parallel()
	const hostile = `<script>alert("x")</script>'&`
	const escaped = `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&#39;&amp;`
	ctl := newFake()
	ctl.snap = metrics.Snapshot{
		Sessions: []metrics.SessionInfo{{ID: 1, SystemID: hostile, BindType: "transceiver", Remote: hostile}},
		Binds:    []metrics.BindInfo{{Upstream: hostile, BindType: "transceiver", State: hostile, LocalAddr: hostile}},
		Groups: []metrics.GroupInfo{{Name: hostile, Mode: hostile, Available: true,
			Members: []metrics.MemberInfo{{Upstream: hostile, Weight: 1, Breaker: hostile}}}},
		Store: metrics.StoreInfo{Kind: hostile, Error: hostile},
	}
	op := &errorsOperator{errs: []LogEntry{{Time: time.Now(), Level: hostile, Logger: hostile, Message: hostile,
		Fields: map[string]string{hostile: hostile}, Count: 2}}}
	srv := serve(t, ctl, Config{Operator: op})

	for _, path := range []string{"/", "/?part=main"} {
		code, body, _ := do(t, srv, "GET", path, "")
		if code != http.StatusOK {
			t.Fatalf("GET %s = %d", path, code)
		}
		// page.js is the page's only script, and only the page has it.
		want := 0
		if path == "/" {
			want = 1
		}
		if n := strings.Count(body, "<script"); n != want {
			t.Errorf("GET %s has %d <script elements, want %d:\n%s", path, n, want, body)
		}
		if strings.Contains(body, `"x"`) || strings.Contains(body, `'&`) {
			t.Errorf("GET %s has a quote unescaped:\n%s", path, body)
		}
		for _, want := range []string{
			`<tr data-client="` + escaped + `">` + "\n<td>" + escaped + "</td>",
			` from ` + escaped + `, 0 in flight</div>`,
			`<tr data-upstream="` + escaped + `">` + "\n<td>" + escaped + "</td>",
			`<td class="state-` + escaped + `">` + escaped + `</td>`,
			`<tr data-group="` + escaped + `" data-member="` + escaped + `">` + "\n<td>" + escaped + "</td>",
			`<td class="breaker breaker-` + escaped + `">` + escaped + `</td>`,
			`store ` + escaped + `: <span class="bad">` + escaped + `</span>`,
			`<tr class="level-` + escaped + `">`,
			`<td>` + escaped + `</td><td>` + escaped + `</td><td>` + escaped + `</td>`,
			`<span>` + escaped + `=` + escaped + `</span>`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("GET %s lacks %s:\n%s", path, want, body)
			}
		}
	}
}

// TestPageShowsQueue: a store-and-forward group's queue is shown beside
// its name; a relaying group shows none.
func TestPageShowsQueue(t *testing.T) {
	t.Parallel()
	ctl := newFake()
	ctl.snap = metrics.Snapshot{Groups: []metrics.GroupInfo{
		{Name: "otp", Mode: "active-active", Available: true, Members: []metrics.MemberInfo{{Upstream: "a", Weight: 1}},
			Queue: &metrics.QueueInfo{Depth: 50000, OldestAgeSeconds: 42.4, InFlight: 50}},
		{Name: "bulk", Mode: "active-active", Available: true, Members: []metrics.MemberInfo{{Upstream: "b", Weight: 1}}},
	}}
	srv := serve(t, ctl, Config{})
	code, body, _ := do(t, srv, "GET", "/", "")
	if code != http.StatusOK {
		t.Fatalf("GET / = %d", code)
	}
	if !strings.Contains(body, `<td>otp <span class="queue">queued 50000, oldest 42s, in flight 50</span></td>`) {
		t.Errorf("the queue of otp is not shown:\n%s", body)
	}
	if strings.Count(body, `class="queue"`) != 1 {
		t.Errorf("a queue shown for a relaying group:\n%s", body)
	}
}
