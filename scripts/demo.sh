#!/usr/bin/env bash
# make demo: smppmux between a load generator and two simulated SMSCs.
#   1. 10,000 messages with receipts over an active-active group (weights 3:1).
#   2. 20,000 more at 5,000 msg/s, and the first SMSC is killed part-way:
#      traffic fails over.
# It ends with a one-screen summary: per phase, sent, accepted, receipts
# matched and how soon smppmux took the dead SMSC out.
# Everything listens on 127.0.0.1; DEMO_PORT (default 12775) picks the ports
# (DEMO_PORT to DEMO_PORT+3: smppmux, two SMSCs, the admin listener).
# DEMO_BIN is the binary (./bin/smppmux). Logs and configuration go to a
# temporary directory, removed at the end unless DEMO_KEEP=1 or the demo
# failed; then its path is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${DEMO_BIN:-./bin/smppmux}
PORT=${DEMO_PORT:-12775}
A_PORT=$((PORT + 1)); B_PORT=$((PORT + 2)); ADMIN_PORT=$((PORT + 3))
DIR=$(mktemp -d -t smppmux-demo.XXXXXX)
PIDS=()
cleanup() {
  status=$?
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$status" -eq 0 ] && [ -z "${DEMO_KEEP:-}" ]; then
    rm -rf "$DIR"
  else
    echo "logs and configuration kept in $DIR"
  fi
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

# field NAME LINE: the value of NAME=... in a bench summary line.
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< "$2"; }
# ms_between T0 T1: milliseconds from T0 to T1, both seconds since the epoch.
ms_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }

echo "== starting two simulated SMSCs and smppmux"
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
grep -c 'upstream bound' "$DIR/smppmux.log" | sed 's/^/   upstream binds bound: /'

echo
echo "== 1. 10,000 messages with delivery receipts, carrier-a:carrier-b weighted 3:1"
$BIN bench -addr "127.0.0.1:$PORT" -n 10000 -window 100 -summary -label phase1 | tee "$DIR/bench1.log" | grep -v '^summary '
S1=$(grep '^summary ' "$DIR/bench1.log")

echo
echo "== 2. 20,000 more at 5,000 msg/s; carrier-a dies 2 s in (its sockets cut)"
$BIN bench -addr "127.0.0.1:$PORT" -n 20000 -window 100 -rate 5000 -progress 5000 -receipt-timeout 5s \
  -summary -label phase2 > "$DIR/bench2.log" 2>&1 & BENCH=$!
sleep 2
KILLED_AT=$(date +%s.%N)
kill -TERM "$A_PID"; wait "$A_PID" || true
wait "$BENCH" || true
grep -v '^summary ' "$DIR/bench2.log" | sed 's/^/   /'
S2=$(grep '^summary ' "$DIR/bench2.log" || true)
[ -n "$S2" ] || { echo "phase 2 printed no summary" >&2; exit 1; }

# Failover time: from the kill to smppmux's "upstream bind lost" line for
# the last of carrier-a's binds, after which no submit went to it.
LOST=$(grep 'upstream bind lost' "$DIR/smppmux.log" | grep -c '"carrier-a"' || true)
FAILOVER="not seen"
if [ "$LOST" -gt 0 ]; then
  LAST_TS=$(grep 'upstream bind lost' "$DIR/smppmux.log" | grep '"carrier-a"' | tail -1 | cut -f1)
  FAILOVER="carrier-a out $(ms_between "$KILLED_AT" "$(date -d "$LAST_TS" +%s.%N)") ms after the kill ($LOST binds lost)"
fi

echo
echo "== a few of smppmux's metrics (http://127.0.0.1:$ADMIN_PORT/metrics)"
if command -v curl >/dev/null; then
  curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" |
    grep -E '^smppmux_(submits_total\{.*status="0x00000000"|receipts_total\{.*result="matched"|upstream_binds\{.*state="bound"|upstream_bind_losses_total\{.*\} [1-9]|ready)' |
    sed 's/^/   /'
else
  echo "   (curl is not installed)"
fi

echo
echo "== stopping (SIGTERM: answer in-flight submits, unbind, exit)"
kill -TERM "$MUX_PID"; wait "$MUX_PID" || true
kill -TERM "$B_PID"; wait "$B_PID" || true
PIDS=()

echo
echo "== summary"
printf '   %-44s %8s %9s %9s   %s\n' "phase" "sent" "accepted" "matched" "failover"
printf '   %-44s %8s %9s %9s   %s\n' "1. 10,000, weights 3:1" \
  "$(field sent "$S1")" "$(field accepted "$S1")" "$(field matched "$S1")" "-"
printf '   %-44s %8s %9s %9s   %s\n' "2. 20,000 at 5,000 msg/s, carrier-a killed" \
  "$(field sent "$S2")" "$(field accepted "$S2")" "$(field matched "$S2")" "$FAILOVER"
echo "   phase 2: $(field refused "$S2") refused, $(field failed "$S2") without answer; a submit in flight"
echo "   on carrier-a when it died is answered with an error, not resent (it may have"
echo "   been delivered), and the receipts carrier-a still held stay with it."
