// Package packaging holds the Debian package of smppmux: nfpm.yaml, the
// maintainer scripts (scripts/), deb.sh, which make deb runs, debversion,
// which makes the package's version from the binary's, and debdepends, its
// dependency on glibc. Its test, behind the build tag deb (make test-deb),
// installs the package with dpkg, upgrades, removes and purges it; it
// needs root and changes the machine, so go test ./... does not build it.
// Nothing here is imported by smppmux.
package packaging
