package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/smppmux/smppmux/internal/ratelog"
	"github.com/smppmux/smppmux/metrics"
)

// Controller is what the admin API reads and acts on. Its Snapshot is the
// same as a metrics.Source's, so one value can serve both.
type Controller interface {
	// Snapshot returns the current state.
	Snapshot() metrics.Snapshot
	// Drain sets the weight of upstream in group to 0 without dropping its
	// binds. An unknown group or member is an error wrapping ErrNotFound.
	Drain(group, upstream string) error
	// Undrain gives upstream in group its configured weight back.
	Undrain(group, upstream string) error
	// Reload re-reads the configuration file and applies it, or refuses it
	// whole with an error that says why.
	Reload() error
	// DeadLetterCounts returns how many dead letters each client has.
	DeadLetterCounts() ([]metrics.DeadLetterInfo, error)
	// DeadLetters returns up to limit of client's dead letters, those
	// after the one numbered after (0: from the first). A client that is
	// neither configured nor holds any is an error wrapping
	// ErrNoDeadLetter.
	DeadLetters(client string, after uint64, limit int) ([]DeadLetter, error)
	// PurgeDeadLetters deletes client's dead letter seq, or all of them
	// when seq is 0, and returns how many it deleted; none is an error
	// wrapping ErrNoDeadLetter when seq was named or the client is not
	// configured.
	PurgeDeadLetters(client string, seq uint64) (int, error)
	// RetryDeadLetters puts client's dead letters back at the end of its
	// outbox and returns how many; an unconfigured client is an error
	// wrapping ErrNoDeadLetter.
	RetryDeadLetters(client string) (int, error)
}

// Config holds the admin API's settings.
type Config struct {
	// Controller answers status and performs actions. Required.
	Controller Controller
	// Operator performs the operators' actions (upstream stop and start,
	// client kick and suspension, log level, outboxes, message lookup)
	// and fills the status page; nil leaves those endpoints out (404).
	Operator Operator
	// Gatherer is exposed on /metrics; nil leaves /metrics out (404).
	Gatherer prometheus.Gatherer
	// Token, when set, is the bearer token every endpoint but /healthz
	// requires ("Authorization: Bearer <token>").
	Token string
	// Logger receives one line per drain, undrain and reload (the only
	// line of a reload made through the API: Controller.Reload must not
	// log its outcome again), and, at most once per 10 s, the requests
	// refused for their token; nil logs nothing.
	Logger *zap.Logger
}

// refusedLogEvery is the least time between two "admin request refused"
// lines.
const refusedLogEvery = 10 * time.Second

// handler serves the admin API.
type handler struct {
	ctl   Controller
	op    Operator // nil: no operator endpoints
	log   *zap.Logger
	token *[sha256.Size]byte // digest of Config.Token; nil when none is required
	// refusedLog paces the lines of requests refused for their token.
	refusedLog ratelog.Every
}

