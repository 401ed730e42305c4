#!/usr/bin/env bash
# A carrier's throttle, measured: two simulated SMSCs that each accept
# THROTTLE_TPS submits per second (ESME_RTHROTTLED above it), one
# active-active group over both, and one client sending THROTTLE_N messages
# over a window of THROTTLE_WINDOW. Prints what the client saw and what each
# SMSC took. THROTTLE_PORT (default 12875) picks the ports (+0 smppmux,
# +1 and +2 the SMSCs, +3 admin).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${THROTTLE_BIN:-./bin/smppmux}
PORT=${THROTTLE_PORT:-12875}
TPS=${THROTTLE_TPS:-1000}
N=${THROTTLE_N:-6000}
WINDOW=${THROTTLE_WINDOW:-50}
A_PORT=$((PORT + 1)); B_PORT=$((PORT + 2)); ADMIN_PORT=$((PORT + 3))
DIR=$(mktemp -d -t smppmux-throttle.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

cat > "$DIR/config.yaml" <<YAML
listen: {smpp: "127.0.0.1:$PORT", admin: "127.0.0.1:$ADMIN_PORT"}
state_dir: $DIR/state
log: {level: info, format: console}
clients:
  - {system_id: shop, password: secret, window: $WINDOW}
upstreams:
  - {name: carrier-a, addr: "127.0.0.1:$A_PORT", system_id: mux, password: pw, window: 50}
  - {name: carrier-b, addr: "127.0.0.1:$B_PORT", system_id: mux, password: pw, window: 50}
groups:
  - name: main
    members: [{upstream: carrier-a}, {upstream: carrier-b}]
routes:
  - {group: main}
YAML

. scripts/lib.sh

$BIN sim -name carrier-a -listen "127.0.0.1:$A_PORT" -max-tps "$TPS" > "$DIR/sim-a.log" 2>&1 & A_PID=$!; PIDS+=($A_PID)
$BIN sim -name carrier-b -listen "127.0.0.1:$B_PORT" -max-tps "$TPS" > "$DIR/sim-b.log" 2>&1 & B_PID=$!; PIDS+=($B_PID)
wait_port "$A_PORT"; wait_port "$B_PORT"
$BIN -config "$DIR/config.yaml" > "$DIR/smppmux.log" 2>&1 & MUX_PID=$!; PIDS+=($MUX_PID)
wait_port "$PORT"
for _ in $(seq 1 50); do
  [ "$(grep -c 'upstream bound' "$DIR/smppmux.log" || true)" -ge 2 ] && break
  sleep 0.1
done

echo "== $N messages, window $WINDOW, two carriers accepting $TPS/s each"
$BIN bench -addr "127.0.0.1:$PORT" -n "$N" -window "$WINDOW" -receipt-timeout 10s || true
kill -TERM "$A_PID" "$B_PID"; wait "$A_PID" "$B_PID" || true
tail -qn1 "$DIR/sim-a.log" "$DIR/sim-b.log" | sed 's/^/   /'
echo "   breaker changes logged by smppmux: $(grep -c 'circuit breaker changed' "$DIR/smppmux.log" || true)"
if command -v curl >/dev/null; then
  curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | grep -E '^smppmux_upstream_(pace|throttled)' | sed 's/^/   /' || true
fi
kill -TERM "$MUX_PID"; wait "$MUX_PID" || true
PIDS=()
