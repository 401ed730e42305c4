#!/usr/bin/env bash
# make bench: smppmux's hot path against its targets, measured next to a
# direct connection and, for reference, a plain TCP relay.
#
#   1. BENCH_N (default 100,000) messages with registered delivery over a
#      window of BENCH_WINDOW (100), as fast as they go: straight to the
#      simulated SMSC, through smppmux with store.sync: always (its
#      store under BENCH_STATE_DIR/always), and through HAProxy in TCP
#      mode when `haproxy` is on PATH, and through a plain Go TCP relay
#      (`smppmux bench-relay`: accept, dial, io.Copy both ways, nothing
#      parsed), the floor of a Go process relaying this traffic on this
#      machine. For each: msg/s, submit_sm_resp
#      p50/p99, and the relaying process's CPU per message (utime+stime of
#      /proc/PID/stat over the run) and resident memory.
#   2. BENCH_PACED_N (BENCH_N) messages paced at BENCH_RATE (10,000) msg/s,
#      the same four ways.
#   3. smppmux again, started afresh with store.sync: interval
#      (sync_interval 5ms) and a state_dir of its own
#      (BENCH_STATE_DIR/interval): full speed and paced, as above.
#   4. BENCH_IDLE_N (10,000) idle client binds through smppmux: its RSS
#      (scripts/idle.sh).
#
# It ends with these figures, each with its target and PASS or MISS:
#
#   store.sync: always
#     smppmux CPU per message, full speed                   <= 4 µs
#     the same, paced at 10,000 msg/s                        <= 15 µs
#     added submit_sm_resp p99 at 10,000 msg/s
#       (p99 through smppmux minus p99 direct)               <= 1 ms
#     full-speed throughput, through smppmux / direct        >= 0.6
#     smppmux RSS with 10,000 idle binds                     <= 80 MB
#   store.sync: interval
#     smppmux CPU per message, full speed                   <= 3 µs
#     the same, paced at 10,000 msg/s                        <= 10 µs
#
# After the targets, a line for scale: the plain TCP relay's CPU per
# message, full speed and paced, and its throughput over direct, beside
# smppmux's. The HAProxy and relay rows are there for reference: no
# target rests on them. The
# idle target is judged only with 10,000 binds (SKIP otherwise). A miss
# does not fail the script; a broken run does (a submit unanswered, a
# receipt missing or not matching its message_id, a process dead).
# Submits refused with an error status are counted and shown, not failed.
#
# BENCH_SYNC picks the smppmux legs: both (the default), always or
# interval; the targets of a leg left out say SKIP. Expects
# ./bin/smppmux (make build; BENCH_BIN names another binary). Everything
# listens on 127.0.0.1: smppmux on BENCH_PORT (default 12975), the
# simulated SMSC on +1, HAProxy on +2, smppmux's admin listener on +3,
# the plain TCP relay on +4;
# the idle leg uses BENCH_PORT+10 and +11. Each target gets a warm-up of
# BENCH_WARMUP (10,000) messages first, not counted.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BENCH_BIN:-./bin/smppmux}
PORT=${BENCH_PORT:-12975}
SIM_PORT=$((PORT + 1)); HAP_PORT=$((PORT + 2)); ADMIN_PORT=$((PORT + 3)); RELAY_PORT=$((PORT + 4))
N=${BENCH_N:-100000}
WINDOW=${BENCH_WINDOW:-100}
RATE=${BENCH_RATE:-10000}
PACED_N=${BENCH_PACED_N:-$N}
WARMUP=${BENCH_WARMUP:-10000}
IDLE_N=${BENCH_IDLE_N:-10000}
case ${BENCH_SYNC:-both} in
  both) LEGS="always interval" ;;
  always | interval) LEGS=$BENCH_SYNC ;;
  *) echo "BENCH_SYNC is both, always or interval, not $BENCH_SYNC" >&2; exit 1 ;;
esac
CLK_TCK=$(getconf CLK_TCK)

