#!/usr/bin/env bash
# What many idle clients cost smppmux: IDLE_N (default 10,000) connections
# bind as the same system_id and stay bound; smppmux's resident memory is
# read before and while they are held, and the CPU time it spent binding
# them.
#
# IDLE_CLIENT_PASSWORD is the client's password as smppmux's configuration
# holds it (default secret): a bcrypt hash of "secret", e.g. from
#   htpasswd -bnBC 10 "" secret | tr -d ':\n'
# measures what bcrypt costs a storm of binds.
#
# Expects ./bin/smppmux (make build; IDLE_BIN names another binary).
# Everything listens on 127.0.0.1: smppmux on IDLE_PORT (default 12875), a
# simulated SMSC on IDLE_PORT+1. smppmux and the idle client each need
# IDLE_N+64 open files under the hard limit (ulimit -Hn).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${IDLE_BIN:-./bin/smppmux}
PORT=${IDLE_PORT:-12875}
SIM_PORT=$((PORT + 1))
N=${IDLE_N:-10000}
HOLD=${IDLE_HOLD:-5s}
CLIENT_PASSWORD=${IDLE_CLIENT_PASSWORD:-secret}

if [ ! -x "$BIN" ]; then
  echo "$BIN not found: run make build first" >&2; exit 1
fi
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((N + 64)) ]; then
  echo "$N connections need $((N + 64)) open files per process; the hard limit is $(ulimit -Hn)" >&2; exit 1
fi

DIR=$(mktemp -d -t smppmux-idle.XXXXXX)
PIDS=()
cleanup() {
  rc=$?
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$rc" -eq 0 ]; then rm -rf "$DIR"; else echo "logs in $DIR" >&2; fi
}
trap cleanup EXIT

cat > "$DIR/config.yaml" <<YAML
listen: {smpp: "127.0.0.1:$PORT", admin: ""}
state_dir: $DIR/state
log: {level: warn, format: console}
clients:
  - {system_id: shop, password: "$CLIENT_PASSWORD", max_binds: 20000}
upstreams:
  - {name: sim, addr: "127.0.0.1:$SIM_PORT", system_id: mux, password: pw, bind: trx}
groups:
  - {name: main, members: [{upstream: sim}]}
routes:
  - {group: main}
YAML

. scripts/lib.sh
# status_kb PID FIELD: a field of /proc/PID/status in kB (VmRSS, VmHWM).
status_kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }
mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
# cpu_ticks PID: user plus system CPU time of PID, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

"$BIN" sim -listen "127.0.0.1:$SIM_PORT" > "$DIR/sim.log" 2>&1 & PIDS+=($!)
wait_port "$SIM_PORT"
"$BIN" check-config "$DIR/config.yaml" > /dev/null
(ulimit -n "$(ulimit -Hn)"; exec "$BIN" -config "$DIR/config.yaml") > "$DIR/smppmux.log" 2>&1 & MUX_PID=$!; PIDS+=($MUX_PID)
wait_port "$PORT"
BEFORE=$(status_kb "$MUX_PID" VmRSS)
CPU_BEFORE=$(cpu_ticks "$MUX_PID")

"$BIN" idle -addr "127.0.0.1:$PORT" -system-id shop -password secret -n "$N" -concurrency 200 -hold "$HOLD" \
  > "$DIR/idle.log" 2>&1 & IDLE_PID=$!; PIDS+=($IDLE_PID)
# Wait up to 2 minutes for every bind to be answered.
for _ in $(seq 1 1200); do
  grep -q '^bound ' "$DIR/idle.log" && break
  kill -0 "$IDLE_PID" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q '^bound ' "$DIR/idle.log"; then
  cat "$DIR/idle.log" >&2; echo "the idle client did not finish binding" >&2; exit 1
fi
AFTER=$(status_kb "$MUX_PID" VmRSS)
CPU_AFTER=$(cpu_ticks "$MUX_PID")
PEAK=$(status_kb "$MUX_PID" VmHWM)
BOUND=$(awk '/^bound / {print $2; exit}' "$DIR/idle.log")

IDLE_RC=0
wait "$IDLE_PID" || IDLE_RC=$?
sed 's/^/   /' "$DIR/idle.log"
echo "idle binds: $BOUND, smppmux RSS: $(mb "$AFTER") MB (before: $(mb "$BEFORE") MB)"
if [ "$BOUND" -gt 0 ]; then
  echo "   peak (VmHWM) $(mb "$PEAK") MB, $(awk -v a="$AFTER" -v b="$BEFORE" -v n="$BOUND" 'BEGIN {printf "%.1f", (a - b) / n}') KB per bind"
fi
echo "   smppmux CPU time while binding: $(awk -v a="$CPU_AFTER" -v b="$CPU_BEFORE" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", (a - b) / hz}') s"

kill -TERM "$MUX_PID"; MUX_RC=0; wait "$MUX_PID" || MUX_RC=$?
kill -TERM "${PIDS[0]}"; wait "${PIDS[0]}" || true
PIDS=()
if [ "$IDLE_RC" -ne 0 ] || [ "$MUX_RC" -ne 0 ]; then
  echo "idle client exit $IDLE_RC, smppmux exit $MUX_RC" >&2; exit 1
fi
