package daemon

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"

	"github.com/smppmux/smppmux/internal/esmetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/smsctest"
)

// screenshot, when set, is where TestStatusPageBrowser writes a PNG of the
// status page as it shows the state the test built: `make screenshot`
// writes docs/status-page.png with it.
var screenshot = flag.String("screenshot", "", "TestStatusPageBrowser writes a screenshot of the status page to this PNG file")

// pageToken is the admin token of TestStatusPageBrowser: the password of
// the status page's Basic authentication.
const pageToken = "s3cret"

// TestStatusPageBrowser opens the status page of a running smppmux in
// headless Chromium, signing in as a person would in the browser's dialog,
// and reads the rendered DOM: the upstream binds, a group's members with
// their weight, breaker and learned rate, the client with its session and
// outbox depth, and a warning the test provoked. With JavaScript, the page
// refreshes its tables in place after a member is drained through the API;
// without JavaScript the same tables are there. Without credentials the
// browser is shown 401.
func TestStatusPageBrowser(t *testing.T) {
	t.Parallel()
	browser := newBrowser(t, chromiumPath(t))

	// carrier-b answers its third submit ESME_RTHROTTLED: it learns a rate
	// from it, and the message goes to carrier-a.
	var toB atomic.Int32
	a := smsctest.Start(t, smsctest.Config{})
	b := smsctest.Start(t, smsctest.Config{Submit: func(*smsctest.SubmitRequest) smsctest.Reply {
		if toB.Add(1) == 3 {
			return smsctest.Reply{Status: pdu.StatusThrottled}
		}
		return smsctest.Reply{}
	}})
	e := startYAML(t, `
listen: {smpp: "127.0.0.1:0", admin: "127.0.0.1:0"}
admin: {token: `+pageToken+`}
clients:
  - {system_id: shop, password: secret, window: 10}
  - {system_id: bank, password: secret2}
upstreams:
  - {name: carrier-a, addr: "{{0}}", system_id: mux, binds: 2}
  - {name: carrier-b, addr: "{{1}}", system_id: mux}
groups: [{name: main, members: [{upstream: carrier-a, weight: 3}, {upstream: carrier-b, weight: 1}]}]
routes: [{group: main}]
`, a, b)
	ctx := deadline(t)
	if err := a.WaitBinds(ctx, 2); err != nil {
		t.Fatal(err)
	}

	// shop binds a transmitter only: the receipts of its messages wait in
	// its outbox.
	shop := e.dial(t, "shop", "secret", pdu.BindTransmitter, 10)
	const n = 20
	for i := range n {
		r, err := shop.Submit(ctx, esmetest.SubmitBody("Shop", fmt.Sprintf("4477%08d", i), []byte("x"), 1, nil))
		if err != nil || r.Status != pdu.StatusOK {
			t.Fatalf("submit %d: %+v %v", i, r, err)
		}
	}
	if toB.Load() < 3 {
		t.Fatalf("carrier-b saw %d submits: the test needs its third, throttled", toB.Load())
	}
	// An SMSC's receipt is acknowledged once it is durable in the outbox.
	for _, s := range []*smsctest.Server{a, b} {
		if err := s.WaitReceiptsAcked(ctx, s.Accepted()); err != nil {
			t.Fatalf("receipts not taken: %v", err)
		}
	}
	// The outbox depths are read from the store every 2 s: read them now.
	e.d.readStoreStats()
	// The warning: a bind with a wrong password.
	if _, st := esmetest.BindStatus(t, ctx, esmetest.Config{Addr: e.d.Addr().String(), SystemID: "shop", Password: "wrong", Bind: pdu.BindTransmitter}); st != pdu.StatusInvPaswd {
		t.Fatalf("bind with a wrong password: %v, want ESME_RINVPASWD", st)
	}

	base := "http://" + e.d.AdminAddr().String()
	drained := false // carrier-a, by the javascript subtest
	wantPage := func(t *testing.T, d pageDOM, drained bool) {
		t.Helper()
		var binds []string
		for _, r := range d.Binds {
			binds = append(binds, strings.Join(slices.Concat([]string{r.Data["upstream"]}, r.Cells[1:5]), " "))
		}
		if want := []string{
			"carrier-a running 0 bind_transceiver bound",
			"carrier-a running 1 bind_transceiver bound",
			"carrier-b running 0 bind_transceiver bound",
		}; !slices.Equal(binds, want) {
			t.Errorf("upstream binds %q, want %q", binds, want)
		}

		ma, mb := d.row(t, d.Groups, "member", "carrier-a"), d.row(t, d.Groups, "member", "carrier-b")
		if ma == nil || mb == nil {
			return
		}
		if drained {
			if !strings.Contains(ma.Cells[3], "drained") {
				t.Errorf("carrier-a's weight %q, want it drained", ma.Cells[3])
			}
		} else if ma.Cells[3] != "3" {
			t.Errorf("carrier-a's weight %q, want 3", ma.Cells[3])
		}
		if mb.Cells[3] != "1" || mb.Cells[5] != "closed" || mb.Cells[6] != "yes" {
			t.Errorf("carrier-b: weight %q, breaker %q, healthy %q; want 1, closed, yes", mb.Cells[3], mb.Cells[5], mb.Cells[6])
		}
		if ma.Cells[7] != "unpaced" {
			t.Errorf("carrier-a's learned rate %q, want unpaced (no tps, never throttled)", ma.Cells[7])
		}
		// carrier-b has no tps: any rate is the one it learned.
		if rate := e.d.Upstream("carrier-b").Rate(); rate == 0 || mb.Cells[7] != fmt.Sprintf("%.0f/s (1 throttled)", rate) {
			t.Errorf("carrier-b's learned rate %q, want %.0f/s (1 throttled)", mb.Cells[7], rate)
		}

		if c := d.row(t, d.Clients, "client", "shop"); c != nil {
			session := fmt.Sprintf("bind_transmitter from %s, 0 in flight", shop.LocalAddr())
			if c.Cells[1] != "active" || !strings.Contains(c.Cells[2], session) || c.Cells[3] != fmt.Sprint(n) {
				t.Errorf("client shop: state %q, sessions %q, outbox %q; want active, %q, %d", c.Cells[1], c.Cells[2], c.Cells[3], session, n)
			}
		}
		if c := d.row(t, d.Clients, "client", "bank"); c != nil && (c.Cells[2] != "none" || c.Cells[3] != "0") {
			t.Errorf("client bank: sessions %q, outbox %q; want none, 0", c.Cells[2], c.Cells[3])
		}

		found := false
		for _, r := range d.Errors {
			if len(r.Cells) == 5 && r.Cells[1] == "warn" && r.Cells[3] == "bind refused" && strings.Contains(r.Cells[4], "shop") {
				found = true
			}
		}
		if !found {
			t.Errorf("recent errors lack the refused bind of shop: %q", d.Errors)
		}
	}

	t.Run("javascript", func(t *testing.T) {
		tab, challenges := openTab(t, browser, true)
		if err := chromedp.Do(tab, chromedp.Navigate(base+"/?refresh=1")); err != nil {
			t.Fatal(err)
		}
		d := readPage(t, tab, "")
		wantPage(t, d, false)
		if challenges.Load() == 0 {
			t.Error("the browser was never asked for credentials")
		}
		if !d.Live || d.Refreshes == nil {
			t.Errorf("the page's script did not start: live badge %v, refreshes %v", d.Live, d.Refreshes)
		}

		// A mark the script cannot set: gone if the page reloaded rather
		// than refreshed its tables.
		if _, err := chromedp.Run(tab, chromedp.Evaluate[chromedp.Void](`window.smppmuxMark = 1`)); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", base+"/api/v1/groups/main/members/carrier-a/drain", nil)
		req.Header.Set("Authorization", "Bearer "+pageToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("drain: %s", resp.Status)
		}
		drained = true
		d = readPage(t, tab, `document.querySelector('#groups tr[data-group="main"][data-member="carrier-a"] .drained')`)
		wantPage(t, d, true)
		if d.Mark != 1 || d.Refreshes == nil || *d.Refreshes == "0" {
			t.Errorf("the drain reached the page without a refresh in place: mark %v, refreshes %v", d.Mark, d.Refreshes)
		}
		if *screenshot != "" {
			png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(*screenshot, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s", *screenshot)
		}
	})

	t.Run("no javascript", func(t *testing.T) {
		tab, challenges := openTab(t, browser, true)
		if _, err := chromedp.Run(tab, func(ctx context.Context, t *chromedp.Target) (cdp.Empty, error) {
			return cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		}); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(tab, chromedp.Navigate(base+"/")); err != nil {
			t.Fatal(err)
		}
		d := readPage(t, tab, "")
		if challenges.Load() == 0 {
			t.Error("the browser was never asked for credentials")
		}
		if d.Live || d.Refreshes != nil {
			t.Errorf("a script ran: live badge %v, refreshes %v", d.Live, d.Refreshes)
		}
		if d.MetaRefresh != "5" {
			t.Errorf("meta refresh %q, want 5 (seconds) without JavaScript", d.MetaRefresh)
		}
		wantPage(t, d, drained)
	})

	t.Run("no credentials", func(t *testing.T) {
		tab, _ := openTab(t, browser, false)
		if err := chromedp.Do(tab, chromedp.Navigate(base+"/")); err != nil {
			t.Fatal(err)
		}
		text, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.body.innerText`))
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(text) != "unauthorized" {
			t.Errorf("without credentials the page shows %q, want unauthorized", text)
		}
	})
}

// chromiumPath returns the Chromium to drive. Without one the test is
// skipped, saying so, or fails when SMPPMUX_REQUIRE_CHROMIUM is set (CI).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("SMPPMUX_REQUIRE_CHROMIUM") != "" {
		t.Fatal("Chromium is required (SMPPMUX_REQUIRE_CHROMIUM is set) but not installed: make deps installs Debian's chromium")
	}
	t.Skip("Chromium is not installed (make deps installs Debian's chromium): the status page is NOT checked in a browser")
	return ""
}

// newBrowser starts headless Chromium, ended with the test. It runs
// without the sandbox, which Chromium cannot use as root (CI), on a page
// of its own; it resolves no name but reaches 127.0.0.1 only.
func newBrowser(t *testing.T, path string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.Flag("disable-component-update", true),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return bctx
}

// openTab opens a tab of browser in a browser context of its own (its own
// cache of credentials), closed with the test. When signIn, the tab answers the admin listener's Basic challenge with pageToken as the
// password, as a person would in the browser's dialog, and challenges
// counts the times it was asked; otherwise it declines.
func openTab(t *testing.T, browser context.Context, signIn bool) (tab context.Context, challenges *atomic.Int32) {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	challenges = new(atomic.Int32)
	paused := chromedp.Events(tab, fetch.RequestPaused)
	asked := chromedp.Events(tab, fetch.AuthRequired)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(tab, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
		}
	}()
	go func() {
		for ev, err := range asked {
			if err != nil {
				return
			}
			challenges.Add(1)
			answer := &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseCancelAuth}
			if signIn {
				answer = &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseProvideCredentials,
					Username: "operator", Password: pageToken}
			}
			_, _ = chromedp.Call(tab, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: ev.RequestID, AuthChallengeResponse: answer})
		}
	}()
	if _, err := chromedp.Call(tab, fetch.Enable, fetch.EnableParams{HandleAuthRequests: new(true)}); err != nil {
		t.Fatal(err)
	}
	return tab, challenges
}

// pageDOM is what the status page shows, read from the browser's DOM.
type pageDOM struct {
	Binds, Groups, Clients, Errors []pageRow
	Live                           bool    // the "live" badge is shown
	Refreshes                      *string // body's data-refreshes, set by the script
	MetaRefresh                    string  // the reload period without JavaScript
	Mark                           int     // window.smppmuxMark
}

// pageRow is one row of a table: its data- attributes and its cells' text.
type pageRow struct {
	Data  map[string]string
	Cells []string
}

func (d pageDOM) row(t *testing.T, rows []pageRow, key, value string) *pageRow {
	t.Helper()
	for i := range rows {
		if rows[i].Data[key] == value {
			return &rows[i]
		}
	}
	t.Errorf("no row with %s %q in %q", key, value, rows)
	return nil
}

// readPageJS reads pageDOM; the browser's DevTools run it even in a page
// whose scripts are disabled.
const readPageJS = `(() => {
	const rows = id => [...document.querySelectorAll('#' + id + ' tbody tr')].map(tr => ({
		Data: Object.assign({}, tr.dataset),
		Cells: [...tr.cells].map(td => td.textContent.replace(/\s+/g, ' ').trim()),
	}));
	const meta = document.querySelector('meta[http-equiv="refresh"]');
	return {
		Binds: rows('binds'), Groups: rows('groups'), Clients: rows('clients'), Errors: rows('errors'),
		Live: !document.getElementById('live').hidden,
		Refreshes: document.body.dataset.refreshes ?? null,
		MetaRefresh: meta ? meta.content : '',
		Mark: window.smppmuxMark || 0,
	};
})()`

// readPage reads the page once its tables are there and, when until is
// not empty, once that JavaScript expression is truthy too: the page's
// DOM is watched for changes until the test's deadline.
func readPage(t *testing.T, tab context.Context, until string) pageDOM {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS("#errors"))); err != nil {
		t.Fatalf("the status page's tables never showed: %v", err)
	}
	if until != "" {
		if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](until, chromedp.WithPollingMutation(), chromedp.WithPollingTimeout(0))); err != nil {
			d, _ := chromedp.Run(tab, chromedp.Evaluate[pageDOM](readPageJS))
			t.Fatalf("waiting for %s: %v; the page shows %+v", until, err, d)
		}
	}
	d, err := chromedp.Run(ctx, chromedp.Evaluate[pageDOM](readPageJS))
	if err != nil {
		t.Fatal(err)
	}
	return d
}
