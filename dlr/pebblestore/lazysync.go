package pebblestore

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// lazyFS is the file system of a database whose writes are synced every
// Config.SyncInterval instead of before they are acknowledged. Pebble
// still commits with Sync: its WAL writer hands each batch to write(2)
// before the commit returns, so an acknowledged write is in the page
// cache and survives the end of the process; only the fsync of the WAL
// is left to the store's syncer, which calls syncAll. Pebble's other
// files (tables, the MANIFEST) sync as always. A WAL closed (rotated) is
// synced first.
//
// Plain pebble.NoSync commits would leave up to a block (32 KiB) of the
// WAL in the process's memory until the next sync: a kill -9 would lose
// acknowledged writes.
type lazyFS struct {
	vfs.FS
	mu    sync.Mutex
	files map[*lazyFile]struct{} // the WALs open for writing
}

func newLazyFS(fs vfs.FS) *lazyFS {
	return &lazyFS{FS: fs, files: make(map[*lazyFile]struct{})}
}

// isWAL reports whether name is a write-ahead log of Pebble.
func isWAL(name string) bool { return strings.HasSuffix(name, ".log") }

func (l *lazyFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !isWAL(name) {
		return f, err
	}
	lf := &lazyFile{File: f, fs: l}
	l.mu.Lock()
	l.files[lf] = struct{}{}
	l.mu.Unlock()
	return lf, nil
}

// Create implements vfs.FS.
func (l *lazyFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := l.FS.Create(name, category)
	return l.wrap(name, f, err)
}

// OpenReadWrite implements vfs.FS.
func (l *lazyFS) OpenReadWrite(name string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := l.FS.OpenReadWrite(name, category, opts...)
	return l.wrap(name, f, err)
}

// ReuseForWrite implements vfs.FS.
func (l *lazyFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := l.FS.ReuseForWrite(oldname, newname, category)
	return l.wrap(newname, f, err)
}

// Unwrap implements vfs.FS.
func (l *lazyFS) Unwrap() vfs.FS { return l.FS }

// syncAll syncs every WAL written since its last sync and returns how
// long that took; the fence under it trips on a failed sync.
func (l *lazyFS) syncAll() time.Duration {
	start := time.Now()
	l.mu.Lock()
	files := slices.Collect(maps.Keys(l.files))
	l.mu.Unlock()
	for _, f := range files {
		f.syncNow()
	}
	return time.Since(start)
}

// lazyFile is a WAL whose syncs are deferred to lazyFS.syncAll.
type lazyFile struct {
	vfs.File
	fs    *lazyFS
	dirty atomic.Bool // written since its last sync
	// mu orders syncs and the close; writes do not wait for it.
	mu     sync.Mutex
	closed bool
}

// Write marks the file for the next sync once p is written: a sync that
// began before then may not carry it.
func (f *lazyFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	f.dirty.Store(true)
	return n, err
}

func (f *lazyFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(p, off)
	f.dirty.Store(true)
	return n, err
}

// Sync, SyncData and SyncTo return at once: the data is written.
func (f *lazyFile) Sync() error                { return nil }
func (f *lazyFile) SyncData() error            { return nil }
func (f *lazyFile) SyncTo(int64) (bool, error) { return true, nil }

// syncNow syncs the file if it was written since its last sync.
func (f *lazyFile) syncNow() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed && f.dirty.Swap(false) {
		_ = f.File.SyncData() // a failure trips the fence under it
	}
}

// Close syncs what is left, then closes the file.
func (f *lazyFile) Close() error {
	f.syncNow()
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.fs.mu.Lock()
	delete(f.fs.files, f)
	f.fs.mu.Unlock()
	return f.File.Close()
}

// syncLoop is the syncer goroutine of a store with Config.SyncInterval:
// it syncs the WAL every interval while it was written. It ends with
// Close, which syncs what is left.
func (s *Store) syncLoop() {
	t := time.NewTicker(s.cfg.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.syncWAL()
		}
	}
}

// syncWAL syncs the WALs of the open database if writes were committed
// since the last sync, and tells OnCommit. A failed sync trips the
// database's fence, as a failed commit does: the store takes no writes
// until it has opened the database again.
func (s *Store) syncWAL() {
	if s.cfg.SyncInterval <= 0 || s.unsyncedWrites.Load() == 0 {
		return
	}
	d, err := s.acquire()
	if err != nil {
		// Retired: its close synced what the disk allowed.
		return
	}
	defer d.release()
	n := s.unsyncedWrites.Swap(0)
	s.syncStart.Store(time.Now().UnixNano())
	took := d.lazy.syncAll()
	s.syncStart.Store(0)
	if ft := d.fence.tripped(); ft != nil {
		err = s.downError()
	}
	if s.cfg.OnCommit != nil {
		s.cfg.OnCommit(took, int(n), err)
	}
}
