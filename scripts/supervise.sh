#!/usr/bin/env bash
# Keep one platform process running: start it again whenever it exits, waiting longer after
# each quick exit (1 s, 2 s, 4 s ... 60 s; back to 1 s once it has run for a minute).
# `make run` runs the worker and the janitor through this, so one of them crashing (a database
# or broker outage, a bug) neither stops the whole platform nor leaves it without that process.
# Usage: scripts/supervise.sh NAME COMMAND [ARGS...]   (SIGTERM/SIGINT stop it and its child)
set -uo pipefail
name="$1"
shift
first_ms="${GEOPLATFORM_RESTART_DELAY_MS:-1000}"
max_ms=60000
child=0

stop() {
  if [ "$child" -gt 0 ]; then
    kill -TERM "$child" 2>/dev/null
    wait "$child" 2>/dev/null
  fi
  exit 0
}
trap stop TERM INT

delay_ms="$first_ms"
while true; do
  started=$SECONDS
  "$@" &
  child=$!
  wait "$child"
  status=$?
  child=0
  if ((SECONDS - started >= 60)); then delay_ms="$first_ms"; fi
  printf '\033[1;33m==>\033[0m %s exited (status %s); starting it again in %d ms\n' "$name" "$status" "$delay_ms" >&2
  # `sleep & wait`: a signal interrupts the wait at once (a foreground sleep would delay it).
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))" &
  child=$!
  wait "$child"
  child=0
  delay_ms=$((delay_ms * 2 > max_ms ? max_ms : delay_ms * 2))
done
