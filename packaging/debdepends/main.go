// Command debdepends prints the Debian dependency on the C library that an
// smppmux binary needs, for the package's Depends:
//
//	go run ./packaging/debdepends bin/smppmux
//
// A binary built with cgo (the default where a C compiler is found) is
// linked against glibc and uses its symbols of some version: it prints
// "libc6 (>= 2.34)" for the highest GLIBC_ version the binary's dynamic
// symbols name, so that dpkg refuses the package on an older system
// instead of the binary failing at start. A static binary (CGO_ENABLED=0)
// needs nothing: it prints nothing.
package main

import (
	"debug/elf"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: debdepends BINARY\n\nPrints the dependency on libc6 of the ELF binary BINARY, or nothing for a static one.")
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	dep, err := libcDepends(flag.Arg(0))
	if err != nil {
		fmt.Fprintf(os.Stderr, "debdepends: %v\n", err)
		os.Exit(1)
	}
	if dep != "" {
		fmt.Println(dep)
	}
}

// libcDepends reads the ELF binary at path.
func libcDepends(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	libs, err := f.ImportedLibraries()
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if len(libs) == 0 {
		return "", nil
	}
	for _, lib := range libs {
		if !strings.HasPrefix(lib, "libc.so.") {
			return "", fmt.Errorf("%s is linked against %s: only glibc is known", path, lib)
		}
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	versions := make([]string, 0, len(syms))
	for _, s := range syms {
		versions = append(versions, s.Version)
	}
	v := maxGlibc(versions)
	if v == "" {
		return "libc6", nil
	}
	return "libc6 (>= " + v + ")", nil
}

// maxGlibc returns the highest of the GLIBC_x.y[.z] versions (2.34 of
// GLIBC_2.2.5, GLIBC_2.34), "" when there is none.
func maxGlibc(versions []string) string {
	var best []int
	var bestText string
	for _, v := range versions {
		text, ok := strings.CutPrefix(v, "GLIBC_")
		if !ok {
			continue
		}
		var parts []int
		for _, p := range strings.Split(text, ".") {
			n, err := strconv.Atoi(p)
			if err != nil {
				parts = nil
				break
			}
			parts = append(parts, n)
		}
		if parts != nil && slices.Compare(parts, best) > 0 {
			best, bestText = parts, text
		}
	}
	return bestText
}
