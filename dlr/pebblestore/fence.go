package pebblestore

import (
	"errors"
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// fence is the file system one open Pebble database writes through. It
// passes every call to the disk until a write fails for a fault of the
// disk (no space, a read-only file system, an I/O error, permissions
// taken away). From that call on nothing the database does changes the
// disk: writes, syncs, creations, links, renames and removals report
// success without touching it. Pebble therefore never meets the errors it
// would end the process for (its commit pipeline and its MANIFEST writer
// call Fatalf; a failed WAL rotation panics with a mutex held), its
// background work finishes, and Close returns; the disk keeps its state
// of the moment of the fault, which the next open recovers as after a
// crash: every write synced before the fault is there. The store fails
// the writes of the batch under way and every later one, and opens the
// database again once the disk allows.
//
// An operation that began before the fault may still complete on the
// disk; one that begins after it never does. Pebble deletes a file only
// once the change that made it obsolete is synced, so the disk stays a
// state Pebble can recover whichever way such a race goes.
type fence struct {
	vfs.FS
	fault atomic.Pointer[fault]
	// onTrip is called once, with the first fault.
	onTrip func(*fault)
	// prealloc says whether a file may preallocate length more bytes.
	prealloc func(length int64) bool
}

// fault is why a database took no more writes: the first error that
// tripped its fence.
type fault struct {
	cause string // diskFull, readOnly, ioError, denied
	err   error
}

const (
	diskFull = "disk full"
	readOnly = "read-only"
	ioError  = "I/O error"
	denied   = "permission denied"
)

func (f *fault) Error() string { return f.cause + ": " + f.err.Error() }
func (f *fault) Unwrap() error { return f.err }

// faultCause names the fault of the disk err reports, or "" when err is
// not one (a file that does not exist, one that already does).
func faultCause(err error) string {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return diskFull
	case errors.Is(err, syscall.EROFS):
		return readOnly
	case errors.Is(err, syscall.EIO):
		return ioError
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return denied
	}
	return ""
}

// newFault makes the fault of err; an error that names no fault of the
// disk is an I/O error (a write or a sync that failed).
func newFault(err error) *fault {
	cause := faultCause(err)
	if cause == "" {
		cause = ioError
	}
	return &fault{cause: cause, err: err}
}

// tripped returns the fault that fenced the database, nil while none.
func (f *fence) tripped() *fault { return f.fault.Load() }

// trip fences the database for err and reports true, unless err is no
// fault of the disk and always is false. A fence trips once: later faults
// only report true.
func (f *fence) trip(err error, always bool) bool {
	if f.fault.Load() != nil {
		return true
	}
	if !always && faultCause(err) == "" {
		return false
	}
	if ft := newFault(err); f.fault.CompareAndSwap(nil, ft) && f.onTrip != nil {
		f.onTrip(ft)
	}
	return true
}

// Create implements vfs.FS.
func (f *fence) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	if f.tripped() != nil {
		return &nullFile{}, nil
	}
	file, err := f.FS.Create(name, category)
	return f.writable(file, err)
}

// OpenReadWrite implements vfs.FS.
func (f *fence) OpenReadWrite(name string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	if f.tripped() != nil {
		return &nullFile{}, nil
	}
	file, err := f.FS.OpenReadWrite(name, category, opts...)
	return f.writable(file, err)
}

// ReuseForWrite implements vfs.FS.
func (f *fence) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	if f.tripped() != nil {
		return &nullFile{}, nil
	}
	file, err := f.FS.ReuseForWrite(oldname, newname, category)
	return f.writable(file, err)
}

// OpenDir implements vfs.FS: a directory's sync is a write.
func (f *fence) OpenDir(name string) (vfs.File, error) {
	file, err := f.FS.OpenDir(name)
	if err != nil {
		return nil, err
	}
	return &fencedFile{File: file, f: f}, nil
}

// writable wraps a file opened for writing, or fences the database for
// the fault that kept it from opening.
func (f *fence) writable(file vfs.File, err error) (vfs.File, error) {
	if err != nil {
		if f.trip(err, false) {
			return &nullFile{}, nil
		}
		return nil, err
	}
	return &fencedFile{File: file, f: f}, nil
}

// change runs a change of the directory unless the database is fenced.
func (f *fence) change(fn func() error) error {
	if f.tripped() != nil {
		return nil
	}
	if err := fn(); err != nil && !f.trip(err, false) {
		return err
	}
	return nil
}

// Link implements vfs.FS.
func (f *fence) Link(oldname, newname string) error {
	return f.change(func() error { return f.FS.Link(oldname, newname) })
}

// Remove implements vfs.FS.
func (f *fence) Remove(name string) error {
	return f.change(func() error { return f.FS.Remove(name) })
}

