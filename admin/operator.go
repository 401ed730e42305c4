package admin

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
	"unicode"

	"go.uber.org/zap"
)

// Operator is what the admin API acts on beyond Controller: upstreams
// stopped and started, clients kicked, suspended and resumed, the log
// level, outboxes and messages. Config.Operator is optional; without it
// these endpoints answer 404 and the status page shows less.
//
// Errors: one wrapping ErrUnknown is answered 404, ErrBadInput 400,
// ErrRefused 409, any other 500.
type Operator interface {
	// StopUpstream unbinds every bind of the upstream and keeps them down,
	// across reloads, until StartUpstream or a restart; changed is false
	// when it was stopped already.
	StopUpstream(name string) (changed bool, err error)
	// StartUpstream binds a stopped upstream again.
	StartUpstream(name string) (changed bool, err error)
	// KickClient unbinds every session of the client, saying why in the
	// log, and returns how many it closed.
	KickClient(systemID, reason string) (closed int, err error)
	// SuspendClient refuses the client's binds until ResumeClient, across
	// reloads, and unbinds its sessions; it returns how many it closed.
	SuspendClient(systemID string) (changed bool, closed int, err error)
	// ResumeClient lets a suspended client bind again.
	ResumeClient(systemID string) (changed bool, err error)
	// SetLogLevel sets the level of the running logger (debug, info,
	// warn, error).
	SetLogLevel(level string) error
	// Outbox returns the client's outbox: its depth and age, and up to
	// limit of its waiting items, those numbered after after.
	Outbox(systemID string, after uint64, limit int) (Outbox, error)
	// PurgeOutbox deletes the client's outbox item seq, or every item
	// waiting when seq is 0, and returns how many.
	PurgeOutbox(systemID string, seq uint64) (int, error)
	// Message looks a message up by the id its client was given.
	Message(systemID, messageID string) (Message, error)
	// Control returns what operators changed and what the status page
	// shows besides the snapshot.
	Control() Control
}

// Control is the state operators set at run time, with the clients and
// the last warnings logged.
type Control struct {
	LogLevel         string   `json:"log_level"`
	StoppedUpstreams []string `json:"stopped_upstreams"`
	SuspendedClients []string `json:"suspended_clients"`
	// Drained names the members drained through the API, "group/upstream".
	Drained []string `json:"drained"`
	// Clients lists every configured client.
	Clients []ClientState `json:"clients"`
	// RecentErrors are the last warnings and errors logged, newest first.
	RecentErrors []LogEntry `json:"recent_errors"`
}

// ClientState is one configured client as the status page shows it.
type ClientState struct {
	SystemID  string `json:"system_id"`
	Suspended bool   `json:"suspended"`
	Sessions  int    `json:"sessions"`
}

