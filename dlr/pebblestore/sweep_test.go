package pebblestore

import (
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/storetest"
)

// keysOf returns the keys of the kinds in s's database; all its keys
// when no kind is given.
func keysOf(t *testing.T, s *Store, kinds ...byte) []string {
	t.Helper()
	var keys []string
	bounds := []*pebble.IterOptions{{}}
	if len(kinds) > 0 {
		bounds = nil
	}
	for _, kind := range kinds {
		bounds = append(bounds, &pebble.IterOptions{LowerBound: []byte{kind}, UpperBound: []byte{kind + 1}})
	}
	for _, o := range bounds {
		it, err := s.cur.Load().NewIter(o)
		if err != nil {
			t.Fatal(err)
		}
		for it.First(); it.Valid(); it.Next() {
			keys = append(keys, fmt.Sprintf("%q", it.Key()))
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// TestPebbleForgottenLeavesNothing: a message whose final receipt came
// leaves no key once its receipt's mark is past its time, however long
// its mapping's TTL: before, its expiry index entry stayed until then.
func TestPebbleForgottenLeavesNothing(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(time.Unix(10_000, 0))
	s := openPebble(t, t.TempDir(), clock.Now)
	defer s.Close()
	m := dlr.Mapping{Upstream: "u", UpstreamID: "aB1", Origin: dlr.Origin{SystemID: "shop", ClientID: "c1"},
		Expires: clock.Now().Add(72 * time.Hour)}
	storetest.PutSync(t, s, m)
	s.PutMark(dlr.Mark{Upstream: "u", ID: "aB1", State: dlr.StateDelivered, Expires: clock.Now().Add(time.Hour)})
	s.Forget("u", "aB1", "shop", "c1")
	// Written after them, through the same committer: they are in.
	last := dlr.Mapping{Upstream: "u", UpstreamID: "z", Origin: dlr.Origin{SystemID: "shop", ClientID: "c2"},
		Expires: clock.Now().Add(time.Minute)}
	storetest.PutSync(t, s, last)
	if k := keysOf(t, s, kindMapping, kindClient, kindMark); len(k) != 3 {
		t.Fatalf("keys before the sweep: %v; want the mark and z's mapping and client record", k)
	}
	clock.Add(time.Hour + time.Second)
	if n, err := s.Sweep(); n != 1 || err != nil {
		t.Fatalf("Sweep = %d, %v; want z's mapping", n, err)
	}
	if k := keysOf(t, s); len(k) != 0 {
		t.Fatalf("keys left after the sweep: %v", k)
	}
}

// TestPebbleSweepSteps: the sweeper's steps visit a bounded number of
// keys each, from where the last stopped, and a pass deletes every
// expired mapping and mark and nothing else.
func TestPebbleSweepSteps(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(time.Unix(10_000, 0))
	s := openPebble(t, t.TempDir(), clock.Now)
	defer s.Close()
	for i := range 20 {
		exp := clock.Now().Add(time.Minute)
		if i%2 == 1 {
			exp = clock.Now().Add(time.Hour)
		}
		storetest.PutSync(t, s, dlr.Mapping{Upstream: "u", UpstreamID: fmt.Sprint("id", i),
			Origin: dlr.Origin{SystemID: "shop", ClientID: fmt.Sprint("c", i)}, Expires: exp})
		s.PutMark(dlr.Mark{Upstream: "u", ID: fmt.Sprint("id", i), State: dlr.StateDelivered, Expires: exp})
	}
	storetest.PutSync(t, s, dlr.Mapping{Upstream: "v", UpstreamID: "x", Origin: dlr.Origin{SystemID: "shop", ClientID: "x"},
		Expires: clock.Now().Add(time.Hour)})
	clock.Add(time.Minute)
	var mappings, marks sweepPass
	deleted, steps := 0, 0
	for {
		n, err := s.sweepStep(&mappings, &marks, 3)
		if err != nil {
			t.Fatal(err)
		}
		deleted += n
		steps++
		if mappings.from == nil && marks.from == nil {
			break
		}
		if steps > 100 {
			t.Fatal("the sweep does not reach the end")
		}
	}
	if deleted != 10 || steps != 7 {
		t.Fatalf("a pass of steps of 3 keys deleted %d mappings in %d steps; want 10 in 7", deleted, steps)
	}
	if mappings.seen != 21 || mappings.deleted != 10 || marks.seen != 20 || marks.deleted != 10 {
		t.Fatalf("the passes counted %+v and %+v; want 21 mappings seen, 20 marks, 10 of each deleted", mappings, marks)
	}
	if k := keysOf(t, s, kindMapping, kindClient, kindMark); len(k) != 32 {
		t.Fatalf("%d keys left, want 32 (11 mappings, their client records, 10 marks): %v", len(k), k)
	}
	for i := range 20 {
		_, ok, err := s.Get("u", fmt.Sprint("id", i))
		_, byClient, _ := s.ByClient("shop", fmt.Sprint("c", i))
		relayed := storetest.Relayed(t, s, dlr.Mark{Upstream: "u", ID: fmt.Sprint("id", i), State: dlr.StateDelivered})
		if err != nil || ok != (i%2 == 1) || byClient != ok || relayed != ok {
			t.Fatalf("message %d after the sweep: mapping %v, client record %v, mark %v, %v", i, ok, byClient, relayed, err)
		}
	}
}

// TestPebbleEarlierExpiryIndex: a database an earlier version wrote, with
// an expiry index entry beside each mapping and each mark, is read and
// swept; once the last entry is gone, the sweep stops looking for them.
func TestPebbleEarlierExpiryIndex(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := storetest.NewClock(time.Unix(100_000, 0))
	s := openPebble(t, dir, clock.Now)
	exp := clock.Now().Add(time.Hour)
	e := uint64(exp.UnixNano())
	// What the earlier version wrote for a message the SMSC called aB1,
	// its client c1, and its delivered receipt.
	val := u64(nil, e)
	val = u64(val, 9)
	val = u64(val, 77)
	val = append(append(val, byte(len("shop"))), "shopc1"...)
	writeAndClose(t, s, [][2][]byte{
		{mappingKey("u", "ab1", "aB1"), val},
		{clientKeyBytes("shop", "c1"), append(append(u64(nil, e), 1), "uaB1"...)},
		{append(u64([]byte{kindExpiry}, e), "u\x00aB1"...), []byte("shop\x00c1")},
		{[]byte("ru\x00aB1\x00\x02"), u64(nil, e)},
		{append(u64([]byte{kindMarkIndex}, e), "u\x00aB1\x00\x02"...), nil},
	})

	s = openPebble(t, dir, clock.Now)
	defer s.Close()
	if !s.oldIndex.Load() {
		t.Fatal("the earlier expiry index was not noticed")
	}
	if r, ok, err := s.Get("u", "aB1"); !ok || err != nil || r.ClientID != "c1" || r.Session != 9 {
		t.Fatalf("Get of the earlier version's mapping = %+v, %v, %v", r, ok, err)
	}
	if m, ok, err := s.ByClient("shop", "c1"); !ok || err != nil || m.UpstreamID != "aB1" {
		t.Fatalf("ByClient of the earlier version's mapping = %+v, %v, %v", m, ok, err)
	}
	mark := dlr.Mark{Upstream: "u", ID: "aB1", State: dlr.StateDelivered}
	if !storetest.Relayed(t, s, mark) {
		t.Fatal("the earlier version's mark not found")
	}
	if n, err := s.Sweep(); n != 0 || err != nil || !s.oldIndex.Load() {
		t.Fatalf("Sweep before the expiry = %d, %v, still looking %v", n, err, s.oldIndex.Load())
	}
	clock.Add(time.Hour + time.Second)
	if n, err := s.Sweep(); n != 1 || err != nil {
		t.Fatalf("Sweep = %d, %v; want the mapping", n, err)
	}
	if k := keysOf(t, s); len(k) != 0 {
		t.Fatalf("keys left after the sweep: %v", k)
	}
	if s.oldIndex.Load() {
		t.Fatal("still sweeping the earlier expiry index after its last entry went")
	}
}

// TestPebbleForgetRewrittenID: a message whose id the SMSC gave before,
// to a message still outstanding, is forgotten with a plain delete: a
// single delete would uncover the older mapping once compacted.
func TestPebbleForgetRewrittenID(t *testing.T) {
	t.Parallel()
	s := openPebble(t, t.TempDir(), nil)
	defer s.Close()
	exp := time.Now().Add(time.Hour)
	storetest.PutSync(t, s, dlr.Mapping{Upstream: "u", UpstreamID: "x1", Origin: dlr.Origin{SystemID: "shop", ClientID: "c1"}, Expires: exp})
	storetest.PutSync(t, s, dlr.Mapping{Upstream: "u", UpstreamID: "x1", Origin: dlr.Origin{SystemID: "shop", ClientID: "c2"}, Expires: exp})
	storetest.PutSync(t, s, dlr.Mapping{Upstream: "u", UpstreamID: "y1", Origin: dlr.Origin{SystemID: "shop", ClientID: "c3"}, Expires: exp})
	s.Forget("u", "x1", "shop", "c2")
	s.Forget("u", "y1", "shop", "c3")
	// Written after them, through the same committer: they are in.
	storetest.PutSync(t, s, dlr.Mapping{Upstream: "u", UpstreamID: "z", Origin: dlr.Origin{SystemID: "shop", ClientID: "c4"}, Expires: exp})
	d := s.cur.Load()
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := d.Compact(t.Context(), []byte{0}, []byte{0xff}, false); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"x1", "y1"} {
		if r, ok, err := s.route("u", dlr.FoldID(id), id); ok || err != nil {
			t.Errorf("%s forgotten, then compacted: found %+v, %v", id, r, err)
		}
	}
	if k := keysOf(t, s, kindMapping, kindClient); len(k) != 3 {
		t.Fatalf("keys after the compaction: %v; want z's and the client record of the first x1", k)
	}
}

// TestPebbleSweepCompactsAfterBurst: once a pass of the sweeper has
// deleted most of the mappings and no write follows, their span is
// compacted: the tables no longer hold them. Without it they stayed
// until writes resumed.
func TestPebbleSweepCompactsAfterBurst(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(time.Unix(10_000, 0))
	s := openPebble(t, t.TempDir(), clock.Now)
	defer s.Close()
	const n = sweepCompactMin + 1000
	errs := make(chan error, n)
	for i := range n {
		s.PutMapping(dlr.Mapping{Upstream: "u", UpstreamID: fmt.Sprintf("%016x", i),
			Origin: dlr.Origin{SystemID: "shop", ClientID: fmt.Sprint("c", i)}, Expires: clock.Now().Add(time.Minute)},
			func(err error) { errs <- err })
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	d := s.cur.Load()
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	usage := func() uint64 {
		u, err := d.EstimateDiskUsage([]byte{kindMapping}, []byte{kindMapping + 1})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	before := usage()
	clock.Add(2 * time.Minute)
	var mappings, marks sweepPass
	if got, err := s.sweepStep(&mappings, &marks, 0); got != n || err != nil {
		t.Fatalf("sweepStep = %d, %v; want %d", got, err, n)
	}
	s.passEnded(kindMapping, &mappings)
	if after := usage(); before < 100_000 || after > before/10 {
		t.Fatalf("the mappings' tables hold %d bytes after the pass, %d before", after, before)
	}
	if mappings.from != nil || mappings.seen != 0 || mappings.deleted != 0 {
		t.Fatalf("the next pass starts at %+v", mappings)
	}
}
