package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestMaxGlibc(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"", "GLIBC_PRIVATE"}, ""},
		{[]string{"GLIBC_2.2.5", "GLIBC_2.34", "GLIBC_2.4", ""}, "2.34"},
		{[]string{"GLIBC_2.17", "GLIBC_2.3.2", "GLIBC_2.9"}, "2.17"},
		{[]string{"GLIBC_2.2.5", "GLIBC_2.2"}, "2.2.5"},
		{[]string{"GCC_3.0", "GLIBC_2.14"}, "2.14"},
	} {
		if got := maxGlibc(tc.in); got != tc.want {
			t.Errorf("maxGlibc(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestLibcDepends builds a small program with cgo off (static: nothing)
// and on (when a C compiler is there: libc6, with the version it needs).
func TestLibcDepends(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nimport \"os/user\"\n\nfunc main() { _, _ = user.Current() }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := func(cgo string) string {
		t.Helper()
		out := filepath.Join(dir, "cgo"+cgo)
		cmd := exec.Command("go", "build", "-o", out, src)
		cmd.Env = append(os.Environ(), "CGO_ENABLED="+cgo, "GOFLAGS=-buildvcs=false")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build CGO_ENABLED=%s: %v\n%s", cgo, err, b)
		}
		return out
	}
	if dep, err := libcDepends(build("0")); err != nil || dep != "" {
		t.Errorf("a static binary: %q, %v; want nothing", dep, err)
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no C compiler: a binary linked against glibc is not checked")
	}
	dep, err := libcDepends(build("1"))
	if err != nil || !strings.HasPrefix(dep, "libc6 (>= 2.") {
		t.Errorf("a binary built with cgo: %q, %v; want libc6 (>= 2.x)", dep, err)
	}
	if _, err := libcDepends(src); err == nil {
		t.Error("libcDepends read a Go source file as ELF")
	}
}
