//go:build chaos && linux

package chaos

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// diskSize is the size of a state_dir filesystem: room for a scenario's
// mappings and receipts many times over, little to fill.
const diskSize = 96 << 20

// disk is a small ext4 filesystem on a loop device, mounted as the
// directory that holds state_dir. It is mounted errors=remount-ro, as a
// production filesystem is: an error turns it read-only.
type disk struct {
	img  string   // backing file, smxc-state.img
	mnt  string   // mount point
	devs []string // loop devices made for img, the mounted one last
}

// newDisk makes and mounts a filesystem under dir.
func newDisk(dir string) (*disk, error) {
	d := &disk{img: filepath.Join(dir, "smxc-state.img"), mnt: filepath.Join(dir, "state")}
	if err := os.MkdirAll(d.mnt, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(d.img)
	if err != nil {
		return nil, err
	}
	err = f.Truncate(diskSize)
	f.Close()
	if err != nil {
		return nil, err
	}
	// -m 0: no blocks reserved for root, so full means full for smppmux.
	if _, err := sh("mkfs.ext4", "-q", "-F", "-m", "0", "-L", "smxc-state", d.img); err != nil {
		return nil, err
	}
	return d, d.mount()
}

// mount attaches img to a new loop device and mounts it on mnt.
func (d *disk) mount() error {
	out, err := sh("losetup", "--find", "--show", d.img)
	if err != nil {
		return err
	}
	dev := strings.TrimSpace(out)
	d.devs = append(d.devs, dev)
	_, err = sh("mount", "-t", "ext4", "-o", "errors=remount-ro", dev, d.mnt)
	return err
}

// dev is the loop device mounted now, by its name (loop3).
func (d *disk) dev() string { return filepath.Base(d.devs[len(d.devs)-1]) }

// fill takes every free block: a preallocated file of the free space
// (ext4 may refuse the last few blocks, needed for the file's own
// extents, yet keep what it allocated), then pages in small files until
// the filesystem refuses. It returns the bytes taken.
func (d *disk) fill() (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(d.mnt, &st); err != nil {
		return 0, err
	}
	before := int64(st.Bavail) * st.Bsize
	f, err := os.Create(filepath.Join(d.mnt, "smxc-filler"))
	if err != nil {
		return 0, err
	}
	_ = syscall.Fallocate(int(f.Fd()), 0, 0, before)
	f.Close()
	chunk := make([]byte, 4096)
	for i := 0; ; i++ {
		f, err := os.Create(filepath.Join(d.mnt, fmt.Sprintf("smxc-filler-%d", i)))
		if err != nil {
			break
		}
		n := 0
		for {
			if _, err := f.Write(chunk); err != nil {
				break
			}
			n++
		}
		f.Close()
		if n == 0 {
			break
		}
	}
	syscall.Sync()
	if err := syscall.Statfs(d.mnt, &st); err != nil {
		return 0, err
	}
	if st.Bavail != 0 {
		return 0, fmt.Errorf("%d blocks still free after filling", st.Bavail)
	}
	return before, nil
}

// free removes the filler files.
func (d *disk) free() error {
	m, err := filepath.Glob(filepath.Join(d.mnt, "smxc-filler*"))
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range m {
		errs = append(errs, os.Remove(p))
	}
	return errors.Join(errs...)
}

// readOnly turns the filesystem read-only the way a failing disk does:
// an ext4 error under errors=remount-ro ("Remounting filesystem
// read-only"); every write then fails with EROFS. A plain
// `mount -o remount,ro` is refused (EBUSY) while a file is open for
// writing, and a running store always holds one.
func (d *disk) readOnly() error {
	return os.WriteFile("/sys/fs/ext4/"+d.dev()+"/trigger_fs_error", []byte("smxc chaos: read-only"), 0o200)
}

// readWrite makes the directory writable again as an operator would after
// such an error: the filesystem is unmounted (lazily when a process still
// holds files on it, which keep the old, read-only mount alive) and
// mounted again, from a new loop device, on the same directory. A
// process sees the writable filesystem once it opens its files again.
func (d *disk) readWrite() (lazy bool, err error) {
	if _, err := sh("umount", d.mnt); err != nil {
		if _, err := sh("umount", "-l", d.mnt); err != nil {
			return false, err
		}
		lazy = true
	}
	return lazy, d.mount()
}

// close unmounts the filesystem and detaches its loop devices.
func (d *disk) close() {
	for {
		if _, err := sh("umount", d.mnt); err != nil {
			if _, err := sh("umount", "-l", d.mnt); err != nil {
				break
			}
		}
	}
	detachLoops(filepath.Dir(d.img))
	os.Remove(d.img)
}
