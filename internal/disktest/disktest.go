// Package disktest is a file system for the Pebble store's tests: the
// real disk, whose writes fail on demand the way a full, read-only or
// failing disk makes them fail, and whose free space can be made to look
// small.
//
// It starts no goroutines.
package disktest

import (
	"io"
	"os"
	"sync/atomic"
	"syscall"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// FS is vfs.Default with faults on demand. Its zero value is not usable:
// call New.
type FS struct {
	vfs.FS
	errno  atomic.Int64 // 0: no fault
	syncs  atomic.Int64 // errno of syncs alone; 0: none
	usage  atomic.Pointer[vfs.DiskUsage]
	faults atomic.Int64
	looks  atomic.Int64
	hold   atomic.Pointer[chan struct{}]
}

// New returns an FS over the disk that fails nothing.
func New() *FS { return &FS{FS: vfs.Default} }

// Fail makes operations fail with errno from now on, as a disk with that
// fault does: syscall.ENOSPC fails writes, preallocations, directory
// creations and links, and lets removals, renames and syncs through (they
// need no space); syscall.EROFS and syscall.EIO fail every change,
// syncs included, and EROFS also fails taking a directory's lock (the
// lock file is opened for writing). Files opened before fail too.
func (f *FS) Fail(errno syscall.Errno) { f.errno.Store(int64(errno)) }

// FailSyncs makes syncs alone fail with errno from now on: what was
// written stays in the page cache, yet is not known to be on the disk.
func (f *FS) FailSyncs(errno syscall.Errno) { f.syncs.Store(int64(errno)) }

// HoldSyncs makes syncs wait, as on a disk that hangs, until
// ReleaseSyncs.
func (f *FS) HoldSyncs() {
	ch := make(chan struct{})
	f.hold.Store(&ch)
}

// ReleaseSyncs lets the syncs held by HoldSyncs go on.
func (f *FS) ReleaseSyncs() {
	if ch := f.hold.Swap(nil); ch != nil {
		close(*ch)
	}
}

// Heal ends the faults: operations reach the disk again.
func (f *FS) Heal() {
	f.errno.Store(0)
	f.syncs.Store(0)
}

// Faults counts the operations failed so far.
func (f *FS) Faults() int64 { return f.faults.Load() }

// SetUsage makes GetDiskUsage answer avail bytes free of total; total 0
// makes it answer the disk's own figures again.
func (f *FS) SetUsage(avail, total uint64) {
	if total == 0 {
		f.usage.Store(nil)
		return
	}
	f.usage.Store(&vfs.DiskUsage{AvailBytes: avail, TotalBytes: total, UsedBytes: total - avail})
}

// UsageReads counts the calls of GetDiskUsage so far: how often the
// store looked at its free space.
func (f *FS) UsageReads() int64 { return f.looks.Load() }

// GetDiskUsage implements vfs.FS.
func (f *FS) GetDiskUsage(path string) (vfs.DiskUsage, error) {
	f.looks.Add(1)
	if u := f.usage.Load(); u != nil {
		return *u, nil
	}
	return f.FS.GetDiskUsage(path)
}

// fail returns the error an operation of the given weight meets now: a
// write needs space, a change of the directory needs a writable file
// system.
func (f *FS) fail(op, name string, needsSpace bool) error {
	e := syscall.Errno(f.errno.Load())
	if e == 0 || (e == syscall.ENOSPC && !needsSpace) {
		return nil
	}
	f.faults.Add(1)
	return &os.PathError{Op: op, Path: name, Err: e}
}

// Create implements vfs.FS.
func (f *FS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	if err := f.fail("open", name, false); err != nil {
		return nil, err
	}
	file, err := f.FS.Create(name, category)
	return f.wrap(file, name, err)
}

// OpenReadWrite implements vfs.FS.
func (f *FS) OpenReadWrite(name string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	if err := f.fail("open", name, false); err != nil {
		return nil, err
	}
	file, err := f.FS.OpenReadWrite(name, category, opts...)
	return f.wrap(file, name, err)
}

// ReuseForWrite implements vfs.FS.
func (f *FS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	if err := f.fail("rename", oldname, false); err != nil {
		return nil, err
	}
	file, err := f.FS.ReuseForWrite(oldname, newname, category)
	return f.wrap(file, newname, err)
}

// OpenDir implements vfs.FS.
func (f *FS) OpenDir(name string) (vfs.File, error) {
	file, err := f.FS.OpenDir(name)
	return f.wrap(file, name, err)
}

func (f *FS) wrap(file vfs.File, name string, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &faultyFile{File: file, fs: f, name: name}, nil
}

// Link implements vfs.FS.
func (f *FS) Link(oldname, newname string) error {
	if err := f.fail("link", newname, true); err != nil {
		return err
	}
	return f.FS.Link(oldname, newname)
}

// Remove implements vfs.FS.
func (f *FS) Remove(name string) error {
	if err := f.fail("remove", name, false); err != nil {
		return err
	}
	return f.FS.Remove(name)
}

// RemoveAll implements vfs.FS.
func (f *FS) RemoveAll(name string) error {
	if err := f.fail("remove", name, false); err != nil {
		return err
	}
	return f.FS.RemoveAll(name)
}

// Rename implements vfs.FS.
func (f *FS) Rename(oldname, newname string) error {
	if err := f.fail("rename", oldname, false); err != nil {
		return err
	}
	return f.FS.Rename(oldname, newname)
}

// MkdirAll implements vfs.FS: a directory that exists needs no change.
func (f *FS) MkdirAll(dir string, perm os.FileMode) error {
	if _, err := f.FS.Stat(dir); err == nil {
		return nil
	}
	if err := f.fail("mkdir", dir, true); err != nil {
		return err
	}
	return f.FS.MkdirAll(dir, perm)
}

// Lock implements vfs.FS.
func (f *FS) Lock(name string) (io.Closer, error) {
	if syscall.Errno(f.errno.Load()) == syscall.EROFS {
		f.faults.Add(1)
		return nil, &os.PathError{Op: "open", Path: name, Err: syscall.EROFS}
	}
	return f.FS.Lock(name)
}

// Unwrap implements vfs.FS.
func (f *FS) Unwrap() vfs.FS { return f.FS }

// faultyFile is a file of an FS.
type faultyFile struct {
	vfs.File
	fs   *FS
	name string
}

func (w *faultyFile) Write(p []byte) (int, error) {
	if err := w.fs.fail("write", w.name, true); err != nil {
		return 0, err
	}
	return w.File.Write(p)
}

func (w *faultyFile) WriteAt(p []byte, off int64) (int, error) {
	if err := w.fs.fail("write", w.name, true); err != nil {
		return 0, err
	}
	return w.File.WriteAt(p, off)
}

func (w *faultyFile) Preallocate(offset, length int64) error {
	if err := w.fs.fail("fallocate", w.name, true); err != nil {
		return err
	}
	return w.File.Preallocate(offset, length)
}

// failSync returns the error a sync meets now, once syncs are not held.
func (f *FS) failSync(name string) error {
	if ch := f.hold.Load(); ch != nil {
		<-*ch
	}
	if e := syscall.Errno(f.syncs.Load()); e != 0 {
		f.faults.Add(1)
		return &os.PathError{Op: "sync", Path: name, Err: e}
	}
	return f.fail("sync", name, false)
}

func (w *faultyFile) Sync() error {
	if err := w.fs.failSync(w.name); err != nil {
		return err
	}
	return w.File.Sync()
}

func (w *faultyFile) SyncData() error {
	if err := w.fs.failSync(w.name); err != nil {
		return err
	}
	return w.File.SyncData()
}

func (w *faultyFile) SyncTo(length int64) (bool, error) {
	if err := w.fs.failSync(w.name); err != nil {
		return false, err
	}
	return w.File.SyncTo(length)
}
