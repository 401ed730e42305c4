#!/usr/bin/env bash
# make deb: the Debian package of the smppmux binary make build wrote, in
# DIST (dist/), with nfpm (packaging/nfpm.yaml), which the Go module proxy
# serves and which needs neither dpkg-deb nor fakeroot. Its version is the
# binary's own (smppmux version), made a Debian version by
# packaging/debversion; it depends on the glibc the binary needs
# (packaging/debdepends). Prints the package's path last. Variables:
#   BIN                  where make build put smppmux (bin)
#   DIST                 where the package goes (dist)
#   DEB_MAINTAINER       the package's Maintainer field
#   NFPM                 the nfpm command (go run of the pinned version)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
DIST=${DIST:-dist}
NFPM=${NFPM:-go run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2}

version=$(go run ./packaging/debversion "$BIN/smppmux")
libc=$(go run ./packaging/debdepends "$BIN/smppmux")
arch=$(go env GOARCH)
# nfpm names Debian's architectures from Go's, arm with its GOARM (arm7:
# armhf).
if [ "$arch" = arm ]; then arch=arm$(go env GOARM | cut -d, -f1); fi

stage=$DIST/stage
rm -rf "$stage"
mkdir -p "$stage"
# The unit as make install writes it for PREFIX=/usr.
sed -e 's|/usr/local|/usr|g' -e 's|which make install creates|which the package creates|' \
  systemd/smppmux.service > "$stage/smppmux.service"
gzip -9n < man/smppmux.8 > "$stage/smppmux.8.gz"

out=$DIST/smppmux_${version}_$arch
rm -rf "$out"
mkdir -p "$out"
# The files' times in the package are the commit's, when git knows it.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)} \
SMPPMUX_DEB_VERSION=$version SMPPMUX_DEB_ARCH=$arch SMPPMUX_DEB_LIBC=$libc SMPPMUX_DEB_BIN=$BIN/smppmux \
SMPPMUX_DEB_STAGE=$stage SMPPMUX_DEB_MAINTAINER=${DEB_MAINTAINER:-smppmux maintainers <maintainers@smppmux.invalid>} \
  $NFPM package --config packaging/nfpm.yaml --packager deb --target "$out/" >&2
deb=$(find "$out" -name '*.deb')
mv "$deb" "$DIST/"
rm -rf "$out" "$stage"
echo "$DIST/$(basename "$deb")"
