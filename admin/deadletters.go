package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// DeadLetter is one dead letter as the API lists it: what it is and what
// happened to it, never its text.
type DeadLetter struct {
	Seq        uint64    `json:"seq"`
	Arrived    time.Time `json:"arrived"`
	DeadAt     time.Time `json:"dead_at"`
	Attempts   int       `json:"attempts"`
	Refusals   int       `json:"refusals"`
	LastStatus string    `json:"last_status"` // command_status as in metrics: 0x00000065
	Reason     string    `json:"reason"`      // refused, never
	Command    string    `json:"command"`     // deliver_sm, data_sm
	Receipt    bool      `json:"receipt"`     // a receipt, else an MO message
	// MessageID is a receipt's message id, the one the client was given.
	MessageID   string `json:"message_id,omitempty"`
	Source      string `json:"source,omitempty"`
	Destination string `json:"destination,omitempty"`
}

// Dead letter listings are this long unless the request says (?limit=),
// and never longer than maxDeadLetters.
const (
	defaultDeadLetters = 1000
	maxDeadLetters     = 10000
)

func (h *handler) deadLetterCounts(w http.ResponseWriter, _ *http.Request) {
	counts, err := h.ctl.DeadLetterCounts()
	if err != nil {
		text(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, nonNil(counts))
}

func (h *handler) deadLetters(w http.ResponseWriter, r *http.Request) {
	after, limit, ok := paging(w, r, "dead letter", defaultDeadLetters, maxDeadLetters)
	if !ok {
		return
	}
	list, err := h.ctl.DeadLetters(r.PathValue("client"), after, limit)
	if err != nil {
		h.deadLetterError(w, err)
		return
	}
	writeJSON(w, nonNil(list))
}

// purgeDeadLetters deletes one dead letter, or all of a client's.
func (h *handler) purgeDeadLetters(w http.ResponseWriter, r *http.Request) {
	h.purge(w, r, "dead letter", "purge dead letters", h.ctl.PurgeDeadLetters, h.deadLetterError)
}

func (h *handler) retryDeadLetters(w http.ResponseWriter, r *http.Request) {
	client := r.PathValue("client")
	n, err := h.ctl.RetryDeadLetters(client)
	h.logOp("retry dead letters", r, err, zap.String("client", client), zap.Int("count", n))
	if err != nil {
		if n > 0 {
			err = fmt.Errorf("%d put back, then: %w", n, err)
		}
		h.deadLetterError(w, err)
		return
	}
	writeJSON(w, map[string]int{"requeued": n})
}

// deadLetterError answers 404 for an unknown client or dead letter, 500
// for a store that failed.
func (h *handler) deadLetterError(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrNoDeadLetter) {
		text(w, http.StatusNotFound, err.Error())
		return
	}
	text(w, http.StatusInternalServerError, err.Error())
}

// paging reads ?after= (what's number, 0 when absent) and ?limit= (def
// when absent, from 1 to max); a bad one is answered 400 and ok is false.
func paging(w http.ResponseWriter, r *http.Request, what string, def, max int) (after uint64, limit int, ok bool) {
	limit = def
	var err error
	if v := r.URL.Query().Get("after"); v != "" {
		if after, err = strconv.ParseUint(v, 10, 64); err != nil {
			text(w, http.StatusBadRequest, "after: not a "+what+" number")
			return 0, 0, false
		}
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > max {
			text(w, http.StatusBadRequest, "limit: a number from 1 to "+strconv.Itoa(max))
			return 0, 0, false
		}
	}
	return after, limit, true
}

// pathSeq reads the path's {seq}, a what's number: 0 when absent; a bad
// one is answered 400 and ok is false.
func pathSeq(w http.ResponseWriter, r *http.Request, what string) (seq uint64, ok bool) {
	v := r.PathValue("seq")
	if v == "" {
		return 0, true
	}
	seq, err := strconv.ParseUint(v, 10, 64)
	if err != nil || seq == 0 {
		text(w, http.StatusBadRequest, "not a "+what+" number: "+v)
		return 0, false
	}
	return seq, true
}

// writeJSON answers 200 with v in indented JSON.
func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		text(w, http.StatusInternalServerError, "encoding: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(append(b, '\n'))
}
