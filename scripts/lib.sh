# Shell functions the scripts share; sourced, not run.

# listening PORT: whether something listens on 127.0.0.1:PORT.
listening() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }

# await WHAT CMD...: run CMD every 0.1 s until it succeeds, for up to 10 s.
await() {
  local what=$1; shift
  for _ in $(seq 1 100); do "$@" 2> /dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for $what" >&2; return 1
}

# wait_port PORT: wait until something listens on 127.0.0.1:PORT.
wait_port() { await "a listener on 127.0.0.1:$1" listening "$1"; }

# start NAME CMD...: run CMD in the background, its output in $DIR/NAME.log,
# its pid in PID[NAME] (the script declares DIR and the associative array
# PID).
start() { local name=$1; shift; "$@" > "$DIR/$name.log" 2>&1 & PID[$name]=$!; }
# stop NAME: SIGTERM to the process start named NAME, then its exit status.
stop() {
  local pid=${PID[$1]} rc=0
  unset "PID[$1]"
  kill -TERM "$pid" 2> /dev/null || true
  wait "$pid" || rc=$?
  return "$rc"
}