// NewHandler returns the admin API's handler. It panics if cfg.Controller
// is nil.
func NewHandler(cfg Config) http.Handler {
	if cfg.Controller == nil {
		panic("admin: NewHandler needs a Controller")
	}
	h := &handler{ctl: cfg.Controller, op: cfg.Operator, log: cfg.Logger}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	if cfg.Token != "" {
		sum := sha256.Sum256([]byte(cfg.Token))
		h.token = &sum
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.Handle("GET /readyz", h.auth(http.HandlerFunc(h.readyz)))
	if cfg.Gatherer != nil {
		mux.Handle("GET /metrics", h.auth(promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{
			ErrorLog:      zap.NewStdLog(h.log),
			ErrorHandling: promhttp.ContinueOnError,
		})))
	}
	mux.Handle("GET /api/v1/status", h.auth(http.HandlerFunc(h.status)))
	mux.Handle("POST /api/v1/groups/{group}/members/{upstream}/drain", h.auth(h.member("drain", h.ctl.Drain)))
	mux.Handle("POST /api/v1/groups/{group}/members/{upstream}/undrain", h.auth(h.member("undrain", h.ctl.Undrain)))
	mux.Handle("POST /api/v1/reload", h.auth(http.HandlerFunc(h.reload)))
	mux.Handle("GET /api/v1/deadletters", h.auth(http.HandlerFunc(h.deadLetterCounts)))
	mux.Handle("GET /api/v1/deadletters/{client}", h.auth(http.HandlerFunc(h.deadLetters)))
	mux.Handle("DELETE /api/v1/deadletters/{client}", h.auth(http.HandlerFunc(h.purgeDeadLetters)))
	mux.Handle("DELETE /api/v1/deadletters/{client}/{seq}", h.auth(http.HandlerFunc(h.purgeDeadLetters)))
	mux.Handle("POST /api/v1/deadletters/{client}/retry", h.auth(http.HandlerFunc(h.retryDeadLetters)))
	if h.op != nil {
		h.routeOperator(mux)
	}
	h.routePage(mux)
	// Go's profiler, for `go tool pprof http://127.0.0.1:9090/debug/pprof/profile`.
	mux.Handle("GET /debug/pprof/", h.auth(http.HandlerFunc(pprof.Index)))
	mux.Handle("GET /debug/pprof/cmdline", h.auth(http.HandlerFunc(pprof.Cmdline)))
	mux.Handle("GET /debug/pprof/profile", h.auth(http.HandlerFunc(pprof.Profile)))
	mux.Handle("GET /debug/pprof/symbol", h.auth(http.HandlerFunc(pprof.Symbol)))
	mux.Handle("GET /debug/pprof/trace", h.auth(http.HandlerFunc(pprof.Trace)))
	// A web page elsewhere cannot make the browser of someone who can reach
	// the API change anything: unsafe requests from another origin, as the
	// browser tells (Sec-Fetch-Site, Origin), are refused with 403.
	return http.NewCrossOriginProtection().Handler(mux)
}

