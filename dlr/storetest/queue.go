package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/internal/pdu"
)

// Queued returns a message of systemID with id clientID for group's
// queue, accepted at at and expiring at expires (zero: never).
func Queued(group, systemID, clientID string, at, expires time.Time) *dlr.Queued {
	return &dlr.Queued{
		Group:   group,
		Origin:  dlr.Origin{SystemID: systemID, ClientID: clientID, Session: 3, Submitted: at.UnixNano()},
		Raw:     pdu.Request(pdu.SubmitSM, 0, []byte(systemID+"/"+clientID)),
		Expires: expires,
	}
}

// EnqueueSync enqueues m and fails the test unless it is stored.
func EnqueueSync(t testing.TB, s dlr.QueueStore, m *dlr.Queued) {
	t.Helper()
	Wait(t, func(done func(error)) { s.Enqueue(m, 1000, done) })
}

// SettleSync settles m and fails the test unless it is removed.
func SettleSync(t testing.TB, s dlr.QueueStore, m *dlr.Queued) {
	t.Helper()
	Wait(t, func(done func(error)) { s.Settle(m, done) })
}

// QueuedIDs returns "system_id/client id" of each message of ms.
func QueuedIDs(ms []*dlr.Queued) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.SystemID + "/" + m.ClientID
	}
	return out
}

// TakeAll takes up to n messages of group and fails the test on an error.
func TakeAll(t testing.TB, s dlr.QueueStore, group string, n int) []*dlr.Queued {
	t.Helper()
	ms, err := s.Take(group, n)
	if err != nil {
		t.Fatalf("Take(%s, %d): %v", group, n, err)
	}
	return ms
}

