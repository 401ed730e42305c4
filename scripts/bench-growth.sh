#!/usr/bin/env bash
# make bench-growth: whether smppmux's cost stays flat as its Pebble store
# fills with outstanding mappings (messages still waiting for their
# receipt).
#
#   1. Two smppmux, each with store.sync: always and a state_dir of its
#      own, bound to one simulated SMSC: "empty" and "filled".
#   2. The filled one gets BENCH_GROWTH_N (10,000,000) messages without
#      registered delivery, from BENCH_GROWTH_FILL_CLIENTS (4) binds in
#      parallel at full speed: each mapping is written and synced as any
#      other, and no receipt ever comes for it, so it stays outstanding
#      for its mapping_ttl (72h). Then it is stopped (SIGTERM; the time
#      to exit is the shutdown figure), its state_dir measured (store
#      bytes per mapping), and started again (the time to its admin
#      /readyz answering 200 is the startup figure). Then the script waits
#      until it is idle (under 5% of a CPU for 3 s running, at most
#      BENCH_GROWTH_SETTLE, 300 s): a fill at full speed leaves compactions
#      behind that a store filled over hours has long done.
#   3. BENCH_GROWTH_ROUNDS (2) rounds of the same measured traffic, empty
#      then filled: a warm-up of BENCH_WARMUP (10,000), then BENCH_N
#      (100,000) messages with receipts over a window of BENCH_WINDOW
#      (100), as scripts/bench.sh. CPU per message (utime+stime of the
#      process) and submit_sm_resp p99, filled / empty per round. With
#      BENCH_GROWTH_PPROF=DIR, a CPU profile of each measured run is
#      written there (BENCH_GROWTH_PPROF_SECONDS, 5 s, from its start).
#   4. Reclaim: a third smppmux, with resend_window
#      BENCH_GROWTH_RECLAIM_WINDOW (30s), gets BENCH_GROWTH_RECLAIM_N
#      (1,000,000, at most N) messages with receipts (each final receipt
#      ends its mapping; its mark stays for the window), then, started
#      again with mapping_ttl BENCH_GROWTH_RECLAIM_TTL (1m), as many
#      without (their mappings stay for the TTL).
#      Once the last of each is due to go, the sstables are measured every
#      5 s until they have given back 90% of what those messages took: the
#      time that took, target 5 minutes, waiting up to
#      BENCH_GROWTH_RECLAIM_WAIT (10m). BENCH_GROWTH_RECLAIM_N=0 leaves
#      this leg out.
#
# It ends with each figure against its target, PASS or MISS. A miss does
# not fail the script; a broken run does. Expects ./bin/smppmux (make
# build; BENCH_BIN names another binary). Everything listens on 127.0.0.1
# from BENCH_GROWTH_PORT (12990) on: the empty smppmux and its admin
# listener, +0 and +1; the filled one, +2 and +3; the simulated SMSC +4;
# the reclaim leg's smppmux, +5 and +6. State under BENCH_STATE_DIR (a
# temporary directory, removed after a run that passed).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BENCH_BIN:-./bin/smppmux}
PORT=${BENCH_GROWTH_PORT:-12990}
N=${BENCH_GROWTH_N:-10000000}
FILL_CLIENTS=${BENCH_GROWTH_FILL_CLIENTS:-4}
ROUNDS=${BENCH_GROWTH_ROUNDS:-2}
RUN_N=${BENCH_N:-100000}
WINDOW=${BENCH_WINDOW:-100}
WARMUP=${BENCH_WARMUP:-10000}
RECLAIM_N=${BENCH_GROWTH_RECLAIM_N:-1000000}
[ "$RECLAIM_N" -le "$N" ] || RECLAIM_N=$N
RECLAIM_TTL=${BENCH_GROWTH_RECLAIM_TTL:-1m}
RECLAIM_WINDOW=${BENCH_GROWTH_RECLAIM_WINDOW:-30s}
RECLAIM_WAIT=${BENCH_GROWTH_RECLAIM_WAIT:-10m}
PPROF=${BENCH_GROWTH_PPROF:-}
PPROF_SECONDS=${BENCH_GROWTH_PPROF_SECONDS:-5}
SETTLE=${BENCH_GROWTH_SETTLE:-300}
CLK_TCK=$(getconf CLK_TCK)
SIM_PORT=$((PORT + 4))

if [ ! -x "$BIN" ]; then
  echo "$BIN not found: run make build first" >&2; exit 1