// auth wraps next with the bearer token check when a token is configured.
func (h *handler) auth(next http.Handler) http.Handler {
	if h.token == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !h.authorized(r) {
			if challenge(r) {
				h.log.Debug("status page asked for credentials", zap.String("remote", r.RemoteAddr), zap.String("path", r.URL.Path))
			} else {
				h.logRefused(r.RemoteAddr, r.URL.Path)
			}
			w.Header().Add("WWW-Authenticate", `Bearer realm="smppmux"`)
			if readOnly(r) {
				// A browser asks for the token as a password.
				w.Header().Add("WWW-Authenticate", `Basic realm="smppmux", charset="UTF-8"`)
			}
			text(w, http.StatusUnauthorized, "unauthorized")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authorized reports whether r carries the configured bearer token or,
// for a request that changes nothing (GET, HEAD), the token as the
// password of HTTP Basic authentication, which browsers send by
// themselves: the status page. Browsers would send it with requests other
// pages make too, so it never authorizes a change. Both sides are hashed
// first so that the comparison takes the same time whatever the length or
// content of what was sent.
func (h *handler) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	switch {
	case ok && strings.EqualFold(scheme, "Bearer"):
	case ok && strings.EqualFold(scheme, "Basic") && readOnly(r):
		if _, token, ok = r.BasicAuth(); !ok {
			return false
		}
	default:
		return false
	}
	sum := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(sum[:], h.token[:]) == 1
}

// challenge reports whether r is a browser's first request for the status
// page or its assets, sent without credentials until the Basic challenge
// asks for them: every visit makes one, so it is no warning.
func challenge(r *http.Request) bool {
	return readOnly(r) && r.Header.Get("Authorization") == "" &&
		(r.URL.Path == "/" || strings.HasPrefix(r.URL.Path, "/static/"))
}

// readOnly reports whether r changes nothing by its method.
func readOnly(r *http.Request) bool { return r.Method == http.MethodGet || r.Method == http.MethodHead }

func (h *handler) healthz(w http.ResponseWriter, _ *http.Request) {
	text(w, http.StatusOK, "ok")
}

func (h *handler) readyz(w http.ResponseWriter, _ *http.Request) {
	s := h.ctl.Snapshot()
	if s.Ready {
		text(w, http.StatusOK, "ready")
		return
	}
	bound := 0
	for _, b := range s.Binds {
		if b.State == "bound" {
			bound++
		}
	}
	var down []string
	for _, g := range s.Groups {
		if !g.Available {
			down = append(down, g.Name)
		}
	}
	var whys []string
	if !s.Store.Healthy && s.Store.Error != "" {
		whys = append(whys, "store: "+s.Store.Error)
	}
	if len(down) > 0 {
		whys = append(whys, "no available member in group "+strings.Join(down, ", "))
	}
	why := strings.Join(whys, "; ")
	if why == "" {
		why = "not serving"
	}
	text(w, http.StatusServiceUnavailable,
		fmt.Sprintf("not ready: %s (upstream binds bound: %d of %d)", why, bound, len(s.Binds)))
}

func (h *handler) status(w http.ResponseWriter, _ *http.Request) {
	s := h.ctl.Snapshot()
	// Empty lists are [] rather than null for the API's readers.
	s.Sessions = nonNil(s.Sessions)
	s.Binds = nonNil(s.Binds)
	s.Upstreams = nonNil(s.Upstreams)
	s.Outboxes = nonNil(s.Outboxes)
	s.DeadLetters = nonNil(s.DeadLetters)
	s.ClientCloses = nonNil(s.ClientCloses)
	groups := make([]metrics.GroupInfo, len(s.Groups))
	for i, g := range s.Groups {
		g.Members = nonNil(g.Members)
		groups[i] = g
	}
	s.Groups = groups
	doc := statusDoc{Snapshot: s}
	if h.op != nil {
		c := h.op.Control()
		c.StoppedUpstreams = nonNil(c.StoppedUpstreams)
		c.SuspendedClients = nonNil(c.SuspendedClients)
		c.Drained = nonNil(c.Drained)
		c.Clients = nonNil(c.Clients)
		c.RecentErrors = nonNil(c.RecentErrors)
		doc.Control = &c
	}
	writeJSON(w, doc)
}

// statusDoc is the status API's answer: the snapshot, and what operators
// changed at run time under "control".
type statusDoc struct {
	metrics.Snapshot
	Control *Control `json:"control,omitempty"`
}

// member returns the handler of a drain or undrain: 204 when do succeeds,
// 404 when the group or member is unknown, 409 when refused.
func (h *handler) member(action string, do func(group, upstream string) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		group, upstream := r.PathValue("group"), r.PathValue("upstream")
		err := do(group, upstream)
		fields := []zap.Field{
			zap.String("group", group),
			zap.String("upstream", upstream),
			zap.String("remote", r.RemoteAddr),
		}
		switch {
		case err == nil:
			h.log.Info(action, append(fields, zap.String("result", "done"))...)
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusNoContent)
		case errors.Is(err, ErrNotFound):
			h.log.Info(action, append(fields, zap.String("result", "not_found"), zap.Error(err))...)
			text(w, http.StatusNotFound, err.Error())
		default:
			h.log.Info(action, append(fields, zap.String("result", "refused"), zap.Error(err))...)
			text(w, http.StatusConflict, err.Error())
		}
	})
}

func (h *handler) reload(w http.ResponseWriter, r *http.Request) {
	if err := h.ctl.Reload(); err != nil {
		h.log.Warn("reload", zap.String("result", "refused"), zap.String("remote", r.RemoteAddr), zap.Error(err))
		text(w, http.StatusConflict, err.Error())
		return
	}
	h.log.Info("reload", zap.String("result", "done"), zap.String("remote", r.RemoteAddr))
	text(w, http.StatusOK, "reloaded")
}

// text writes a one-line plain text response.
func text(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
