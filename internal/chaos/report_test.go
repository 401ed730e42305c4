//go:build chaos && linux

package chaos

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// since formats d after a reference as +1.23s.
func since(d time.Duration) string { return fmt.Sprintf("+%.2fs", d.Seconds()) }

// report adds the scenario's row and fails the test for each failed
// criterion: a lost receipt, a duplicate (unless dupsAllowed), no
// recovery.
func (r *run) report(tl tally, detect, recovered string, isRecovered, dupsAllowed bool) {
	if tl.lost > 0 {
		r.fail("%d of %d accepted messages never got their receipt", tl.lost, tl.accepted)
		r.note("lost receipts: of messages accepted %s", lostSpan(tl.lostAt, r.load.start))
	}
	if tl.dups > 0 {
		r.note("duplicates delivered %s; their first deliveries %s", lostSpan(tl.dupAt, r.load.start), lostSpan(tl.dupFirst, r.load.start))
		if dupsAllowed {
			r.note("%d duplicate receipts over %d message_ids (allowed across a kill -9)", tl.dups, tl.dupIDs)
		} else {
			r.fail("%d duplicate receipts over %d message_ids", tl.dups, tl.dupIDs)
		}
	}
	if tl.idReused > 0 {
		r.fail("%d message_ids given twice", tl.idReused)
	}
	if !isRecovered {
		r.fail("no recovery: %s", recovered)
	}
	if r.logFrom.IsZero() {
		r.logFrom = r.load.start
	}
	if l := r.log.loudest(r.logFrom, 8); len(l) > 0 {
		r.note("smppmux's warn/error lines from the fault on: %s", strings.Join(l, "; "))
	}
	if tl.unknown > 0 {
		r.note("%d receipts for message_ids the client was never given (their submits got no ESME_ROK)", tl.unknown)
	}
	if tl.binds > 1 {
		r.note("the client bound %d times", tl.binds)
	}
	verdict := "PASS"
	if len(r.fails) > 0 {
		verdict = "FAIL"
	}
	notes := append([]string(nil), r.notes...)
	for _, f := range r.fails {
		notes = append(notes, "FAIL: "+f)
	}
	row := row{n: r.n, name: r.name, detect: detect, errors: errorsText(tl), accepted: tl.accepted,
		lost: tl.lost, dups: tl.dups, recovered: recovered, verdict: verdict, notes: notes}
	addRow(row)
	r.t.Logf("%s: detection %s; client errors %s; accepted %d, lost %d, duplicated %d; recovered %s: %s",
		r.name, row.detect, row.errors, row.accepted, row.lost, row.dups, row.recovered, verdict)
	for _, n := range notes {
		r.t.Log("  " + n)
	}
	for _, f := range r.fails {
		r.t.Errorf("%s (log in %s)", f, r.dir)
	}
}

// errorsText lists the client's errors by kind, most first.
func errorsText(tl tally) string {
	if len(tl.errors) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(tl.errors))
	for k := range tl.errors {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return tl.errors[keys[i]] > tl.errors[keys[j]] })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, tl.errors[k])
	}
	return strings.Join(parts, ", ")
}

// lostSpan says when the lost messages were accepted, from the load's
// start.
func lostSpan(at []time.Time, start time.Time) string {
	if len(at) == 0 {
		return ""
	}
	sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
	return fmt.Sprintf("between %s and %s after the load started", since(at[0].Sub(start)), since(at[len(at)-1].Sub(start)))
}

// errSuffix writes a log line's error fields after its message.
func errSuffix(err string) string {
	if err == "" {
		return ""
	}
	return " (" + clip(err, 120) + ")"
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// recoveredText writes a recovery for the row; restarts counts the
// supervised restarts it took.
func (r *run) recoveredText(d time.Duration, ok bool, restarts int) string {
	switch {
	case !ok && r.m().exited():
		return "no (exited)"
	case !ok:
		return fmt.Sprintf("no (in %s)", recoverWait)
	case restarts == 1:
		return "yes " + since(d) + " after a restart"
	case restarts > 1:
		return fmt.Sprintf("yes %s after %d restarts", since(d), restarts)
	}
	return "yes " + since(d)
}
