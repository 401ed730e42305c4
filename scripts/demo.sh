#!/usr/bin/env bash
# make demo: smppmux between a load generator and two simulated SMSCs.
#   1. 10,000 messages with receipts over an active-active group (weights 3:1).
#   2. 10,000 more, and the first SMSC is killed part-way: traffic fails over.
# Everything listens on 127.0.0.1; DEMO_PORT (default 12775) picks the ports
# (DEMO_PORT to DEMO_PORT+3: smppmux, two SMSCs, the admin listener).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=./bin/smppmux
PORT=${DEMO_PORT:-12775}
A_PORT=$((PORT + 1)); B_PORT=$((PORT + 2)); ADMIN_PORT=$((PORT + 3))
DIR=$(mktemp -d -t smppmux-demo.XXXXXX)
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
  - {system_id: shop, password: secret, window: 100}
upstreams:
  - {name: carrier-a, addr: "127.0.0.1:$A_PORT", system_id: mux, password: pw, bind: trx, binds: 2, window: 50, reconnect_min: 200ms, reconnect_max: 2s}
  - {name: carrier-b, addr: "127.0.0.1:$B_PORT", system_id: mux, password: pw, bind: txrx, binds: 1, window: 50, reconnect_min: 200ms, reconnect_max: 2s}
groups:
  - name: main
    mode: active-active
    members: [{upstream: carrier-a, weight: 3}, {upstream: carrier-b, weight: 1}]
routes:
  - {group: main}
YAML

. scripts/lib.sh

echo "== starting two simulated SMSCs and smppmux (logs in $DIR)"
$BIN sim -name carrier-a -listen "127.0.0.1:$A_PORT" > "$DIR/sim-a.log" 2>&1 & A_PID=$!; PIDS+=($A_PID)
$BIN sim -name carrier-b -listen "127.0.0.1:$B_PORT" -id-format decimal > "$DIR/sim-b.log" 2>&1 & B_PID=$!; PIDS+=($B_PID)
wait_port "$A_PORT"; wait_port "$B_PORT"
$BIN check-config "$DIR/config.yaml"
$BIN -config "$DIR/config.yaml" > "$DIR/smppmux.log" 2>&1 & MUX_PID=$!; PIDS+=($MUX_PID)
wait_port "$PORT"
# Wait for the upstream binds (up to 5 s).
for _ in $(seq 1 50); do
  [ "$(grep -c 'upstream bound' "$DIR/smppmux.log" || true)" -ge 4 ] && break
  sleep 0.1
done
grep 'upstream bound' "$DIR/smppmux.log" | sed 's/^/   /'

echo
echo "== 1. 10,000 messages with delivery receipts, carrier-a:carrier-b weighted 3:1"
$BIN bench -addr "127.0.0.1:$PORT" -n 10000 -window 100

kill -USR1 "$A_PID" "$B_PID"; sleep 0.2
echo "   what each simulated SMSC took so far:"
tail -qn1 "$DIR/sim-a.log" "$DIR/sim-b.log" | sed 's/^/   /'

echo
echo "== 2. 20,000 more at 5,000 msg/s; carrier-a dies 2 s in (its sockets cut)"
$BIN bench -addr "127.0.0.1:$PORT" -n 20000 -window 100 -rate 5000 -progress 2500 -receipt-timeout 5s > "$DIR/bench2.log" 2>&1 & BENCH=$!
sleep 2
kill -TERM "$A_PID"; wait "$A_PID" || true
echo "   carrier-a stopped at $(date +%T.%3N)"
wait "$BENCH" || true
cat "$DIR/bench2.log"
echo "   A submit in flight on carrier-a at the moment it died would be answered"
echo "   with an error and not resent (it may have been delivered); receipts"
echo "   carrier-a still held would stay with it. New submits went to carrier-b."
echo
echo "== what smppmux logged about the failover"
grep -E 'bind lost|reconnecting' "$DIR/smppmux.log" | head -4 | sed 's/^/   /'

echo
echo "== a few of smppmux's metrics (http://127.0.0.1:$ADMIN_PORT/metrics)"
if command -v curl >/dev/null; then
  curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" |
    grep -E '^smppmux_(submits_total|receipts_total|receipt_final_total|upstream_binds\{state="bound"|breaker_state\{.*\} 1|ready)' |
    sed 's/^/   /'
else
  echo "   (curl is not installed: open the address above)"
fi

echo
echo "== stopping (SIGTERM: answer in-flight submits, unbind, exit)"
kill -TERM "$MUX_PID"; wait "$MUX_PID" || true
kill -TERM "$B_PID"; wait "$B_PID" || true
echo "   totals:"
tail -qn1 "$DIR/sim-a.log" "$DIR/sim-b.log" | sed 's/^/   /'
PIDS=()