fi
DIR=$(mktemp -d -t smppmux-growth.XXXXXX)
STATE_ROOT=${BENCH_STATE_DIR:-$DIR/state}
[ -z "$PPROF" ] || mkdir -p "$PPROF"
declare -A PID=() # background processes by name (start and stop: scripts/lib.sh)
on_exit() {
  local rc=$? name
  for name in "${!PID[@]}"; do stop "$name" || true; done
  if [ "$rc" -eq 0 ]; then rm -rf "$DIR"; else echo "bench-growth failed: logs in $DIR" >&2; fi
}
trap on_exit EXIT

. scripts/lib.sh

# now: seconds since the epoch, to the microsecond.
now() { date +%s.%6N; }
# since T: seconds from T to now, to the millisecond.
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
# bytes DIR: the bytes of the files under DIR.
bytes() { du -sb "$1" | cut -f1; }
# tables DIR: the bytes of the sstables under DIR, the store's data
# without the WAL (as large as a memtable or two, whatever the data).
tables() { find "$1" -name '*.sst' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
# duration D: Go's duration D (as 90s, 1m, 1m30s) in seconds.
duration() {
  awk -v d="$1" 'BEGIN { s = 0; while (match(d, /^[0-9.]+(h|ms|m|s)/)) { t = substr(d, 1, RLENGTH); d = substr(d, RLENGTH + 1)
    v = t + 0; u = t; sub(/^[0-9.]+/, "", u); s += u == "h" ? v * 3600 : u == "m" ? v * 60 : u == "ms" ? v / 1000 : v }
    if (d != "") exit 1; print s }'
}

# config NAME PORT TTL WINDOW: smppmux's configuration for instance NAME,
# with mapping_ttl TTL and resend_window WINDOW.
config() {
  cat > "$DIR/$1.yaml" <<YAML
listen: {smpp: "127.0.0.1:$2", admin: "127.0.0.1:$(($2 + 1))"}
state_dir: $STATE_ROOT/$1
log: {level: info, format: console}
clients:
  - {system_id: shop, password: secret, window: $WINDOW, max_binds: $((FILL_CLIENTS + 2))}
upstreams:
  - {name: sim, addr: "127.0.0.1:$SIM_PORT", system_id: mux, password: pw, bind: trx, binds: 1, window: $((WINDOW * FILL_CLIENTS))}
groups:
  - {name: main, members: [{upstream: sim}]}
routes:
  - {group: main}
receipts: {mapping_ttl: $3, resend_window: $4}
store: {sync: always}
YAML
}
declare -A MUX_PORT=()
# ready PORT: whether the admin listener on PORT answers /readyz with 200.
ready() { curl -sf -o /dev/null "http://127.0.0.1:$1/readyz"; }
# start_mux NAME: start instance NAME and wait until it is ready; the
# seconds that took in STARTUP, its pid in MUX_PID.
start_mux() {
  local port=${MUX_PORT[$1]} t0
  mkdir -p "$STATE_ROOT/$1"
  t0=$(now)
  start "smppmux-$1" "$BIN" -config "$DIR/$1.yaml"
  MUX_PID=${PID[smppmux-$1]}
  for _ in $(seq 1 3000); do
    ready $((port + 1)) && listening "$port" && break
    kill -0 "$MUX_PID" 2> /dev/null || { tail -20 "$DIR/smppmux-$1.log" >&2; echo "smppmux $1 died" >&2; exit 1; }
    sleep 0.02
  done
  ready $((port + 1)) || { echo "smppmux $1 not ready after 60 s" >&2; exit 1; }
  STARTUP=$(since "$t0")
}
# stop_mux NAME: SIGTERM to instance NAME; the seconds to its exit in
# SHUTDOWN. Fails the bench unless it exits 0.
stop_mux() {
  local rc=0 t0
  t0=$(now)
  stop "smppmux-$1" || rc=$?
  SHUTDOWN=$(since "$t0")
  if [ "$rc" -ne 0 ]; then
    tail -20 "$DIR/smppmux-$1.log" >&2; echo "smppmux $1 exited $rc" >&2; exit 1
  fi
}
pid_of() { echo "${PID[smppmux-$1]}"; }
# ticks PID: utime+stime of process PID, in clock ticks.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# settle NAME: wait until instance NAME has used less than a twentieth of
# a CPU over each of 3 seconds running (the compactions a fill at full
# speed leaves behind, which a store filled over hours has long done), for
# up to SETTLE seconds; the seconds it took in SETTLED.
settle() {
  local pid t0 quiet=0 a b
  pid=$(pid_of "$1"); t0=$(now)
  a=$(ticks "$pid")
  while [ "$quiet" -lt 3 ] && awk -v t="$(since "$t0")" -v m="$SETTLE" 'BEGIN { exit !(t < m) }'; do
    sleep 1
    b=$(ticks "$pid")
    if [ $((b - a)) -le $((CLK_TCK / 20)) ]; then quiet=$((quiet + 1)); else quiet=0; fi
    a=$b
  done
  SETTLED=$(since "$t0")
}