// LogEntry is one warning or error logged; Count says how many times in a
// row it came (Time is the last).
type LogEntry struct {
	Time    time.Time         `json:"time"`
	Level   string            `json:"level"`
	Logger  string            `json:"logger"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
	Count   int               `json:"count"`
}

// Outbox is one client's outbox and a page of its items.
type Outbox struct {
	SystemID string `json:"system_id"`
	Depth    int    `json:"depth"`
	// OldestAgeSeconds is the age of the oldest item, 0 when empty.
	OldestAgeSeconds float64      `json:"oldest_age_seconds"`
	Items            []OutboxItem `json:"items"`
}

// OutboxItem is one item waiting in an outbox: a receipt or an MO
// message. Text is there only while the log level is debug.
type OutboxItem struct {
	Seq        uint64    `json:"seq"`
	Arrived    time.Time `json:"arrived"`
	Attempts   int       `json:"attempts"`
	Refusals   int       `json:"refusals"`
	LastStatus string    `json:"last_status,omitempty"`
	RetryAt    time.Time `json:"retry_at,omitzero"`
	Command    string    `json:"command"`
	Receipt    bool      `json:"receipt"`
	// MessageID is a receipt's message id, the one the client was given;
	// State the state it reports (DELIVRD, UNDELIV...).
	MessageID   string `json:"message_id,omitempty"`
	State       string `json:"state,omitempty"`
	Source      string `json:"source,omitempty"`
	Destination string `json:"destination,omitempty"`
	Text        string `json:"text,omitempty"`
}

// Message is what smppmux knows of one message by its client's id.
type Message struct {
	SystemID  string `json:"system_id"`
	MessageID string `json:"message_id"`
	// State: awaiting_receipt (its mapping is kept: no final receipt
	// yet), receipt_in_outbox (its final receipt waits for the client),
	// receipt_dead_letter.
	State string `json:"state"`
	// Upstream and UpstreamID, Session (the route its receipts take: the
	// session it was submitted on, tried first) and Submitted are known
	// while its mapping is kept.
	Upstream     string    `json:"upstream,omitempty"`
	UpstreamID   string    `json:"upstream_id,omitempty"`
	Session      uint64    `json:"session,omitempty"`
	SessionBound bool      `json:"session_bound"`
	Submitted    time.Time `json:"submitted,omitzero"`
	Expires      time.Time `json:"expires,omitzero"`
	// Receipts are its receipts still in the client's outbox or dead
	// letters.
	Receipts []MessageReceipt `json:"receipts"`
}

// MessageReceipt is a receipt of the message kept in its client's outbox
// (Where: outbox) or dead letters (dead_letter).
type MessageReceipt struct {
	Where   string    `json:"where"`
	Seq     uint64    `json:"seq"`
	State   string    `json:"state"`
	Arrived time.Time `json:"arrived"`
}

// maxReason bounds a kick's reason.
const maxReason = 200

// Outbox listings are this long unless the request says (?limit=), and
// never longer than maxOutboxItems.
const (
	defaultOutboxItems = 100
	maxOutboxItems     = 10000
)

func (h *handler) routeOperator(mux *http.ServeMux) {
	mux.Handle("POST /api/v1/upstreams/{upstream}/stop", h.auth(h.upstreamOp("upstream stop", h.op.StopUpstream)))
	mux.Handle("POST /api/v1/upstreams/{upstream}/start", h.auth(h.upstreamOp("upstream start", h.op.StartUpstream)))
	mux.Handle("POST /api/v1/clients/{client}/kick", h.auth(http.HandlerFunc(h.kick)))
	mux.Handle("POST /api/v1/clients/{client}/suspend", h.auth(http.HandlerFunc(h.suspend)))
	mux.Handle("POST /api/v1/clients/{client}/resume", h.auth(http.HandlerFunc(h.resume)))
	mux.Handle("GET /api/v1/log-level", h.auth(http.HandlerFunc(h.logLevel)))
	mux.Handle("PUT /api/v1/log-level", h.auth(http.HandlerFunc(h.setLogLevel)))
	mux.Handle("GET /api/v1/clients/{client}/outbox", h.auth(http.HandlerFunc(h.outbox)))
	mux.Handle("DELETE /api/v1/clients/{client}/outbox", h.auth(http.HandlerFunc(h.purgeOutbox)))
	mux.Handle("DELETE /api/v1/clients/{client}/outbox/{seq}", h.auth(http.HandlerFunc(h.purgeOutbox)))
	mux.Handle("GET /api/v1/clients/{client}/messages/{message_id}", h.auth(http.HandlerFunc(h.message)))
}

// opError answers err with its status: 404, 400, 409 or 500.
func opError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrUnknown):
		code = http.StatusNotFound
	case errors.Is(err, ErrBadInput):
		code = http.StatusBadRequest
	case errors.Is(err, ErrRefused):
		code = http.StatusConflict
	}
	text(w, code, err.Error())
}

// logOp writes the one line of an operation: done, or refused and why.
func (h *handler) logOp(action string, r *http.Request, err error, fields ...zap.Field) {
	fields = append(fields, zap.String("remote", r.RemoteAddr))
	if err != nil {
		h.log.Info(action, append(fields, zap.String("result", "refused"), zap.Error(err))...)
		return
	}
	h.log.Info(action, append(fields, zap.String("result", "done"))...)
}

// result says whether an idempotent operation changed anything.
func result(changed bool) zap.Field { return zap.Bool("changed", changed) }

func (h *handler) upstreamOp(action string, do func(string) (bool, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("upstream")
		changed, err := do(name)
		h.logOp(action, r, err, zap.String("upstream", name), result(changed))
		if err != nil {
			opError(w, err)
			return
		}
		noContent(w)
	})
}

func (h *handler) kick(w http.ResponseWriter, r *http.Request) {
	client, reason := r.PathValue("client"), r.URL.Query().Get("reason")
	if len(reason) > maxReason || !printable(reason) {
		text(w, http.StatusBadRequest, "reason: at most "+strconv.Itoa(maxReason)+" printable characters")
		return
	}
	n, err := h.op.KickClient(client, reason)
	h.logOp("client kick", r, err, zap.String("client", client), zap.String("reason", reason), zap.Int("closed", n))
	if err != nil {
		opError(w, err)
		return
	}
	writeJSON(w, map[string]int{"closed": n})
}

func (h *handler) suspend(w http.ResponseWriter, r *http.Request) {
	client := r.PathValue("client")
	changed, n, err := h.op.SuspendClient(client)
	h.logOp("client suspend", r, err, zap.String("client", client), result(changed), zap.Int("closed", n))
	if err != nil {
		opError(w, err)
		return
	}
	writeJSON(w, map[string]int{"closed": n})
}

func (h *handler) resume(w http.ResponseWriter, r *http.Request) {
	client := r.PathValue("client")
	changed, err := h.op.ResumeClient(client)
	h.logOp("client resume", r, err, zap.String("client", client), result(changed))
	if err != nil {
		opError(w, err)
		return
	}
	noContent(w)
}

func (h *handler) logLevel(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]string{"level": h.op.Control().LogLevel})
}

func (h *handler) setLogLevel(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Level string `json:"level"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Level == "" {
		text(w, http.StatusBadRequest, `want a JSON body {"level": "debug|info|warn|error"}`)
		return
	}
	err := h.op.SetLogLevel(req.Level)
	h.logOp("log level", r, err, zap.String("level", req.Level))
	if err != nil {
		opError(w, err)
		return
	}
	writeJSON(w, map[string]string{"level": h.op.Control().LogLevel})
}

