#!/usr/bin/env bash
# make bench: what smppmux costs next to a direct connection and next to a
# plain TCP relay.
#
#   1. BENCH_N (default 100,000) messages with registered delivery over a
#      window of BENCH_WINDOW (100), as fast as they go: straight to the
#      simulated SMSC, through smppmux (durable store on, under
#      BENCH_STATE_DIR), and through HAProxy in TCP mode when `haproxy` is
#      on PATH. For each: msg/s, submit_sm_resp p50/p99, and the relaying
#      process's CPU per message (utime+stime of /proc/PID/stat over the
#      run) and resident memory.
#   2. The same traffic paced at BENCH_RATE (10,000) msg/s, direct,
#      through smppmux and through HAProxy: p99 and CPU compared.
#   3. BENCH_IDLE_N (10,000) idle client binds through smppmux: its RSS
#      (scripts/idle.sh).
#
# It ends with four figures, each with its target and PASS or MISS. A miss
# does not fail the script; a broken run does (a submit unanswered, a
# receipt missing or not matching its message_id, a process dead).
# Submits refused with an error status are counted and shown, not failed.
#
# Expects ./bin/smppmux (make build; BENCH_BIN names another binary).
# Everything listens on 127.0.0.1: smppmux on BENCH_PORT (default 12975),
# the simulated SMSC on +1, HAProxy on +2, smppmux's admin listener on +3;
# the idle leg uses BENCH_PORT+10 and +11. Each target gets a warm-up of
# BENCH_WARMUP (10,000) messages first, not counted. BENCH_SYNC=interval
# runs smppmux with store.sync interval (5ms).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BENCH_BIN:-./bin/smppmux}
PORT=${BENCH_PORT:-12975}
SIM_PORT=$((PORT + 1)); HAP_PORT=$((PORT + 2)); ADMIN_PORT=$((PORT + 3))
N=${BENCH_N:-100000}
WINDOW=${BENCH_WINDOW:-100}
RATE=${BENCH_RATE:-10000}
PACED_N=${BENCH_PACED_N:-$N}
WARMUP=${BENCH_WARMUP:-10000}
IDLE_N=${BENCH_IDLE_N:-10000}
SYNC=${BENCH_SYNC:-always} # store.sync: always or interval (store.sync_interval 5ms)
CLK_TCK=$(getconf CLK_TCK)

if [ ! -x "$BIN" ]; then
  echo "$BIN not found: run make build first" >&2; exit 1
fi
DIR=$(mktemp -d -t smppmux-bench.XXXXXX)
STATE_DIR=${BENCH_STATE_DIR:-$DIR/state}
declare -A PID=() # background processes by name
# start NAME CMD...: run CMD in the background, its output in $DIR/NAME.log.
start() { local name=$1; shift; "$@" > "$DIR/$name.log" 2>&1 & PID[$name]=$!; }
# stop NAME: SIGTERM, then its exit status.
stop() {
  local pid=${PID[$1]} rc=0
  unset "PID[$1]"
  kill -TERM "$pid" 2> /dev/null || true
  wait "$pid" || rc=$?
  return "$rc"
}
on_exit() {
  local rc=$? name
  for name in "${!PID[@]}"; do stop "$name" || true; done
  if [ "$rc" -eq 0 ]; then rm -rf "$DIR"; else echo "bench failed: logs in $DIR" >&2; fi
}
trap on_exit EXIT

cat > "$DIR/config.yaml" <<YAML
listen: {smpp: "127.0.0.1:$PORT", admin: "127.0.0.1:$ADMIN_PORT"}
state_dir: $STATE_DIR
log: {level: info, format: console}
clients:
  - {system_id: shop, password: secret, window: $WINDOW}
upstreams:
  - {name: sim, addr: "127.0.0.1:$SIM_PORT", system_id: mux, password: pw, bind: trx, binds: 1, window: $WINDOW}
groups:
  - {name: main, members: [{upstream: sim}]}
routes:
  - {group: main}
store: {sync: $SYNC}
YAML

cat > "$DIR/haproxy.cfg" <<CFG
global
    maxconn 100
defaults
    mode tcp
    timeout connect 5s
    timeout client 5m
    timeout server 5m
frontend smpp
    bind 127.0.0.1:$HAP_PORT
    default_backend smsc
backend smsc
    server sim 127.0.0.1:$SIM_PORT
CFG

. scripts/lib.sh