# lsm PORT: the Pebble store's compacted bytes so far and level 0's
# tables, from the /metrics of the smppmux whose SMPP port is PORT.
lsm() {
  curl -sf "http://127.0.0.1:$(($1 + 1))/metrics" | awk '
    $1 == "smppmux_store_compacted_bytes_total" { c = $2 }
    $1 == "smppmux_store_l0_tables" { l = $2 }
    END { printf "%.0f %.0f\n", c, l }'
}

# run NAME INSTANCE [bench flags]: one bench run against an instance,
# measuring its process; output in $DIR/run-NAME.log, summary line in
# $DIR/run-NAME.sum.
run() {
  local name=$1 inst=$2; shift 2
  local port=${MUX_PORT[$inst]} pid prof=
  pid=$(pid_of "$inst")
  if [ -n "$PPROF" ] && [[ $name != warm-* ]]; then
    curl -sf -o "$PPROF/$name.pprof" "http://127.0.0.1:$((port + 1))/debug/pprof/profile?seconds=$PPROF_SECONDS" &
    prof=$!
  fi
  local before after
  before=$(lsm "$port")
  if ! "$BIN" bench -addr "127.0.0.1:$port" -window "$WINDOW" -cpu-pid "$pid" -clk-tck "$CLK_TCK" \
      -label "$name" -summary -strict -receipt-timeout 60s "$@" > "$DIR/run-$name.log" 2>&1; then
    cat "$DIR/run-$name.log" >&2; echo "run $name failed" >&2; return 1
  fi
  [ -z "$prof" ] || wait "$prof" || echo "   the profile of $name failed" >&2
  grep '^summary ' "$DIR/run-$name.log" > "$DIR/run-$name.sum"
  [[ $name == warm-* ]] && return 0
  after=$(lsm "$port")
  printf '   %-12s %7s msg/s, p50 %sµs, p99 %sµs, %s µs/msg CPU; compactions wrote %s MiB, L0 %s tables before\n' \
    "$name" "$(get "$name" msg_per_s)" "$(get "$name" p50_us)" "$(get "$name" p99_us)" "$(get "$name" cpu_us_per_msg)" \
    "$(awk -v a="${after% *}" -v b="${before% *}" 'BEGIN { printf "%.1f", (a - b) / 1048576 }')" "${before#* }"
}
get() { tr ' ' '\n' < "$DIR/run-$1.sum" | sed -n "s/^$2=//p"; }

# fill INSTANCE COUNT: COUNT messages without registered delivery, from
# FILL_CLIENTS binds in parallel, as fast as they go; the seconds in FILL.
fill() {
  local inst=$1 count=$2 port=${MUX_PORT[$1]} i per rest pids=() t0 rc=0
  per=$((count / FILL_CLIENTS)); rest=$((count - per * FILL_CLIENTS))
  t0=$(now)
  for i in $(seq 1 "$FILL_CLIENTS"); do
    "$BIN" bench -addr "127.0.0.1:$port" -window "$WINDOW" -receipts=false -summary -strict -label "fill-$inst-$i" \
      -n $((per + (i == 1 ? rest : 0))) > "$DIR/fill-$inst-$i.log" 2>&1 &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || rc=$?; done
  FILL=$(since "$t0")
  if [ "$rc" -ne 0 ]; then cat "$DIR"/fill-"$inst"-*.log >&2; echo "filling $inst failed" >&2; exit 1; fi
  local acc
  acc=$(cat "$DIR"/fill-"$inst"-*.log | tr ' ' '\n' | sed -n 's/^accepted=//p' | awk '{ s += $1 } END { print s }')
  [ "$acc" -eq "$count" ] || { echo "filling $inst: $acc of $count accepted" >&2; exit 1; }
}

