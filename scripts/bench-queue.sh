#!/usr/bin/env bash
# Store and forward, measured: one simulated SMSC that accepts
# BENCH_QUEUE_TPS submits per second (ESME_RTHROTTLED above it), one group
# in BENCH_QUEUE_MODE (store-and-forward, or relay to compare) over it, and
# one client sending BENCH_QUEUE_N messages over a window of
# BENCH_QUEUE_WINDOW, receipts requested. Prints the accept rate and the
# submit_sm_resp p99 against their targets (>= 20,000 msg/s, <= 5 ms), then
# the drain: how long until the last receipt, and how many receipts came out
# of the order their messages were submitted. BENCH_QUEUE_PORT (default
# 12890) picks the ports (+0 smppmux, +1 the SMSC, +2 admin);
# BENCH_QUEUE_KEEP=1 keeps the logs.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BENCH_QUEUE_BIN:-./bin/smppmux}
PORT=${BENCH_QUEUE_PORT:-12890}
TPS=${BENCH_QUEUE_TPS:-1000}
N=${BENCH_QUEUE_N:-50000}
WINDOW=${BENCH_QUEUE_WINDOW:-100}
MODE=${BENCH_QUEUE_MODE:-store-and-forward}
SMSC_PORT=$((PORT + 1)); ADMIN_PORT=$((PORT + 2))
DIR=$(mktemp -d -t smppmux-bench-queue.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${BENCH_QUEUE_KEEP:-}" ]; then echo "   logs kept in $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT

cat > "$DIR/config.yaml" <<YAML
listen: {smpp: "127.0.0.1:$PORT", admin: "127.0.0.1:$ADMIN_PORT"}
state_dir: $DIR/state
log: {level: info, format: console}
clients:
  - {system_id: shop, password: secret, window: $WINDOW}
upstreams:
  - {name: carrier, addr: "127.0.0.1:$SMSC_PORT", system_id: mux, password: pw, binds: 1, window: 50}
groups:
  - name: main
    members: [{upstream: carrier}]
    queue: {mode: $MODE, max_items: $((N * 2)), max_age: 1h}
routes:
  - {group: main}
YAML

. scripts/lib.sh

$BIN sim -name carrier -listen "127.0.0.1:$SMSC_PORT" -max-tps "$TPS" > "$DIR/sim.log" 2>&1 & SIM_PID=$!; PIDS+=($SIM_PID)
wait_port "$SMSC_PORT"
$BIN -config "$DIR/config.yaml" > "$DIR/smppmux.log" 2>&1 & MUX_PID=$!; PIDS+=($MUX_PID)
wait_port "$PORT"
bound() { grep -q 'upstream bound' "$DIR/smppmux.log"; }
await "the upstream bound" bound

echo "== $N messages, window $WINDOW, group $MODE, the SMSC accepting $TPS/s"
OUT=$($BIN bench -addr "127.0.0.1:$PORT" -n "$N" -window "$WINDOW" -summary -cpu-pid "$MUX_PID" \
  -label "$MODE" -receipt-timeout "$((N / (TPS > 0 ? TPS : 1000) * 3 + 30))s" || true)
echo "$OUT" | sed 's/^/   /'
SUMMARY=$(echo "$OUT" | grep '^summary ' || true)
field() { echo "$SUMMARY" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
verdict() { if [ "$1" = 1 ]; then echo PASS; else echo MISS; fi; }
ACCEPT=$(field accept_msg_per_s); P99=$(field p99_us); SECONDS_ALL=$(field seconds)
ACCEPTED=$(field accepted); MATCHED=$(field matched); DUPS=$(field dups); OOO=$(field out_of_order)
ACCEPT_S=$(awk -v a="$ACCEPTED" -v r="$ACCEPT" 'BEGIN { if (r > 0) printf "%.3f", a / r; else print 0 }')
DRAIN_S=$(awk -v all="$SECONDS_ALL" -v acc="$ACCEPT_S" 'BEGIN { printf "%.1f", all - acc }')
echo "   accept rate       $ACCEPT msg/s (target >= 20000): $(verdict "$(awk -v r="$ACCEPT" 'BEGIN { print (r >= 20000) }')")"
echo "   accept p99        ${P99} us (target <= 5000): $(verdict "$(awk -v p="$P99" 'BEGIN { print (p >= 0 && p <= 5000) }')")"
echo "   drain             ${DRAIN_S} s after the last answer, ${SECONDS_ALL} s first submit to last receipt ($(awk -v n="$MATCHED" -v s="$SECONDS_ALL" 'BEGIN { if (s > 0) printf "%.0f", n / s }') msg/s)"
echo "   receipts          $MATCHED of $ACCEPTED matched, $DUPS duplicates: $(verdict "$(awk -v m="$MATCHED" -v a="$ACCEPTED" -v d="$DUPS" -v n="$N" 'BEGIN { print (m == a && a == n && d == 0) }')")"
echo "   order             $OOO receipts out of the order submitted: $(verdict "$([ "$OOO" = 0 ] && echo 1 || echo 0)")"
if command -v curl > /dev/null; then
  curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | grep -E '^smppmux_(queue_(in|out)_total|queue_depth|upstream_throttled_total)' | sed 's/^/   /' || true
fi
kill -TERM "$SIM_PID" "$MUX_PID"; wait "$SIM_PID" "$MUX_PID" || true
tail -qn1 "$DIR/sim.log" | sed 's/^/   /'
PIDS=()