# run NAME ADDR PID [bench flags]: one bench run against ADDR measuring
# process PID; its output goes to $DIR/run-NAME.log, its summary line to
# $DIR/run-NAME.sum.
run() {
  local name=$1 addr=$2 pid=$3; shift 3
  if ! "$BIN" bench -addr "$addr" -window "$WINDOW" -cpu-pid "$pid" -clk-tck "$CLK_TCK" \
      -label "$name" -summary -strict -receipt-timeout 60s "$@" > "$DIR/run-$name.log" 2>&1; then
    cat "$DIR/run-$name.log" >&2
    echo "run $name failed" >&2
    return 1
  fi
  grep '^summary ' "$DIR/run-$name.log" > "$DIR/run-$name.sum"
  case $name in warm-*) refused_note "$name"; return 0 ;; esac
  printf '   %-16s %7s msg/s, p50 %sµs, p99 %sµs, %s µs/msg CPU of pid %s\n' "$name" "$(get "$name" msg_per_s)" \
    "$(get "$name" p50_us)" "$(get "$name" p99_us)" "$(get "$name" cpu_us_per_msg)" "$pid"
  refused_note "$name"
}
# refused_note NAME: a line when run NAME had submits refused.
refused_note() {
  [ "$(get "$1" refused)" = 0 ] ||
    echo "   $1: $(get "$1" refused) of $(get "$1" n) submits refused: $(grep '^  refused ' "$DIR/run-$1.log" | sed 's/^ *refused //' | tr -s ' ' | paste -sd';')"
}
# get NAME KEY: a value of run NAME's summary line.
get() { tr ' ' '\n' < "$DIR/run-$1.sum" | sed -n "s/^$2=//p"; }

echo "== setup (logs in $DIR)"
echo "   $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) before the runs"
mkdir -p "$STATE_DIR"
echo "   smppmux state_dir $STATE_DIR on $(df -PT "$STATE_DIR" | awk 'NR == 2 {print $2}')"
echo "   store.sync $SYNC"
start sim "$BIN" sim -listen "127.0.0.1:$SIM_PORT"
SIM_PID=${PID[sim]}
await "the simulated SMSC" listening "$SIM_PORT"
"$BIN" check-config "$DIR/config.yaml" > /dev/null
start smppmux "$BIN" -config "$DIR/config.yaml"
MUX_PID=${PID[smppmux]}
await "smppmux's bind to the simulated SMSC" grep -q 'upstream bound' "$DIR/smppmux.log"
await "smppmux's listener" listening "$PORT"
HAP_PID=
if command -v haproxy > /dev/null; then
  start haproxy haproxy -f "$DIR/haproxy.cfg" -db
  HAP_PID=${PID[haproxy]}
  await "haproxy" listening "$HAP_PORT"
  echo "   $(haproxy -v | head -1 | cut -d' ' -f1-3), TCP mode, pid $HAP_PID"
else
  echo "   haproxy is not on PATH: the HAProxy run and the CPU comparison are skipped"
fi
echo "   smppmux pid $MUX_PID, simulated SMSC pid $SIM_PID"

echo
echo "== warm-up: $WARMUP messages to each target, not counted"
run warm-direct "127.0.0.1:$SIM_PORT" "$SIM_PID" -n "$WARMUP"
run warm-smppmux "127.0.0.1:$PORT" "$MUX_PID" -n "$WARMUP"
[ -z "$HAP_PID" ] || run warm-haproxy "127.0.0.1:$HAP_PORT" "$HAP_PID" -n "$WARMUP"

echo
echo "== $N messages, window $WINDOW, registered delivery, as fast as they go"
run direct "127.0.0.1:$SIM_PORT" "$SIM_PID" -n "$N"
run smppmux "127.0.0.1:$PORT" "$MUX_PID" -n "$N"
[ -z "$HAP_PID" ] || run haproxy "127.0.0.1:$HAP_PORT" "$HAP_PID" -n "$N"

echo "== $PACED_N messages paced at $RATE msg/s"
run direct-paced "127.0.0.1:$SIM_PORT" "$SIM_PID" -n "$PACED_N" -rate "$RATE"
run smppmux-paced "127.0.0.1:$PORT" "$MUX_PID" -n "$PACED_N" -rate "$RATE"
PACED_RUNS="direct-paced smppmux-paced"
if [ -n "$HAP_PID" ]; then
  run haproxy-paced "127.0.0.1:$HAP_PORT" "$HAP_PID" -n "$PACED_N" -rate "$RATE"
  PACED_RUNS="$PACED_RUNS haproxy-paced"
fi
for name in $PACED_RUNS; do
  w=$(get "$name" window_waits)
  [ "$w" = 0 ] || echo "   $name: the window of $WINDOW was full $w times: those submits went out late, and the p99 understates"
  awk -v r="$(get "$name" send_rate)" -v t="$RATE" 'BEGIN { exit !(r < 0.95 * t) }' &&
    echo "   $name: sent at $(get "$name" send_rate)/s, short of $RATE/s"
done

MUX_RC=0; stop smppmux || MUX_RC=$?
[ -z "$HAP_PID" ] || stop haproxy || true
stop sim || true
if [ "$MUX_RC" -ne 0 ]; then
  tail -20 "$DIR/smppmux.log" >&2; echo "smppmux exited $MUX_RC" >&2; exit 1
fi

echo "== $IDLE_N idle client binds (scripts/idle.sh)"
IDLE_N=$IDLE_N IDLE_PORT=$((PORT + 10)) IDLE_BIN=$BIN ./scripts/idle.sh > "$DIR/idle.log" 2>&1 ||
  { cat "$DIR/idle.log" >&2; echo "the idle run failed" >&2; exit 1; }
