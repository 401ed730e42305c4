package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestCheckConfigTmpfs: check-config reads the size of the real file
// system holding state_dir (a 64 MiB tmpfs, state_dir not made yet) and
// warns. Mounting needs root.
func TestCheckConfigTmpfs(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	mnt := t.TempDir()
	if err := syscall.Mount("smxd-tmpfs", mnt, "tmpfs", 0, "size=64m"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmounting %s: %v", mnt, err)
		}
	})
	file := stateDirConfig(t, filepath.Join(mnt, "smppmux"))
	var out bytes.Buffer
	if err := run(context.Background(), []string{"check-config", file}, &out, &out); err != nil {
		t.Fatalf("check-config failed on a small state_dir: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "is on a file system of 64 MiB, smaller than the 256 MiB") {
		t.Fatalf("no warning for a 64 MiB tmpfs: %q", out.String())
	}
}