MUX_PORT[empty]=$PORT; MUX_PORT[filled]=$((PORT + 2)); MUX_PORT[reclaim]=$((PORT + 5))
config empty "$PORT" 72h 1h
config filled $((PORT + 2)) 72h 1h
config reclaim $((PORT + 5)) "$RECLAIM_TTL" "$RECLAIM_WINDOW"
for inst in empty filled reclaim; do "$BIN" check-config "$DIR/$inst.yaml" > /dev/null; done

echo "== setup (logs in $DIR)"
echo "   $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) before the runs"
mkdir -p "$STATE_ROOT"
echo "   state_dirs under $STATE_ROOT on $(df -PT "$STATE_ROOT" | awk 'NR == 2 {print $2}')"
start sim "$BIN" sim -listen "127.0.0.1:$SIM_PORT"
wait_port "$SIM_PORT"
start_mux empty
echo "   empty store: ready in ${STARTUP}s"

echo "== filling: $N messages without receipts, $FILL_CLIENTS binds in parallel"
start_mux filled
fill filled "$N"
FILL_BYTES=$(bytes "$STATE_ROOT/filled")
echo "   filled in ${FILL}s ($(awk -v n="$N" -v t="$FILL" 'BEGIN { printf "%.0f", n / t }') msg/s), state_dir $(mb "$FILL_BYTES") MiB"
stop_mux filled
SHUTDOWN_FILLED=$SHUTDOWN
echo "   shutdown right after the fill: ${SHUTDOWN}s"
STORE_BYTES=$(bytes "$STATE_ROOT/filled")
start_mux filled
STARTUP_FILLED=$STARTUP
echo "   state_dir $(mb "$STORE_BYTES") MiB after the shutdown; started again, ready in ${STARTUP}s"
settle filled
echo "   then busy for ${SETTLED}s more (the compactions the fill left; measured from here on)"

echo "== $ROUNDS rounds: warm-up $WARMUP, then $RUN_N messages with receipts, window $WINDOW; empty, then filled"
for r in $(seq 1 "$ROUNDS"); do
  for inst in empty filled; do
    run "warm-$inst-$r" "$inst" -n "$WARMUP"
    run "$inst-$r" "$inst" -n "$RUN_N"
  done
done
stop_mux filled
SHUTDOWN_AFTER=$SHUTDOWN
echo "   filled store's shutdown after the runs: ${SHUTDOWN}s"
stop_mux empty

# reclaim LEG RECEIPTS: RECLAIM_N messages to the reclaim instance, with
# receipts (RECEIPTS=true: each message's final receipt ends its mapping,
# its mark stays for resend_window) or without (its mapping stays for
# mapping_ttl); once the last is due to go, its sstables are measured
# every 5 s until they have given back 90% of what the messages took.
# Sets RECLAIM_<LEG> to the seconds that took (-1: not within
# RECLAIM_WAIT) and RECLAIM_<LEG>_TEXT to what was seen.
reclaim() {
  local leg=$1 receipts=$2 base peak goal due last t wait_s result=-1 keep
  base=$(tables "$STATE_ROOT/reclaim")
  if [ "$receipts" = true ]; then
    keep=$RECLAIM_WINDOW
    # One bind: a client's receipts go to any of its binds.
    local t0
    t0=$(now)
    "$BIN" bench -addr "127.0.0.1:${MUX_PORT[reclaim]}" -window "$WINDOW" -summary -strict -receipt-timeout 60s \
      -label receipts -n "$RECLAIM_N" > "$DIR/receipts.log" 2>&1 ||
      { cat "$DIR/receipts.log" >&2; echo "the receipts leg failed" >&2; exit 1; }
    FILL=$(since "$t0")
  else
    keep=$RECLAIM_TTL
    fill reclaim "$RECLAIM_N"
  fi
  peak=$(tables "$STATE_ROOT/reclaim")
  due=$(awk -v t="$(now)" -v k="$(duration "$keep")" 'BEGIN { printf "%.3f", t + k }')
  echo "   $leg: $RECLAIM_N messages in ${FILL}s; sstables $(mb "$base") -> $(mb "$peak") MiB (state_dir" \
    "$(mb "$(bytes "$STATE_ROOT/reclaim")") MiB); the last of them goes $keep after the last was sent"
  goal=$(awk -v b="$base" -v p="$peak" 'BEGIN { printf "%.0f", b + (p - b) / 10 }')
  while awk -v e="$due" -v t="$(now)" 'BEGIN { exit !(t < e) }'; do sleep 1; done
  wait_s=$(duration "$RECLAIM_WAIT")
  while :; do
    last=$(tables "$STATE_ROOT/reclaim")
    t=$(since "$due")
    if [ "$last" -le "$goal" ]; then result=$t; break; fi
    awk -v t="$t" -v w="$wait_s" 'BEGIN { exit !(t < w) }' || break
    echo "   ${t}s after: sstables $(mb "$last") MiB"
    sleep 5
  done
  if [ "$result" = -1 ]; then
    printf -v "RECLAIM_${leg^^}_TEXT" '%s' "sstables $(mb "$peak") -> $(mb "$last") MiB after $RECLAIM_WAIT (goal $(mb "$goal"))"
  else
    printf -v "RECLAIM_${leg^^}_TEXT" '%s' "${result}s: sstables $(mb "$peak") -> $(mb "$last") MiB (goal $(mb "$goal"))"
  fi
  printf -v "RECLAIM_${leg^^}" '%s' "$result"
  echo "   $leg: $(eval echo "\$RECLAIM_${leg^^}_TEXT")"
}