if [ ! -x "$BIN" ]; then
  echo "$BIN not found: run make build first" >&2; exit 1
fi
DIR=$(mktemp -d -t smppmux-bench.XXXXXX)
STATE_ROOT=${BENCH_STATE_DIR:-$DIR/state}
declare -A PID=() # background processes by name (start and stop, scripts/lib.sh)
on_exit() {
  local rc=$? name
  for name in "${!PID[@]}"; do stop "$name" || true; done
  if [ "$rc" -eq 0 ]; then rm -rf "$DIR"; else echo "bench failed: logs in $DIR" >&2; fi
}
trap on_exit EXIT
# has_leg SYNC: whether BENCH_SYNC runs smppmux with store.sync SYNC.
has_leg() { [[ " $LEGS " == *" $1 "* ]]; }

for sync in $LEGS; do
  cat > "$DIR/$sync.yaml" <<YAML
listen: {smpp: "127.0.0.1:$PORT", admin: "127.0.0.1:$ADMIN_PORT"}
state_dir: $STATE_ROOT/$sync
log: {level: info, format: console}
clients:
  - {system_id: shop, password: secret, window: $WINDOW}
upstreams:
  - {name: sim, addr: "127.0.0.1:$SIM_PORT", system_id: mux, password: pw, bind: trx, binds: 1, window: $WINDOW}
groups:
  - {name: main, members: [{upstream: sim}]}
routes:
  - {group: main}
store: {sync: $sync}
YAML
done

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

# start_mux SYNC: smppmux with store.sync SYNC, bound to the simulated
# SMSC and listening; its pid in MUX_PID.
start_mux() {
  mkdir -p "$STATE_ROOT/$1"
  "$BIN" check-config "$DIR/$1.yaml" > /dev/null
  start "smppmux-$1" "$BIN" -config "$DIR/$1.yaml"
  MUX_PID=${PID[smppmux-$1]}
  await "smppmux's bind to the simulated SMSC" grep -q 'upstream bound' "$DIR/smppmux-$1.log"
  await "smppmux's listener" listening "$PORT"
}
# stop_mux SYNC: stop smppmux, failing the bench unless it exits 0.
stop_mux() {
  local rc=0
  stop "smppmux-$1" || rc=$?
  if [ "$rc" -ne 0 ]; then
    tail -20 "$DIR/smppmux-$1.log" >&2; echo "smppmux (store.sync $1) exited $rc" >&2; exit 1
  fi
}

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
  printf '   %-22s %7s msg/s, p50 %sµs, p99 %sµs, %s µs/msg CPU of pid %s\n' "$name" "$(get "$name" msg_per_s)" \
    "$(get "$name" p50_us)" "$(get "$name" p99_us)" "$(get "$name" cpu_us_per_msg)" "$pid"
  refused_note "$name"
}
# refused_note NAME: a line when run NAME had submits refused.
refused_note() {
  [ "$(get "$1" refused)" = 0 ] ||
    echo "   $1: $(get "$1" refused) of $(get "$1" n) submits refused: $(grep '^  refused ' "$DIR/run-$1.log" | sed 's/^ *refused //' | tr -s ' ' | paste -sd';')"
}
# paced_notes NAME...: a line for each paced run whose window filled up
# or whose sending fell short of the rate.
paced_notes() {
  local name w
  for name in "$@"; do
    w=$(get "$name" window_waits)
    [ "$w" = 0 ] || echo "   $name: the window of $WINDOW was full $w times: those submits went out late, and the p99 understates"
    if awk -v r="$(get "$name" send_rate)" -v t="$RATE" 'BEGIN { exit !(r < 0.95 * t) }'; then
      echo "   $name: sent at $(get "$name" send_rate)/s, short of $RATE/s"
    fi
  done
}
# get NAME KEY: a value of run NAME's summary line.
get() { tr ' ' '\n' < "$DIR/run-$1.sum" | sed -n "s/^$2=//p"; }