// CheckQueue checks the promises of dlr.QueueStore that do not need a
// restart: order per client, turns between clients, put back, cancel,
// lookups, lengths and expiry.
func CheckQueue(t *testing.T, s dlr.QueueStore, now time.Time) {
	t.Helper()
	// a has three messages, b two, c one; all arrive before any is taken.
	var in []*dlr.Queued
	for i, sys := range []string{"a", "a", "b", "a", "c", "b"} {
		m := Queued("g", sys, fmt.Sprintf("%s%d", sys, i), now.Add(time.Duration(i)*time.Second), time.Time{})
		EnqueueSync(t, s, m)
		if len(in) > 0 && m.Seq <= in[len(in)-1].Seq {
			t.Fatalf("Seq %d after %d: not in order of arrival", m.Seq, in[len(in)-1].Seq)
		}
		in = append(in, m)
	}
	EnqueueSync(t, s, Queued("other", "a", "o1", now, time.Time{}))
	if n, oldest, err := s.QueueLen("g"); n != 6 || !oldest.Equal(time.Unix(0, now.UnixNano())) || err != nil {
		t.Fatalf("QueueLen = %d, %v, %v; want 6, %v", n, oldest, err, now)
	}
	first := TakeAll(t, s, "g", 3)
	if got := clientsOf(first); len(got) != 3 || got[0] == got[1] || got[1] == got[2] || got[0] == got[2] {
		t.Fatalf("first three taken %v: each client should have had its turn", QueuedIDs(first))
	}
	rest := TakeAll(t, s, "g", 10)
	all := append(slices.Clone(first), rest...)
	if len(all) != 6 {
		t.Fatalf("took %v, want the six messages of g", QueuedIDs(all))
	}
	checkFIFO(t, all, "a0", "a1", "a3")
	checkFIFO(t, all, "b2", "b5")
	if more := TakeAll(t, s, "g", 10); len(more) != 0 {
		t.Fatalf("taken again: %v", QueuedIDs(more))
	}
	for _, m := range all {
		if !m.Taken {
			t.Fatalf("%s returned by Take not marked taken", m.ClientID)
		}
	}
	// Taken: found, not cancelled, still counted.
	if m, ok, err := s.FindQueued("a", "a1"); !ok || err != nil || !m.Taken {
		t.Fatalf("FindQueued(a, a1) = %+v, %v, %v; want it taken", m, ok, err)
	}
	if m, ok, err := s.CancelQueued("a", "a1"); !ok || err != nil || !m.Taken {
		t.Fatalf("CancelQueued of a taken message = %+v, %v, %v; want it found taken, kept", m, ok, err)
	}
	if n, _, _ := s.QueueLen("g"); n != 6 {
		t.Fatalf("QueueLen = %d with six taken, want 6", n)
	}
	// Put back: taken again in their place, before what came after.
	var back []*dlr.Queued
	for _, m := range all {
		if m.ClientID == "a0" || m.ClientID == "a1" || m.ClientID == "b5" {
			back = append(back, m)
		}
	}
	if err := s.PutBack(back); err != nil {
		t.Fatal(err)
	}
	EnqueueSync(t, s, Queued("g", "a", "a9", now.Add(time.Minute), time.Time{}))
	again := TakeAll(t, s, "g", 10)
	checkFIFO(t, again, "a0", "a1", "a9")
	if len(again) != 4 || !slices.Contains(QueuedIDs(again), "b/b5") {
		t.Fatalf("after PutBack took %v, want a0, a1, a9 and b5", QueuedIDs(again))
	}
	for _, m := range append(all, again...) {
		if m.ClientID != "a0" && m.ClientID != "a1" && m.ClientID != "b5" || slices.Contains(again, m) {
			SettleSync(t, s, m)
		}
	}
	if n, oldest, err := s.QueueLen("g"); n != 0 || !oldest.IsZero() || err != nil {
		t.Fatalf("QueueLen after Settle = %d, %v, %v", n, oldest, err)
	}
	if _, ok, _ := s.FindQueued("a", "a1"); ok {
		t.Fatal("a settled message is still found")
	}

	// Cancel of a message not taken removes it.
	EnqueueSync(t, s, Queued("g", "a", "c1", now, time.Time{}))
	EnqueueSync(t, s, Queued("g", "a", "c2", now, time.Time{}))
	if m, ok, err := s.CancelQueued("a", "c1"); !ok || err != nil || m.Taken || m.ClientID != "c1" {
		t.Fatalf("CancelQueued = %+v, %v, %v; want c1 removed", m, ok, err)
	}
	if _, ok, _ := s.FindQueued("a", "c1"); ok {
		t.Fatal("a cancelled message is still found")
	}
	if _, ok, _ := s.CancelQueued("a", "nope"); ok {
		t.Fatal("CancelQueued found a message never queued")
	}
	if got := TakeAll(t, s, "g", 10); len(got) != 1 || got[0].ClientID != "c2" {
		t.Fatalf("took %v after the cancel, want c2 alone", QueuedIDs(got))
	} else {
		SettleSync(t, s, got[0])
	}

	// Expiry: only what expired is taken, wherever it stands.
	EnqueueSync(t, s, Queued("g", "a", "e1", now, now.Add(time.Hour)))
	EnqueueSync(t, s, Queued("g", "a", "e2", now, now.Add(-time.Second)))
	EnqueueSync(t, s, Queued("g", "b", "e3", now, time.Time{}))
	exp, err := s.TakeExpired("g", now, 10)
	if err != nil || len(exp) != 1 || exp[0].ClientID != "e2" || !exp[0].Taken {
		t.Fatalf("TakeExpired = %v, %v; want e2", QueuedIDs(exp), err)
	}
	SettleSync(t, s, exp[0])
	if got := TakeAll(t, s, "g", 10); len(got) != 2 {
		t.Fatalf("took %v, want e1 and e3", QueuedIDs(got))
	}
	if got := TakeAll(t, s, "other", 10); len(got) != 1 || got[0].ClientID != "o1" || string(got[0].Raw) != string(pdu.Request(pdu.SubmitSM, 0, []byte("a/o1"))) {
		t.Fatalf("took %v from the other group, want o1 with its PDU", QueuedIDs(got))
	}
	if o, err := s.Orphans("g"); len(o) != 0 || err != nil {
		t.Fatalf("Orphans = %v, %v while this process runs", QueuedIDs(o), err)
	}
	checkQueueFull(t, s, now)
}

// checkQueueFull checks max_items: the messages held, taken or not, count.
func checkQueueFull(t *testing.T, s dlr.QueueStore, now time.Time) {
	t.Helper()
	errc := make(chan error, 1)
	enqueue := func(id string) error {
		s.Enqueue(Queued("full", "a", id, now, time.Time{}), 2, func(err error) { errc <- err })
		return <-errc
	}
	if err := enqueue("f1"); err != nil {
		t.Fatal(err)
	}
	taken := TakeAll(t, s, "full", 1)
	if err := enqueue("f2"); err != nil {
		t.Fatal(err)
	}
	if err := enqueue("f3"); !errors.Is(err, dlr.ErrQueueFull) {
		t.Fatalf("third message with max_items 2: %v, want ErrQueueFull", err)
	}
	SettleSync(t, s, taken[0])
	if err := enqueue("f3"); err != nil {
		t.Fatalf("after one left: %v", err)
	}
}

func clientsOf(ms []*dlr.Queued) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.SystemID
	}
	return out
}

