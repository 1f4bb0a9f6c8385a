# Sourced by the packaging tests: start_standin STANDIN [ARGS...] starts the local stand-in on an
# ephemeral loopback port and waits until it listens; sets STANDIN_URL and STANDIN_PID.
# stop_standin ends it (call it from an EXIT trap).
start_standin() {
  local log
  log=$(mktemp)
  "$@" >"$log" 2>&1 &
  STANDIN_PID=$!
  local _
  for _ in $(seq 1 300); do  # readiness: the line it prints once it accepts connections
    grep -q '^listening on' "$log" && break
    if ! kill -0 "$STANDIN_PID" 2>/dev/null; then
      echo "the stand-in did not start:" >&2
      cat "$log" >&2
      rm -f "$log"
      return 1
    fi
    sleep 0.1
  done
  STANDIN_URL=$(sed -n 's/^listening on //p' "$log")
  rm -f "$log"
  [ -n "$STANDIN_URL" ] || { echo "the stand-in did not report its address" >&2; return 1; }
}

stop_standin() {
  if [ -n "${STANDIN_PID:-}" ]; then
    kill "$STANDIN_PID" 2>/dev/null || true
    wait "$STANDIN_PID" 2>/dev/null || true  # its status is 143: it was terminated
  fi
  STANDIN_PID=
}