echo "== setup (logs in $DIR)"
echo "   $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) before the runs"
mkdir -p "$STATE_ROOT"
echo "   smppmux with store.sync: ${LEGS// / then }, state_dirs under $STATE_ROOT on $(df -PT "$STATE_ROOT" | awk 'NR == 2 {print $2}')"
start sim "$BIN" sim -listen "127.0.0.1:$SIM_PORT"
SIM_PID=${PID[sim]}
await "the simulated SMSC" listening "$SIM_PORT"
HAP_PID=
if command -v haproxy > /dev/null; then
  start haproxy haproxy -f "$DIR/haproxy.cfg" -db
  HAP_PID=${PID[haproxy]}
  await "haproxy" listening "$HAP_PORT"
  echo "   $(haproxy -v | head -1 | cut -d' ' -f1-3), TCP mode, pid $HAP_PID, for reference"
else
  echo "   haproxy is not on PATH: its reference rows are left out"
fi
start relay "$BIN" bench-relay -listen "127.0.0.1:$RELAY_PORT" -to "127.0.0.1:$SIM_PORT"
RELAY_PID=${PID[relay]}
await "the plain TCP relay" listening "$RELAY_PORT"
echo "   plain TCP relay (smppmux bench-relay) pid $RELAY_PID, for scale"
MUX_PID=
if has_leg always; then
  start_mux always
  echo "   smppmux (store.sync always) pid $MUX_PID, simulated SMSC pid $SIM_PID"
else
  echo "   simulated SMSC pid $SIM_PID"
fi

echo
echo "== warm-up: $WARMUP messages to each target, not counted"
run warm-direct "127.0.0.1:$SIM_PORT" "$SIM_PID" -n "$WARMUP"
[ -z "$MUX_PID" ] || run warm-smppmux "127.0.0.1:$PORT" "$MUX_PID" -n "$WARMUP"
[ -z "$HAP_PID" ] || run warm-haproxy "127.0.0.1:$HAP_PORT" "$HAP_PID" -n "$WARMUP"
run warm-relay "127.0.0.1:$RELAY_PORT" "$RELAY_PID" -n "$WARMUP"

echo "== $N messages, window $WINDOW, registered delivery, as fast as they go"
run direct "127.0.0.1:$SIM_PORT" "$SIM_PID" -n "$N"
[ -z "$MUX_PID" ] || run smppmux "127.0.0.1:$PORT" "$MUX_PID" -n "$N"
[ -z "$HAP_PID" ] || run haproxy "127.0.0.1:$HAP_PORT" "$HAP_PID" -n "$N"
run relay "127.0.0.1:$RELAY_PORT" "$RELAY_PID" -n "$N"

echo "== $PACED_N messages paced at $RATE msg/s"
run direct-paced "127.0.0.1:$SIM_PORT" "$SIM_PID" -n "$PACED_N" -rate "$RATE"
PACED_RUNS=direct-paced
if [ -n "$MUX_PID" ]; then
  run smppmux-paced "127.0.0.1:$PORT" "$MUX_PID" -n "$PACED_N" -rate "$RATE"
  PACED_RUNS="$PACED_RUNS smppmux-paced"
fi
if [ -n "$HAP_PID" ]; then
  run haproxy-paced "127.0.0.1:$HAP_PORT" "$HAP_PID" -n "$PACED_N" -rate "$RATE"
  PACED_RUNS="$PACED_RUNS haproxy-paced"
fi
run relay-paced "127.0.0.1:$RELAY_PORT" "$RELAY_PID" -n "$PACED_N" -rate "$RATE"
PACED_RUNS="$PACED_RUNS relay-paced"
paced_notes $PACED_RUNS
[ -z "$MUX_PID" ] || stop_mux always
[ -z "$HAP_PID" ] || stop haproxy || true
stop relay || true