// RemoveAll implements vfs.FS.
func (f *fence) RemoveAll(name string) error {
	return f.change(func() error { return f.FS.RemoveAll(name) })
}

// Rename implements vfs.FS.
func (f *fence) Rename(oldname, newname string) error {
	return f.change(func() error { return f.FS.Rename(oldname, newname) })
}

// MkdirAll implements vfs.FS.
func (f *fence) MkdirAll(dir string, perm os.FileMode) error {
	return f.change(func() error { return f.FS.MkdirAll(dir, perm) })
}

// Lock implements vfs.FS. A lock that cannot be taken fails the open, as
// it should; a fault of the disk also fences.
func (f *fence) Lock(name string) (io.Closer, error) {
	c, err := f.FS.Lock(name)
	if err != nil {
		f.trip(err, false)
	}
	return c, err
}

// Unwrap implements vfs.FS.
func (f *fence) Unwrap() vfs.FS { return f.FS }

// fencedFile is a file of the disk opened for writing through a fence.
type fencedFile struct {
	vfs.File
	f *fence
}

func (w *fencedFile) Write(p []byte) (int, error) {
	if w.f.tripped() != nil {
		return len(p), nil
	}
	if _, err := w.File.Write(p); err != nil {
		w.f.trip(err, true)
	}
	return len(p), nil
}

func (w *fencedFile) WriteAt(p []byte, off int64) (int, error) {
	if w.f.tripped() != nil {
		return len(p), nil
	}
	if _, err := w.File.WriteAt(p, off); err != nil {
		w.f.trip(err, true)
	}
	return len(p), nil
}

// Preallocate reserves room only while the disk has plenty: each WAL file
// asks for 1.1 times the memtable, and a small disk would be full of
// preallocated logs before the first flush. Its failure is not a fault:
// the writes that follow say whether there is room.
func (w *fencedFile) Preallocate(offset, length int64) error {
	if w.f.tripped() != nil || (w.f.prealloc != nil && !w.f.prealloc(length)) {
		return nil
	}
	return w.File.Preallocate(offset, length)
}

func (w *fencedFile) Sync() error {
	return w.sync(w.File.Sync)
}

func (w *fencedFile) SyncData() error {
	return w.sync(w.File.SyncData)
}

func (w *fencedFile) SyncTo(length int64) (bool, error) {
	if w.f.tripped() != nil {
		return true, nil
	}
	full, err := w.File.SyncTo(length)
	if err != nil {
		w.f.trip(err, true)
		return true, nil
	}
	return full, nil
}

func (w *fencedFile) sync(fn func() error) error {
	if w.f.tripped() != nil {
		return nil
	}
	if err := fn(); err != nil {
		w.f.trip(err, true)
	}
	return nil
}

// Close always closes the file of the disk: a fenced database must not
// keep a read-only or lazily unmounted file system busy.
func (w *fencedFile) Close() error {
	if err := w.File.Close(); err != nil && !w.f.trip(err, false) {
		return err
	}
	return nil
}

// nullFile is a file a fenced database created: what it writes goes
// nowhere, and it reads as empty.
type nullFile struct{ size atomic.Int64 }

func (n *nullFile) Close() error             { return nil }
func (n *nullFile) Read([]byte) (int, error) { return 0, io.EOF }
func (n *nullFile) ReadAt([]byte, int64) (int, error) {
	return 0, io.EOF
}
func (n *nullFile) Write(p []byte) (int, error) {
	n.size.Add(int64(len(p)))
	return len(p), nil
}
func (n *nullFile) WriteAt(p []byte, off int64) (int, error) {
	for {
		cur := n.size.Load()
		if end := off + int64(len(p)); end <= cur || n.size.CompareAndSwap(cur, end) {
			return len(p), nil
		}
	}
}
func (n *nullFile) Preallocate(int64, int64) error { return nil }
func (n *nullFile) Stat() (vfs.FileInfo, error)    { return nullInfo{size: n.size.Load()}, nil }
func (n *nullFile) Sync() error                    { return nil }
func (n *nullFile) SyncTo(int64) (bool, error)     { return true, nil }
func (n *nullFile) SyncData() error                { return nil }
func (n *nullFile) Prefetch(int64, int64) error    { return nil }
func (n *nullFile) Fd() uintptr                    { return vfs.InvalidFd }

// nullInfo describes a nullFile.
type nullInfo struct{ size int64 }

func (i nullInfo) Name() string           { return "" }
func (i nullInfo) Size() int64            { return i.size }
func (i nullInfo) Mode() os.FileMode      { return 0o644 }
func (i nullInfo) ModTime() time.Time     { return time.Time{} }
func (i nullInfo) IsDir() bool            { return false }
func (i nullInfo) Sys() any               { return nil }
func (i nullInfo) DeviceID() vfs.DeviceID { return vfs.DeviceID{} }
