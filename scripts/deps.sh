#!/usr/bin/env bash
# Installs what the tests need beyond Go: redis-server, for the Redis store
# tests (they run against a real server on a loopback port). Uses apt-get,
# as root or through sudo; does nothing when redis-server is already there.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
  redis-server --version
  exit 0
fi
SUDO=
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "redis-server is missing; installing it needs root (or sudo): apt-get install redis-server" >&2
    exit 1
  fi
  SUDO=sudo
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "redis-server is missing and apt-get is not available: install Redis 6.2 or later by hand" >&2
  exit 1
fi
$SUDO apt-get update -qq || true
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
redis-server --version
