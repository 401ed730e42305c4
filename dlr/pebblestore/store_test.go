package pebblestore

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/storetest"
)

func openPebble(t testing.TB, dir string, now func() time.Time) *Store {
	t.Helper()
	s, err := Open(Config{Dir: dir, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPebbleMappingsSurviveReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Now()
	s := openPebble(t, dir, nil)
	storetest.CheckMappings(t, s, now)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openPebble(t, dir, nil)
	defer s.Close()
	if r, ok, err := s.Get("a", "1"); err != nil || !ok || r.ClientID != "x" || r.Session != 7 {
		t.Fatalf("after reopen Get = %+v, %v, %v", r, ok, err)
	}
}

func TestPebbleSweep(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(time.Unix(10_000, 0))
	s := openPebble(t, t.TempDir(), clock.Now)
	defer s.Close()
	for i := range 10 {
		m := dlr.Mapping{Upstream: "u", UpstreamID: fmt.Sprint(i), Origin: dlr.Origin{SystemID: "shop", ClientID: fmt.Sprint("c", i)},
			Expires: clock.Now().Add(time.Duration(i+1) * time.Minute)}
		storetest.Wait(t, func(done func(error)) { s.PutMapping(m, done) })
	}
	clock.Add(5*time.Minute + time.Second)
	n, err := s.Sweep()
	if err != nil || n != 5 {
		t.Fatalf("Sweep = %d, %v; want 5", n, err)
	}
	if _, ok, _ := s.Get("u", "4"); ok {
		t.Fatal("expired mapping still there")
	}
	if _, ok, _ := s.ByClient("shop", "c4"); ok {
		t.Fatal("expired client mapping still there")
	}
	if _, ok, _ := s.Get("u", "5"); !ok {
		t.Fatal("live mapping swept")
	}
}

func TestPebbleOutbox(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openPebble(t, dir, nil)
	var items []*dlr.Item
	for i := range 5 {
		it := &dlr.Item{Raw: []byte{byte(i)}, Origin: uint64(i)}
		storetest.Wait(t, func(done func(error)) { s.AddOutbox("shop", it, done) })
		items = append(items, it)
	}
	other := &dlr.Item{Raw: []byte("b")}
	storetest.Wait(t, func(done func(error)) { s.AddOutbox("bank", other, done) })
	if err := s.DeleteOutbox("shop", items[1].Seq); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openPebble(t, dir, nil)
	defer s.Close()
	got := map[string][]*dlr.Item{}
	if err := s.LoadOutbox(func(sys string, it *dlr.Item) { got[sys] = append(got[sys], it) }); err != nil {
		t.Fatal(err)
	}
	if len(got["shop"]) != 4 || len(got["bank"]) != 1 {
		t.Fatalf("loaded %d shop, %d bank items", len(got["shop"]), len(got["bank"]))
	}
	for i, want := range []int{0, 2, 3, 4} {
		if it := got["shop"][i]; it.Raw[0] != byte(want) || it.Origin != uint64(want) || it.Seq != items[want].Seq {
			t.Fatalf("item %d = %+v, want the item %d", i, it, want)
		}
	}
	fresh := &dlr.Item{Raw: []byte("new")}
	storetest.Wait(t, func(done func(error)) { s.AddOutbox("shop", fresh, done) })
	if fresh.Seq <= items[4].Seq {
		t.Fatalf("numbering restarted: %d after %d", fresh.Seq, items[4].Seq)
	}
}

func TestPebbleWriteAfterClose(t *testing.T) {
	t.Parallel()
	s := openPebble(t, t.TempDir(), nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := storetest.PutMapping(s, dlr.Mapping{Upstream: "u", UpstreamID: "1", Expires: time.Now().Add(time.Hour)}); err != dlr.ErrStoreClosed {
		t.Fatalf("write after close: %v", err)
	}
}

// BenchmarkPebblePutMapping64 measures synced mapping writes with 64
// writers, as many upstream binds would make them.
func BenchmarkPebblePutMapping64(b *testing.B) {
	s := openPebble(b, b.TempDir(), nil)
	defer s.Close()
	exp := time.Now().Add(time.Hour)
	start := time.Now()
	storetest.Writers64(b, func(i int, put func(error), wait func()) {
		s.PutMapping(dlr.Mapping{Upstream: "carrier-a", UpstreamID: fmt.Sprintf("%x", i),
			Origin: dlr.Origin{SystemID: "shop", ClientID: fmt.Sprintf("%016x", i), Session: 1}, Expires: exp}, put)
		wait()
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "puts/s")
}

// BenchmarkPebbleMessage runs what the store does for one relayed message
// with its receipt (mapping write, lookup, outbox write, outbox delete)
// from 64 writers, and reports the process CPU per message.
func BenchmarkPebbleMessage(b *testing.B) {
	s := openPebble(b, b.TempDir(), nil)
	defer s.Close()
	exp := time.Now().Add(time.Hour)
	raw := make([]byte, 180)
	cpu0 := storetest.CPUTime()
	storetest.Writers64(b, func(i int, put func(error), wait func()) {
		id := strconv.FormatUint(uint64(i)*2654435761, 16)
		s.PutMapping(dlr.Mapping{Upstream: "carrier-a", UpstreamID: id,
			Origin: dlr.Origin{SystemID: "shop", ClientID: strconv.Itoa(i), Session: 1}, Expires: exp}, put)
		wait()
		if _, ok, err := s.Get("carrier-a", id); !ok || err != nil {
			b.Error("mapping not found", err)
		}
		it := &dlr.Item{Raw: raw}
		s.AddOutbox("shop", it, put)
		wait()
		if err := s.DeleteOutbox("shop", it.Seq); err != nil {
			b.Error(err)
		}
	})
	b.ReportMetric(float64((storetest.CPUTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
}

// BenchmarkPebbleDirectReceipt runs what the store does for one relayed
// message whose receipt goes straight to its client, from 64 writers: the
// mapping's synced write, the lookup of the receipt's mark (not there),
// the Forget. It reports messages a second and the process CPU per
// message.
func BenchmarkPebbleDirectReceipt(b *testing.B) {
	s := openPebble(b, b.TempDir(), nil)
	defer s.Close()
	exp := time.Now().Add(time.Hour)
	start, cpu0 := time.Now(), storetest.CPUTime()
	storetest.Writers64(b, func(i int, put func(error), wait func()) {
		id := strconv.FormatUint(uint64(i)*2654435761, 16)
		s.PutMapping(dlr.Mapping{Upstream: "carrier-a", UpstreamID: id,
			Origin: dlr.Origin{SystemID: "shop", ClientID: strconv.Itoa(i), Session: 1}, Expires: exp}, put)
		wait()
		if ok, err := s.Relayed(dlr.Mark{Upstream: "carrier-a", ID: id, State: dlr.StateDelivered}); ok || err != nil {
			b.Error("a mark never written found", err)
		}
		s.Forget("carrier-a", id, "shop", strconv.Itoa(i))
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	b.ReportMetric(float64((storetest.CPUTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
}

// BenchmarkPebbleFind looks up receipts' ids among 65,536 mappings of
// upper-case ids read from the tables (the store reopened, so none is in
// the ring of recent mappings): as written (one point lookup), and in
// lower case with id_format same (a missed point lookup, then the range
// of the folded form).
func BenchmarkPebbleFind(b *testing.B) {
	dir := b.TempDir()
	s := openPebble(b, dir, nil)
	exp := time.Now().Add(time.Hour)
	const n = 1 << 16
	id := func(i int) string { return fmt.Sprintf("%013X", uint64(i)*2654435761) }
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		s.PutMapping(dlr.Mapping{Upstream: "carrier-a", UpstreamID: id(i), Expires: exp,
			Origin: dlr.Origin{SystemID: "shop", ClientID: strconv.Itoa(i)}}, func(err error) {
			if err != nil {
				b.Error(err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	s = openPebble(b, dir, nil)
	defer s.Close()
	for _, tt := range []struct {
		name string
		ref  func(id string) dlr.Ref
	}{
		{"exact", func(id string) dlr.Ref { return dlr.Ref{ID: id} }},
		{"folded", func(id string) dlr.Ref { l := strings.ToLower(id); return dlr.Ref{ID: l, Folded: dlr.FoldID(l)} }},
	} {
		refs := make([]dlr.Ref, 1024)
		for i := range refs {
			refs[i] = tt.ref(id(i * 61))
		}
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, res, err := dlr.Find(s, "carrier-a", refs[i%len(refs)]); res != dlr.Found || err != nil {
					b.Fatalf("%+v: %v, %v", refs[i%len(refs)], res, err)
				}
			}
		})
	}
}

// TestPebbleGetWaitsForCommit: while a mapping's write is queued, Get
// does not find the message, even under an older committed mapping of
// the same id (ByClient still finds the older message); once done is
// called, Get finds the new route.
func TestPebbleGetWaitsForCommit(t *testing.T) {
	t.Parallel()
	s := openPebble(t, t.TempDir(), nil)
	defer s.Close()
	exp := time.Now().Add(time.Hour)
	old := dlr.Mapping{Upstream: "u", UpstreamID: "1", Origin: dlr.Origin{SystemID: "shop", ClientID: "old"}, Expires: exp}
	storetest.Wait(t, func(done func(error)) { s.PutMapping(old, done) })

	// Holding the write lock keeps the next write from being queued.
	s.mu.Lock()
	errc := make(chan error, 1)
	m := dlr.Mapping{Upstream: "u", UpstreamID: "1", Origin: dlr.Origin{SystemID: "shop", ClientID: "new"}, Expires: exp}
	go s.PutMapping(m, func(err error) {
		if r, ok, gerr := s.Get("u", "1"); !ok || gerr != nil || r.ClientID != "new" {
			t.Errorf("Get from done = %+v, %v, %v; want the new route", r, ok, gerr)
		}
		errc <- err
	})
	deadline := time.Now().Add(10 * time.Second)
	for !s.isUnsynced("u", "1") {
		if time.Now().After(deadline) {
			s.mu.Unlock()
			t.Fatal("the write never became pending")
		}
		runtime.Gosched()
	}
	if r, ok, err := s.Get("u", "1"); ok || err != nil {
		t.Errorf("Get while the write is queued = %+v, %v, %v; want not found", r, ok, err)
	}
	// A client asking about the older message still finds it.
	if got, ok, err := s.ByClient("shop", "old"); !ok || err != nil || got.ClientID != "old" {
		t.Errorf("ByClient while a write of the same id is queued = %+v, %v, %v", got, ok, err)
	}
	s.mu.Unlock()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if s.isUnsynced("u", "1") {
		t.Fatal("still pending after done")
	}
}

// TestPebbleWriteAfterCloseSettles: a write refused after Close leaves
// nothing pending.
func TestPebbleWriteAfterCloseSettles(t *testing.T) {
	t.Parallel()
	s := openPebble(t, t.TempDir(), nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.PutMapping(dlr.Mapping{Upstream: "u", UpstreamID: "1", Expires: time.Now().Add(time.Hour)}, func(error) {})
	if s.isUnsynced("u", "1") {
		t.Fatal("refused write left pending")
	}
}

// TestPebbleOutboxNumberReusedAfterDelete: an outbox number freed by a
// delete and given again (numbering restarts after the highest stored
// item) holds the new item.
func TestPebbleOutboxNumberReusedAfterDelete(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openPebble(t, dir, nil)
	first := &dlr.Item{Raw: []byte("first"), Seq: 42}
	storetest.Wait(t, func(done func(error)) { s.AddOutbox("shop", first, done) })
	if err := s.DeleteOutbox("shop", 42); err != nil {
		t.Fatal(err)
	}
	again := &dlr.Item{Raw: []byte("again"), Seq: 42}
	storetest.Wait(t, func(done func(error)) { s.AddOutbox("shop", again, done) })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openPebble(t, dir, nil)
	defer s.Close()
	var got []string
	if err := s.LoadOutbox(func(_ string, it *dlr.Item) { got = append(got, string(it.Raw)) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "again" {
		t.Fatalf("loaded %q, want [again]", got)
	}
}

// TestPebbleRecentMappings: a mapping just committed is found (from
// memory) as written, its later rewrite wins, and it expires on time like
// one read from the tables.
func TestPebbleRecentMappings(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(time.Unix(10_000, 0))
	s := openPebble(t, t.TempDir(), clock.Now)
	defer s.Close()
	put := func(client string, ttl time.Duration) {
		m := dlr.Mapping{Upstream: "u", UpstreamID: "1", Origin: dlr.Origin{SystemID: "shop", ClientID: client}, Expires: clock.Now().Add(ttl)}
		storetest.Wait(t, func(done func(error)) { s.PutMapping(m, done) })
	}
	put("first", time.Minute)
	if r, ok, err := s.Get("u", "1"); !ok || err != nil || r.ClientID != "first" {
		t.Fatalf("Get = %+v, %v, %v; want first", r, ok, err)
	}
	put("second", time.Minute)
	if r, ok, err := s.Get("u", "1"); !ok || err != nil || r.ClientID != "second" {
		t.Fatalf("Get after a rewrite = %+v, %v, %v; want second", r, ok, err)
	}
	if _, ok, _ := s.Get("u\x001", ""); ok {
		t.Fatal("found under another upstream")
	}
	clock.Add(time.Minute)
	if r, ok, err := s.Get("u", "1"); ok || err != nil {
		t.Fatalf("Get after expiry = %+v, %v, %v; want not found", r, ok, err)
	}
}

// TestPebbleRecentMarks: the marks of a message just committed are
// answered from memory as the database would: put with PutMark or with an
// outbox item, by state, until they expire; after Forget and after a
// restart from the database.
func TestPebbleRecentMarks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := storetest.NewClock(time.Unix(10_000, 0))
	s := openPebble(t, dir, clock.Now)
	storetest.PutSync(t, s, dlr.Mapping{Upstream: "u", UpstreamID: "m1",
		Origin: dlr.Origin{SystemID: "shop", ClientID: "c1"}, Expires: clock.Now().Add(72 * time.Hour)})
	mark := func(st byte) dlr.Mark {
		return dlr.Mark{Upstream: "u", ID: "m1", State: st, Expires: clock.Now().Add(time.Hour)}
	}
	if storetest.Relayed(t, s, mark(dlr.StateDelivered)) {
		t.Fatal("a mark found before it was written")
	}
	s.PutMark(mark(dlr.StateEnroute))
	storetest.AddMarked(t, s, mark(dlr.StateDelivered))
	for st, want := range map[byte]bool{dlr.StateEnroute: true, dlr.StateDelivered: true, dlr.StateUndeliverable: false} {
		if got := storetest.Relayed(t, s, mark(st)); got != want {
			t.Errorf("Relayed, state %d = %v, want %v", st, got, want)
		}
	}
	s.Forget("u", "m1", "shop", "c1")
	if !storetest.Relayed(t, s, mark(dlr.StateDelivered)) {
		t.Fatal("a mark lost with its message's mapping")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openPebble(t, dir, clock.Now)
	defer s.Close()
	storetest.PutSync(t, s, dlr.Mapping{Upstream: "u", UpstreamID: "m2",
		Origin: dlr.Origin{SystemID: "shop", ClientID: "c2"}, Expires: clock.Now().Add(72 * time.Hour)})
	m2 := dlr.Mark{Upstream: "u", ID: "m2", State: dlr.StateDelivered, Expires: clock.Now().Add(time.Hour)}
	s.PutMark(m2)
	if !storetest.Relayed(t, s, mark(dlr.StateEnroute)) || !storetest.Relayed(t, s, m2) {
		t.Fatal("marks lost across a restart")
	}
	clock.Add(time.Hour)
	if storetest.Relayed(t, s, m2) {
		t.Fatal("a mark found past its time")
	}
}