RECLAIM_RECEIPTS=skip; RECLAIM_EXPIRED=skip
if [ "$RECLAIM_N" -gt 0 ]; then
  echo "== reclaim: $RECLAIM_N messages with receipts (resend_window $RECLAIM_WINDOW), then $RECLAIM_N without (mapping_ttl $RECLAIM_TTL)"
  # The receipts leg with the usual mapping_ttl: what the receipts do not
  # take away stays.
  config reclaim $((PORT + 5)) 72h "$RECLAIM_WINDOW"
  start_mux reclaim
  reclaim receipts true
  stop_mux reclaim
  config reclaim $((PORT + 5)) "$RECLAIM_TTL" "$RECLAIM_WINDOW"
  start_mux reclaim
  reclaim expired false
  stop_mux reclaim
fi
stop sim || true

pad() { printf '%s%*s' "$2" $(($1 > ${#2} ? $1 - ${#2} : 0)) ''; }
target() { printf '  %s %s %-7s %s\n' "$(pad 46 "$1")" "$(pad 9 "$2")" "$3" "$4"; }
judge() {
  awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN { ok = op == "<=" ? v <= l : v >= l; print ok ? "PASS" : "MISS" }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

echo
echo "== targets ($(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) after the runs; N = $N)"
printf '  %-46s %-9s %-7s %s\n' figure target verdict measured
for r in $(seq 1 "$ROUNDS"); do
  E=$(get "empty-$r" cpu_us_per_msg); F=$(get "filled-$r" cpu_us_per_msg); R=$(ratio "$F" "$E")
  target "CPU per message, filled / empty, round $r" "<= 1.2" "$(judge "$R" "<=" 1.2)" "$F / $E µs = $R"
  E=$(get "empty-$r" p99_us); F=$(get "filled-$r" p99_us); R=$(ratio "$F" "$E")
  target "submit_sm_resp p99, filled / empty, round $r" "<= 1.2" "$(judge "$R" "<=" 1.2)" "$F / $E µs = $R"
done
BPM=$(awk -v b="$STORE_BYTES" -v n="$N" 'BEGIN { printf "%.1f", b / n }')
target "store bytes per outstanding mapping" "<= 100" "$(judge "$BPM" "<=" 100)" "$STORE_BYTES B / $N = $BPM"
target "startup with $N mappings, to /readyz" "<= 5 s" "$(judge "$STARTUP_FILLED" "<=" 5)" "${STARTUP_FILLED}s"
target "shutdown right after the fill" "<= 5 s" "$(judge "$SHUTDOWN_FILLED" "<=" 5)" "${SHUTDOWN_FILLED}s"
target "shutdown after the measured runs" "<= 5 s" "$(judge "$SHUTDOWN_AFTER" "<=" 5)" "${SHUTDOWN_AFTER}s"
# reclaim_target LEG LABEL: the reclaim figure of LEG.
reclaim_target() {
  local v text
  v=$(eval echo "\$RECLAIM_${1^^}"); text=$(eval echo "\${RECLAIM_${1^^}_TEXT:-}")
  case $v in
    skip) target "$2" "<= 300 s" SKIP "not run (BENCH_GROWTH_RECLAIM_N=0)" ;;
    -1) target "$2" "<= 300 s" MISS "$text" ;;
    *) target "$2" "<= 300 s" "$(judge "$v" "<=" 300)" "$text" ;;
  esac
}
reclaim_target receipts "reclaim after final receipts (+window)"
reclaim_target expired "reclaim after the TTL"