if has_leg interval; then
  start_mux interval
  echo "== smppmux (pid $MUX_PID) with store.sync: interval: warm-up of $WARMUP, $N at full speed, $PACED_N at $RATE msg/s"
  run warm-smppmux-interval "127.0.0.1:$PORT" "$MUX_PID" -n "$WARMUP"
  run smppmux-interval "127.0.0.1:$PORT" "$MUX_PID" -n "$N"
  run smppmux-interval-paced "127.0.0.1:$PORT" "$MUX_PID" -n "$PACED_N" -rate "$RATE"
  paced_notes smppmux-interval-paced
  stop_mux interval
fi
stop sim || true

echo "== $IDLE_N idle client binds (scripts/idle.sh)"
IDLE_N=$IDLE_N IDLE_PORT=$((PORT + 10)) IDLE_BIN=$BIN ./scripts/idle.sh > "$DIR/idle.log" 2>&1 ||
  { cat "$DIR/idle.log" >&2; echo "the idle run failed" >&2; exit 1; }
IDLE_LINE=$(grep '^idle binds: ' "$DIR/idle.log")
IDLE_BOUND=$(sed -n 's/^idle binds: \([0-9]*\),.*/\1/p' <<< "$IDLE_LINE")
IDLE_MB=$(sed -n 's/.*smppmux RSS: \([0-9.]*\) MB.*/\1/p' <<< "$IDLE_LINE")