// checkFIFO fails unless ids, all among ms, come in this order there.
func checkFIFO(t *testing.T, ms []*dlr.Queued, ids ...string) {
	t.Helper()
	at := -1
	for _, id := range ids {
		i := slices.IndexFunc(ms, func(m *dlr.Queued) bool { return m.ClientID == id })
		if i < 0 || i < at {
			t.Fatalf("%v: want %v in this order", QueuedIDs(ms), ids)
		}
		at = i
	}
}

// CheckQueueOrphans checks what a durable QueueStore keeps across a
// restart: s is closed by close and reopened by reopen. A message taken
// before the restart is an orphan, never taken again; the others are
// taken in their order; a settled one is gone.
func CheckQueueOrphans(t *testing.T, s dlr.QueueStore, close func(), reopen func() dlr.QueueStore, now time.Time) {
	t.Helper()
	for i := range 4 {
		EnqueueSync(t, s, Queued("g", "a", fmt.Sprint("r", i), now, time.Time{}))
	}
	taken := TakeAll(t, s, "g", 2)
	if err := s.PutBack(taken[1:]); err != nil {
		t.Fatal(err)
	}
	close()
	s = reopen()
	orphans, err := s.Orphans("g")
	if err != nil || len(orphans) != 1 || orphans[0].ClientID != "r0" || !orphans[0].Taken {
		t.Fatalf("Orphans = %v, %v; want r0, taken before the restart", QueuedIDs(orphans), err)
	}
	if n, _, _ := s.QueueLen("g"); n != 4 {
		t.Fatalf("QueueLen after the restart = %d, want 4", n)
	}
	got := TakeAll(t, s, "g", 10)
	if ids := QueuedIDs(got); !slices.Equal(ids, []string{"a/r1", "a/r2", "a/r3"}) {
		t.Fatalf("took %v after the restart, want r1, r2, r3", ids)
	}
	if string(got[0].Raw) != string(pdu.Request(pdu.SubmitSM, 0, []byte("a/r1"))) || got[0].Session != 3 {
		t.Fatalf("r1 read back as %+v", got[0])
	}
	SettleSync(t, s, orphans[0])
	SettleSync(t, s, got[0])
	close()
	s = reopen()
	if o, _ := s.Orphans("g"); len(o) != 2 || o[0].ClientID != "r2" && o[1].ClientID != "r2" {
		t.Fatalf("Orphans after the second restart = %v, want r2 and r3", QueuedIDs(o))
	}
	if n, _, _ := s.QueueLen("g"); n != 2 {
		t.Fatalf("QueueLen = %d, want 2 (r0 and r1 settled)", n)
	}
}

// CheckQueueSettles checks the writes that settle a queued message with
// what its outcome leads to: SettleSent writes its mapping and removes
// it; an outbox item whose Settles is a message removes that message.
func CheckQueueSettles(t *testing.T, s dlr.Store, now time.Time) {
	t.Helper()
	qs := s.(dlr.QueueStore)
	EnqueueSync(t, qs, Queued("g", "a", "sent", now, time.Time{}))
	EnqueueSync(t, qs, Queued("g", "a", "expired", now, time.Time{}))
	taken := TakeAll(t, qs, "g", 2)
	if len(taken) != 2 {
		t.Fatalf("took %v, want both", QueuedIDs(taken))
	}
	sent, expired := taken[0], taken[1]
	mp := dlr.Mapping{Upstream: "u", UpstreamID: "X1", Origin: sent.Origin, Expires: now.Add(time.Hour)}
	Wait(t, func(done func(error)) { qs.SettleSent(sent, mp, done) })
	if got, ok, err := s.ByClient("a", "sent"); err != nil || !ok || got.UpstreamID != "X1" || got.Upstream != "u" {
		t.Fatalf("ByClient after SettleSent = %+v, %v, %v; want the mapping", got, ok, err)
	}
	if o, ok, err := s.Get("u", "X1"); err != nil || !ok || o.ClientID != "sent" {
		t.Fatalf("Get after SettleSent = %+v, %v, %v", o, ok, err)
	}
	if _, ok, err := qs.FindQueued("a", "sent"); ok || err != nil {
		t.Fatalf("FindQueued after SettleSent = %v, %v; want it gone from the queue", ok, err)
	}
	Wait(t, func(done func(error)) {
		s.AddOutbox("a", &dlr.Item{Raw: ReceiptPDU(1), At: now, Settles: expired}, done)
	})
	if _, ok, err := qs.FindQueued("a", "expired"); ok || err != nil {
		t.Fatalf("FindQueued after its receipt's AddOutbox = %v, %v; want it gone from the queue", ok, err)
	}
	if n, _, err := qs.QueueLen("g"); n != 0 || err != nil {
		t.Fatalf("QueueLen = %d, %v; want 0", n, err)
	}
}
