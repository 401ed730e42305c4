package pebblestore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// MinStateFS is the smallest file system the README's footprint
// allows for state_dir: the WAL files Pebble preallocates and keeps for
// reuse, a memtable's flush and its compaction, and the low-water mark,
// with room for some tens of thousands of outstanding messages.
// `smppmux check-config` warns below it.
const MinStateFS = 256 << 20

// StateFSSize returns the size of the file system that holds dir, or
// its nearest parent while dir does not exist.
func StateFSSize(dir string) (int64, error) {
	u, err := fsUsage(vfs.Default, dir)
	return u.total, err
}

// lowSpace returns the free space below which a store on a file system of
// total bytes takes no writes, and the free space at which it takes them
// again: a thirty-second of the file system, between 4 and 64 MiB, and
// twice that.
func lowSpace(total int64) (stop, resume int64) {
	stop = min(max(total/32, 4<<20), 64<<20)
	return stop, 2 * stop
}

// diskUsage is the space of the file system holding the store.
type diskUsage struct{ free, total int64 }

// usage reads the free space of the file system of the store's directory,
// or of its nearest parent while it does not exist.
func (s *Store) usage() (diskUsage, error) {
	return fsUsage(s.cfg.FS, s.cfg.Dir)
}

func fsUsage(fs vfs.FS, dir string) (diskUsage, error) {
	for {
		u, err := fs.GetDiskUsage(dir)
		if err == nil {
			return diskUsage{free: int64(u.AvailBytes), total: int64(u.TotalBytes)}, nil
		}
		parent := filepath.Dir(dir)
		if !errors.Is(err, os.ErrNotExist) || parent == dir {
			return diskUsage{}, err
		}
		dir = parent
	}
}

func (s *Store) lowSpaceError(u diskUsage, resume int64) error {
	return &storeDown{dir: s.cfg.Dir, kind: diskFull,
		what: fmt.Sprintf("disk full: %s free of %s; writes resume at %s free", mib(u.free), mib(u.total), mib(resume))}
}

// mib writes a size in MiB.
func mib(n int64) string {
	if n < 10<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d MiB", n>>20)
}

// mayPreallocate lets a WAL file preallocate length bytes only while the
// disk keeps twice the resume mark free after it.
func (s *Store) mayPreallocate(length int64) bool {
	u, err := s.usage()
	if err != nil {
		return true
	}
	_, resume := lowSpace(u.total)
	return u.free-length >= 2*resume
}