IDLE_LINE=$(grep '^idle binds: ' "$DIR/idle.log")
IDLE_BOUND=$(sed -n 's/^idle binds: \([0-9]*\),.*/\1/p' <<< "$IDLE_LINE")
IDLE_MB=$(sed -n 's/.*smppmux RSS: \([0-9.]*\) MB.*/\1/p' <<< "$IDLE_LINE")

echo
echo "== results"
row() { # row NAME WHAT MEASURED-PROCESS
  local cpu rss
  cpu=$(get "$1" cpu_us_per_msg); rss=$(get "$1" rss_kb)
  printf '  %-22s %8s %9s %9s   %-9s %6s µs/msg %7s MB   %5s\n' "$2" "$(get "$1" msg_per_s)" \
    "$(get "$1" p50_us)µs" "$(get "$1" p99_us)µs" "$3" "$cpu" "$(awk -v k="$rss" 'BEGIN {printf "%.1f", k / 1024}')" \
    "$(get "$1" cpu_ticks)"
}
printf '  %-22s %8s %9s %9s   %-9s %13s %10s   %5s\n' run msg/s p50 p99 "CPU of" "CPU" RSS ticks
row direct "direct" sim
row smppmux "through smppmux" smppmux
[ -z "$HAP_PID" ] || row haproxy "through haproxy" haproxy
row direct-paced "direct @$RATE/s" sim
row smppmux-paced "smppmux @$RATE/s" smppmux
[ -z "$HAP_PID" ] || row haproxy-paced "haproxy @$RATE/s" haproxy
printf '  %-22s %8s %9s %9s   %-9s %13s %7s MB\n' "$IDLE_BOUND idle binds" - - - smppmux - "$IDLE_MB"
echo "  (msg/s: accepted messages from the first submit to the last receipt; CPU: utime+stime"
echo "   of the named process over the run, per message: submit, resp, receipt, receipt resp;"
echo "   load generator CPU: $(get direct load_cpu_us_per_msg) µs/msg direct, $(get smppmux load_cpu_us_per_msg) through smppmux)"

# verdict OK: PASS or MISS.
verdict() { if [ "$1" = 1 ]; then echo PASS; else echo MISS; fi; }
DIRECT_RATE=$(get direct msg_per_s); MUX_RATE=$(get smppmux msg_per_s)
MUX_CPU=$(get smppmux cpu_us_per_msg)
P99_DIRECT=$(get direct-paced p99_us); P99_MUX=$(get smppmux-paced p99_us)
echo
echo "== targets ($(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) after the runs)"
if [ -n "$HAP_PID" ]; then
  # cpu_vs_haproxy LABEL SMPPMUX-RUN HAPROXY-RUN
  cpu_vs_haproxy() {
    local m h
    m=$(get "$2" cpu_us_per_msg); h=$(get "$3" cpu_us_per_msg)
    read -r RATIO OK < <(awk -v m="$m" -v h="$h" 'BEGIN {
      if (h > 0) printf "%.2f %d\n", m / h, (m <= h); else printf "inf %d\n", (m <= h) }')
    printf '  %-46s %-40s %-14s %s\n' "$1" "$m / $h µs/msg = $RATIO" "target <= 1" "$(verdict "$OK")"
  }
  cpu_vs_haproxy "CPU per message, smppmux / HAProxy (TCP)" smppmux haproxy
  cpu_vs_haproxy "  the same at $RATE msg/s" smppmux-paced haproxy-paced
else
  printf '  %-46s %-40s %-14s %s\n' "CPU per message, smppmux / HAProxy (TCP)" \
    "smppmux $MUX_CPU µs/msg; haproxy not on PATH" "target <= 1" "SKIP"
fi
read -r RATIO OK < <(awk -v m="$MUX_RATE" -v d="$DIRECT_RATE" 'BEGIN { r = m / d; printf "%.3f %d\n", r, (r >= 0.95) }')
printf '  %-46s %-40s %-14s %s\n' "throughput, through smppmux / direct" \
  "$MUX_RATE / $DIRECT_RATE msg/s = $RATIO" "target >= 0.95" "$(verdict "$OK")"
read -r ADDED OK < <(awk -v m="$P99_MUX" -v d="$P99_DIRECT" 'BEGIN { a = (m - d) / 1000; printf "%+.3f %d\n", a, (a <= 1) }')
printf '  %-46s %-40s %-14s %s\n' "added submit_sm_resp p99 at $RATE msg/s" \
  "$P99_MUX - $P99_DIRECT µs = $ADDED ms" "target <= 1 ms" "$(verdict "$OK")"
OK=$(awk -v r="$IDLE_MB" 'BEGIN { print (r <= 150) }')
V=$(verdict "$OK")
[ "$IDLE_BOUND" -ge 10000 ] || V="SKIP (the target is for 10000 binds)"
printf '  %-46s %-40s %-14s %s\n' "smppmux RSS with $IDLE_BOUND idle binds" \
  "$IDLE_MB MB" "target <= 150 MB" "$V"