# pad WIDTH TEXT: TEXT, then spaces up to WIDTH characters (printf's
# widths count bytes, and µ is two).
pad() { printf '%s%*s' "$2" $(($1 > ${#2} ? $1 - ${#2} : 0)) ''; }
# lpad WIDTH TEXT: spaces, then TEXT, WIDTH characters in all.
lpad() { printf '%*s%s' $(($1 > ${#2} ? $1 - ${#2} : 0)) '' "$2"; }
mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

echo
echo "== results"
row() { # row RUN LABEL MEASURED-PROCESS
  [ -f "$DIR/run-$1.sum" ] || return 0
  printf '  %-26s %7s %7s %7s %11s   %-8s %6s %6s\n' "$2" "$(get "$1" msg_per_s)" "$(get "$1" p50_us)" \
    "$(get "$1" p99_us)" "$(get "$1" cpu_us_per_msg)" "$3" "$(mb "$(get "$1" rss_kb)")" "$(get "$1" cpu_ticks)"
}
printf '  %-26s %7s %s %s %s   %-8s %6s %6s\n' run msg/s "$(lpad 7 'p50 µs')" "$(lpad 7 'p99 µs')" \
  "$(lpad 11 'CPU µs/msg')" "CPU of" "RSS MB" ticks
row direct "direct" sim
row smppmux "smppmux" smppmux
row haproxy "haproxy (reference)" haproxy
row relay "plain TCP relay (scale)" relay
row smppmux-interval "smppmux, sync interval" smppmux
row direct-paced "direct @$RATE/s" sim
row smppmux-paced "smppmux @$RATE/s" smppmux
row haproxy-paced "haproxy @$RATE/s" haproxy
row relay-paced "plain relay @$RATE/s" relay
row smppmux-interval-paced "sync interval @$RATE/s" smppmux
printf '  %-26s %7s %7s %7s %11s   %-8s %6s %6s\n' "$IDLE_BOUND idle binds" - - - - smppmux "$IDLE_MB" -
echo "  (smppmux: store.sync always unless named; msg/s: accepted messages from the first submit"
echo "   to the last receipt; CPU: utime+stime of the named process over the run, per message:"
LOAD_CPU="$(get direct load_cpu_us_per_msg) µs/msg direct"
[ ! -f "$DIR/run-smppmux.sum" ] || LOAD_CPU="$LOAD_CPU, $(get smppmux load_cpu_us_per_msg) through smppmux"
echo "   submit, resp, receipt, receipt resp; load generator CPU: $LOAD_CPU)"

# target LABEL TARGET VERDICT MEASURED: one line of the targets.
target() { printf '  %s %s %-7s %s\n' "$(pad 40 "$1")" "$(pad 9 "$2")" "$3" "$4"; }
# judge VALUE OP LIMIT: PASS when VALUE OP LIMIT holds (OP is <= or >=),
# MISS when it does not.
judge() {
  awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN { ok = op == "<=" ? v <= l : v >= l; print ok ? "PASS" : "MISS" }'
}
# cpu_target RUN LABEL LIMIT: the CPU per message of RUN against LIMIT µs.
cpu_target() {
  local cpu
  if [ ! -f "$DIR/run-$1.sum" ]; then
    target "$2" "<= $3 µs" SKIP "not run (BENCH_SYNC=$BENCH_SYNC)"; return
  fi
  cpu=$(get "$1" cpu_us_per_msg)
  if [ "$cpu" = -1 ]; then
    target "$2" "<= $3 µs" MISS "not measured (see $DIR/run-$1.log)"; return
  fi
  target "$2" "<= $3 µs" "$(judge "$cpu" "<=" "$3")" "$cpu µs/msg"
}

echo
echo "== targets ($(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) after the runs)"
printf '  %-40s %-9s %-7s %s\n' "smppmux, store.sync: always" target verdict measured
cpu_target smppmux "CPU per message, full speed" 4
cpu_target smppmux-paced "CPU per message at $RATE msg/s" 15
if has_leg always; then
  P99_DIRECT=$(get direct-paced p99_us); P99_MUX=$(get smppmux-paced p99_us)
  ADDED=$(awk -v m="$P99_MUX" -v d="$P99_DIRECT" 'BEGIN { printf "%+.3f", (m - d) / 1000 }')
  target "added submit_sm_resp p99 at $RATE msg/s" "<= 1 ms" "$(judge "$ADDED" "<=" 1)" \
    "$P99_MUX - $P99_DIRECT µs = $ADDED ms"
  DIRECT_RATE=$(get direct msg_per_s); MUX_RATE=$(get smppmux msg_per_s)
  RATIO=$(awk -v m="$MUX_RATE" -v d="$DIRECT_RATE" 'BEGIN { printf "%.3f", m / d }')
  target "throughput, through smppmux / direct" ">= 0.6" "$(judge "$RATIO" ">=" 0.6)" \
    "$MUX_RATE / $DIRECT_RATE msg/s = $RATIO"
else
  target "added submit_sm_resp p99 at $RATE msg/s" "<= 1 ms" SKIP "not run (BENCH_SYNC=$BENCH_SYNC)"
  target "throughput, through smppmux / direct" ">= 0.6" SKIP "not run (BENCH_SYNC=$BENCH_SYNC)"
fi
if [ "$IDLE_BOUND" -ge 10000 ]; then
  target "RSS with $IDLE_BOUND idle binds" "<= 80 MB" "$(judge "$IDLE_MB" "<=" 80)" "$IDLE_MB MB"
else
  target "RSS with $IDLE_BOUND idle binds" "<= 80 MB" SKIP "$IDLE_MB MB; the target is for 10000 binds"
fi
echo "  smppmux, store.sync: interval"
cpu_target smppmux-interval "CPU per message, full speed" 3
cpu_target smppmux-interval-paced "CPU per message at $RATE msg/s" 10
# The floor: what a plain Go TCP relay costs on the same traffic, beside
# smppmux (store.sync: always) in this run.
if [ -f "$DIR/run-smppmux.sum" ]; then
  MUX_LINE="smppmux $(get smppmux cpu_us_per_msg) / $(get smppmux-paced cpu_us_per_msg) µs, ratio $RATIO"
else
  MUX_LINE="smppmux not run"
fi
RELAY_RATIO=$(awk -v m="$(get relay msg_per_s)" -v d="$(get direct msg_per_s)" 'BEGIN { printf "%.3f", m / d }')
echo "  plain TCP relay, for scale: CPU per message full speed / @$RATE msg/s" \
  "$(get relay cpu_us_per_msg) / $(get relay-paced cpu_us_per_msg) µs, throughput / direct $RELAY_RATIO ($MUX_LINE)"
