#!/usr/bin/env bash
# Run one benchmark from bench/ after the usual set-up: scripts/bench.sh jobs_engine [args]
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
"$ROOT/scripts/setup.sh" test
"$ROOT/scripts/services.sh" run
mkdir -p "$ROOT/bench/results"  # not in git; benchmarks write their JSON results there
name="$1"; shift
exec "$PY" "bench/$name.py" "$@"
