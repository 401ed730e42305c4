package pebblestore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/storetest"
)

// BenchmarkPebbleFootprint measures what the store keeps on disk, for the
// README's footprint: 200,000 mappings of the sizes the relay writes (an
// upstream id of 16 hex digits, a client id of 8) from 64 writers, as the
// relay's submits do; then the space the files take (allocated blocks,
// as du counts them), WAL files apart; then again after a flush and a
// compaction, per mapping. One run is enough:
//
//	go test -run '^$' -bench PebbleFootprint -benchtime 1x ./dlr
func BenchmarkPebbleFootprint(b *testing.B) {
	const n = 200_000
	for b.Loop() {
		dir := b.TempDir()
		s, err := Open(Config{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		exp := time.Now().Add(72 * time.Hour)
		var wg sync.WaitGroup
		for w := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < n; i += 64 {
					m := dlr.Mapping{Upstream: "carrier-a", UpstreamID: fmt.Sprintf("%016x", uint64(i)*0x9E3779B97F4A7C15),
						Origin:  dlr.Origin{SystemID: "shop", ClientID: fmt.Sprintf("%08x", i), Session: 7, Submitted: time.Now().UnixNano()},
						Expires: exp}
					if err := storetest.PutMapping(s, m); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		wal, walFiles, tables := usedBytes(b, dir)
		b.ReportMetric(float64(wal)/(1<<20), "wal-MiB")
		b.ReportMetric(float64(walFiles), "wal-files")
		b.ReportMetric(float64(tables)/(1<<20), "other-MiB")
		db := s.cur.Load()
		if err := db.Flush(); err != nil {
			b.Fatal(err)
		}
		if err := db.Compact(context.Background(), []byte{0}, []byte{0xff}, true); err != nil {
			b.Fatal(err)
		}
		wal, _, tables = usedBytes(b, dir)
		b.ReportMetric(float64(tables)/n, "table-B/mapping")
		b.ReportMetric(float64(wal)/(1<<20), "wal-MiB-after")
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// usedBytes returns the space allocated to dir's WAL files, their count,
// and the space of its other files.
func usedBytes(b *testing.B, dir string) (wal int64, walFiles int, other int64) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range entries {
		fi, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		used := fi.Size()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			used = st.Blocks * 512
		}
		if strings.HasSuffix(e.Name(), ".log") {
			wal += used
			walFiles++
		} else {
			other += used
		}
	}
	return wal, walFiles, other
}
