package admin

import (
	"bytes"
	"cmp"
	"embed"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smppmux/smppmux/internal/buildinfo"
	"github.com/smppmux/smppmux/metrics"
)

// The status page's style sheet and script are in the binary; its HTML is
// written by pagehtml.go.
//
//go:embed page
var pageFiles embed.FS

// pageRefresh is how often the status page refreshes itself, in seconds,
// unless its address asks for another period (?refresh=N, N from 1 to
// maxPageRefresh).
const (
	pageRefresh    = 5
	maxPageRefresh = 3600
)

// maxPageErrors bounds the recent errors the page lists.
const maxPageErrors = 20

// pageCSP lets the page load only its own style sheet and script.
const pageCSP = "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (h *handler) routePage(mux *http.ServeMux) {
	static, _ := fs.Sub(pageFiles, "page")
	files := http.FileServer(http.FS(static))
	mux.Handle("GET /{$}", h.auth(http.HandlerFunc(h.page)))
	mux.Handle("GET /static/{file}", h.auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("file") {
		case "style.css", "page.js":
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		http.StripPrefix("/static", files).ServeHTTP(w, r)
	})))
}

// page serves the status page, or with ?part=main only the tables, which
// its script fetches to refresh them. The page reloads itself every
// pageRefresh seconds without JavaScript, or ?refresh=N seconds.
func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	data := h.pageData()
	if n, err := strconv.Atoi(r.URL.Query().Get("refresh")); err == nil && n >= 1 && n <= maxPageRefresh {
		data.Refresh = n
	}
	var buf bytes.Buffer
	if r.URL.Query().Get("part") == "main" {
		writeMain(&buf, &data)
	} else {
		writePage(&buf, &data)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", pageCSP)
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusOK)
	_, _ = buf.WriteTo(w)
}

// pageData is what the status page shows, sorted by name.
type pageData struct {
	Now       time.Time
	Version   string
	Refresh   int
	Snap      metrics.Snapshot
	Control   *Control
	Upstreams []pageUpstream
	Groups    []pageGroup
	Clients   []pageClient
	Errors    []LogEntry
}

type pageUpstream struct {
	Name    string
	Stopped bool
	Binds   []metrics.BindInfo
}

type pageGroup struct {
	Name      string
	Mode      string
	Available bool
	Members   []pageMember
	Queue     *metrics.QueueInfo // nil for a group that relays
}

type pageMember struct {
	metrics.MemberInfo
	Drained   bool
	Stopped   bool
	PaceTPS   float64
	Throttled uint64
}

type pageClient struct {
	SystemID    string
	Suspended   bool
	Sessions    []metrics.SessionInfo
	Depth       int
	Oldest      time.Duration
	DeadLetters int
}

func (h *handler) pageData() pageData {
	s := h.ctl.Snapshot()
	d := pageData{Now: time.Now(), Version: buildinfo.Get().Version, Refresh: pageRefresh, Snap: s}
	stopped, drained, suspended := map[string]bool{}, map[string]bool{}, map[string]bool{}
	clients := map[string]*pageClient{}
	client := func(id string) *pageClient {
		c := clients[id]
		if c == nil {
			c = &pageClient{SystemID: id}
			clients[id] = c
		}
		return c
	}
	if h.op != nil {
		c := h.op.Control()
		d.Control = &c
		for _, n := range c.StoppedUpstreams {
			stopped[n] = true
		}
		for _, n := range c.Drained {
			drained[n] = true
		}
		for _, n := range c.SuspendedClients {
			suspended[n] = true
		}
		for _, cs := range c.Clients {
			client(cs.SystemID)
		}
		d.Errors = c.RecentErrors[:min(len(c.RecentErrors), maxPageErrors)]
	}

	ups := map[string]*pageUpstream{}
	pace := map[string]metrics.UpstreamInfo{}
	for _, u := range s.Upstreams {
		pace[u.Name] = u
		ups[u.Name] = &pageUpstream{Name: u.Name, Stopped: stopped[u.Name]}
	}
	for _, b := range s.Binds {
		u := ups[b.Upstream]
		if u == nil {
			u = &pageUpstream{Name: b.Upstream, Stopped: stopped[b.Upstream]}
			ups[b.Upstream] = u
		}
		u.Binds = append(u.Binds, b)
	}
	for _, u := range ups {
		slices.SortFunc(u.Binds, func(a, b metrics.BindInfo) int { return a.Index - b.Index })
		d.Upstreams = append(d.Upstreams, *u)
	}
	slices.SortFunc(d.Upstreams, func(a, b pageUpstream) int { return strings.Compare(a.Name, b.Name) })

	for _, g := range s.Groups {
		pg := pageGroup{Name: g.Name, Mode: g.Mode, Available: g.Available, Queue: g.Queue}
		for _, m := range g.Members {
			pg.Members = append(pg.Members, pageMember{MemberInfo: m, Drained: drained[g.Name+"/"+m.Upstream],
				Stopped: stopped[m.Upstream], PaceTPS: pace[m.Upstream].PaceTPS, Throttled: pace[m.Upstream].Throttled})
		}
		d.Groups = append(d.Groups, pg)
	}
	slices.SortFunc(d.Groups, func(a, b pageGroup) int { return strings.Compare(a.Name, b.Name) })

	for _, ss := range s.Sessions {
		c := client(ss.SystemID)
		c.Sessions = append(c.Sessions, ss)
	}
	for _, o := range s.Outboxes {
		c := client(o.SystemID)
		c.Depth, c.Oldest = o.Depth, o.OldestAge.Round(time.Second)
	}
	for _, dl := range s.DeadLetters {
		if !strings.HasPrefix(dl.SystemID, "@") { // an upstream's unmatched receipts
			client(dl.SystemID).DeadLetters = dl.Count
		}
	}
	for id, c := range clients {
		c.Suspended = suspended[id]
		slices.SortFunc(c.Sessions, func(a, b metrics.SessionInfo) int { return cmp.Compare(a.ID, b.ID) })
		d.Clients = append(d.Clients, *c)
	}
	slices.SortFunc(d.Clients, func(a, b pageClient) int { return strings.Compare(a.SystemID, b.SystemID) })
	return d
}
