#!/usr/bin/env bash
# Installs what the tests need beyond Go: redis-server, for the Redis store
# tests (they run against a real server on a loopback port), promtool
# (Debian's prometheus package), for the unit tests of the alerting rules,
# chromium, for the status page's browser test (headless, with
# --no-sandbox, which Chromium needs to run as root), and for the fault
# suite (make chaos) iptables, ip (iproute2), nsenter (util-linux), losetup
# (mount) and mkfs.ext4 (e2fsprogs). Uses apt-get, as root or through sudo;
# does nothing when every command is already there.
# The prometheus package brings a Prometheus server too: it is not started
# by the install (policy-rc.d), so it takes no port.
set -euo pipefail
declare -A pkg=(
  [redis-server]=redis-server
  [promtool]=prometheus
  [iptables]=iptables
  [ip]=iproute2
  [nsenter]=util-linux
  [losetup]=mount
  [mkfs.ext4]=e2fsprogs
  [chromium]=chromium
)
missing=()
for cmd in redis-server promtool iptables ip nsenter losetup mkfs.ext4 chromium; do
  if ! command -v "$cmd" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$cmd" ] && ! [ -x "/sbin/$cmd" ]; then
    missing+=("${pkg[$cmd]}")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  redis-server --version
  promtool --version 2>&1 | head -1
  chromium --version 2>/dev/null
  exit 0
fi
SUDO=
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "missing: ${missing[*]}; installing them needs root (or sudo): apt-get install ${missing[*]}" >&2
    exit 1
  fi
  SUDO=sudo
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "missing: ${missing[*]}, and apt-get is not available: install them by hand (Redis 6.2 or later)" >&2
  exit 1
fi
$SUDO apt-get update -qq || true
# Keep the packages' services (a Prometheus server on :9090) from starting,
# unless a policy is already in place.
policy=
if [ ! -e /usr/sbin/policy-rc.d ]; then
  policy=/usr/sbin/policy-rc.d
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 0755 "$policy"
fi
status=0
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
if [ -n "$policy" ]; then $SUDO rm -f "$policy"; fi
[ "$status" -eq 0 ] || exit "$status"
redis-server --version
promtool --version 2>&1 | head -1
chromium --version 2>/dev/null
