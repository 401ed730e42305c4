#!/usr/bin/env bash
# make install / make uninstall. Variables (from make):
#   DESTDIR              staging root (empty: the live system)
#   PREFIX               /usr/local: binary, documentation, man page, rules, dashboard
#   BIN                  where make build put smppmux (bin)
#   SMPPMUX_USER         the service's user and group (smppmux)
#   SMPPMUX_CREATE_USER  auto (default: create the system user when root and
#                        DESTDIR is empty), yes or no
#
# The service runs as SMPPMUX_USER. /etc/smppmux is root:SMPPMUX_USER 0750
# and config.yaml in it root:SMPPMUX_USER 0640: the service reads its
# configuration through its group, and cannot change it. An existing
# config.yaml is never overwritten; the first install copies the example.
# uninstall removes what install put in place except config.yaml, the
# state directory and the user.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?usage: install.sh install|uninstall}
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
BIN=${BIN:-bin}
USER_NAME=${SMPPMUX_USER:-smppmux}
CREATE_USER=${SMPPMUX_CREATE_USER:-auto}
SYSCONF=$DESTDIR/etc/smppmux
UNIT=$DESTDIR/etc/systemd/system/smppmux.service
SHARE=$DESTDIR$PREFIX/share

files=(
  "$DESTDIR$PREFIX/bin/smppmux"
  "$UNIT"
  "$SHARE/doc/smppmux/README.md"
  "$SHARE/man/man8/smppmux.8"
  "$SHARE/smppmux/smppmux.rules.yml"
  "$SHARE/smppmux/smppmux.json"
  "$SYSCONF/config.yaml.example"
)

if [ "$mode" = uninstall ]; then
  for f in "${files[@]}"; do
    if [ -e "$f" ]; then rm -f "$f"; echo "removed $f"; fi
  done
  rmdir "$SHARE/doc/smppmux" "$SHARE/smppmux" 2>/dev/null || true
  echo "kept: $SYSCONF/config.yaml, the state directory (/var/lib/smppmux) and the user $USER_NAME"
  if [ -z "$DESTDIR" ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
  fi
  exit 0
fi

root=false
[ "$(id -u)" -eq 0 ] && root=true
if [ "$CREATE_USER" = auto ]; then
  CREATE_USER=no
  if $root && [ -z "$DESTDIR" ]; then CREATE_USER=yes; fi
fi
if [ "$CREATE_USER" = yes ] && ! getent passwd "$USER_NAME" >/dev/null; then
  useradd --system --user-group --home-dir /var/lib/smppmux --no-create-home \
    --shell /usr/sbin/nologin --comment "smppmux SMPP proxy" "$USER_NAME"
  echo "created the system user and group $USER_NAME"
fi
# The configuration's group: the service's, when it exists.
group=()
if $root && getent group "$USER_NAME" >/dev/null; then
  group=(-o root -g "$USER_NAME")
else
  echo "warning: group $USER_NAME does not exist (or not root): /etc/smppmux is left to your user;" >&2
  echo "         the service reads its configuration only once it is root:$USER_NAME 0640" >&2
fi

install -D -m 0755 "$BIN/smppmux" "$DESTDIR$PREFIX/bin/smppmux"
install -d -m 0755 "$(dirname "$UNIT")"
# The unit names the binary and documentation under PREFIX, and the user.
sed -e "s|/usr/local|$PREFIX|g" \
    -e "s|^User=smppmux$|User=$USER_NAME|" -e "s|^Group=smppmux$|Group=$USER_NAME|" \
    systemd/smppmux.service > "$UNIT.tmp"
chmod 0644 "$UNIT.tmp"
mv "$UNIT.tmp" "$UNIT"
install -D -m 0644 README.md "$SHARE/doc/smppmux/README.md"
install -D -m 0644 man/smppmux.8 "$SHARE/man/man8/smppmux.8"
install -D -m 0644 alerts/smppmux.rules.yml "$SHARE/smppmux/smppmux.rules.yml"
install -D -m 0644 grafana/smppmux.json "$SHARE/smppmux/smppmux.json"
install -d -m 0750 "${group[@]}" "$SYSCONF"
install -m 0640 "${group[@]}" config.yaml "$SYSCONF/config.yaml.example"
if [ ! -e "$SYSCONF/config.yaml" ]; then
  install -m 0640 "${group[@]}" config.yaml "$SYSCONF/config.yaml"
  echo "installed $SYSCONF/config.yaml (the example: edit it)"
else
  echo "kept $SYSCONF/config.yaml"
fi
for f in "${files[@]}"; do echo "installed $f"; done
if [ -z "$DESTDIR" ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  echo "then: smppmux check-config as $USER_NAME, and systemctl enable --now smppmux"
fi