func (h *handler) outbox(w http.ResponseWriter, r *http.Request) {
	after, limit, ok := paging(w, r, "item", defaultOutboxItems, maxOutboxItems)
	if !ok {
		return
	}
	client := r.PathValue("client")
	ob, err := h.op.Outbox(client, after, limit)
	h.logOp("outbox list", r, err, zap.String("client", client), zap.Uint64("after", after), zap.Int("items", len(ob.Items)))
	if err != nil {
		opError(w, err)
		return
	}
	ob.Items = nonNil(ob.Items)
	writeJSON(w, ob)
}

func (h *handler) purgeOutbox(w http.ResponseWriter, r *http.Request) {
	h.purge(w, r, "item", "outbox purge", h.op.PurgeOutbox, opError)
}

// purge deletes one of a client's whats (the path's {seq}) or, without
// {seq}, all of them through do, logs it as action and answers how many
// went, or fail's answer to do's error.
func (h *handler) purge(w http.ResponseWriter, r *http.Request, what, action string,
	do func(client string, seq uint64) (int, error), fail func(http.ResponseWriter, error)) {
	client := r.PathValue("client")
	seq, ok := pathSeq(w, r, what)
	if !ok {
		return
	}
	n, err := do(client, seq)
	h.logOp(action, r, err, zap.String("client", client), zap.Uint64("seq", seq), zap.Int("count", n))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, map[string]int{"purged": n})
}

func (h *handler) message(w http.ResponseWriter, r *http.Request) {
	client, id := r.PathValue("client"), r.PathValue("message_id")
	m, err := h.op.Message(client, id)
	h.logOp("message lookup", r, err, zap.String("client", client), zap.String("message_id", id), zap.String("state", m.State))
	if err != nil {
		opError(w, err)
		return
	}
	m.Receipts = nonNil(m.Receipts)
	writeJSON(w, m)
}

// noContent answers 204.
func noContent(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// printable reports whether s holds only printable characters.
func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
