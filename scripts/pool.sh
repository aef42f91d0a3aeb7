#!/usr/bin/env bash
# Start one pool of Dramatiq workers: PROCESSES processes of THREADS threads on QUEUES, each
# process in its own restart loop (scripts/supervise.sh), so one process leaving (its memory
# ceiling, its task count, a crash) restarts alone instead of taking its pool down. Each pool
# has its own temporary folder (GDAL and Python scratch files), so two pools behave like two
# hosts; the queues and the database are what they share.
#
# Usage: scripts/pool.sh NAME [options]   (SIGTERM/SIGINT stop every process of the pool)
#   --queues "q1 q2"      queues to consume (default: all of them but long)
#   --processes N         worker processes (default 2)
#   --threads N           threads per process (default 4)
#   --max-rss-mb N        a process leaves after the task that took it past N MiB resident (0: never)
#   --max-tasks N         a process leaves after N tasks (0: never)
#   --gdal-cachemax MB    GDAL block cache per process (default 256)
#   --prefetch N          messages each process takes at once per queue (0: Dramatiq's 2 x threads)
#   --tmp DIR             temporary folder (default .cache/pools/NAME/tmp)
# The environment (database, broker, settings module) is the caller's.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
name="${1:?usage: scripts/pool.sh NAME [--queues ...] [--processes N] ...}"
shift
queues="" processes=2 threads=4 max_rss_mb=0 max_tasks=0 gdal_cachemax=256 prefetch="" tmp=""
while [ $# -gt 0 ]; do
  case "$1" in
    --queues) queues="$2" ;;
    --processes) processes="$2" ;;
    --threads) threads="$2" ;;
    --max-rss-mb) max_rss_mb="$2" ;;
    --max-tasks) max_tasks="$2" ;;
    --gdal-cachemax) gdal_cachemax="$2" ;;
    --prefetch) prefetch="$2" ;;
    --tmp) tmp="$2" ;;
    *) echo "pool.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
if [ -z "$queues" ]; then
  queues="$("$PY" manage.py worker_queues --except long | tr '\n' ' ')"
fi
tmp="${tmp:-$ROOT/.cache/pools/$name/tmp}"
mkdir -p "$tmp"

export TMPDIR="$tmp" CPL_TMPDIR="$tmp" GDAL_CACHEMAX="$gdal_cachemax"
export GEOPLATFORM_WORKER_POOL="$name" GEOPLATFORM_WORKER_MAX_RSS_MB="$max_rss_mb" GEOPLATFORM_WORKER_MAX_TASKS="$max_tasks"
# glibc gives each thread its own malloc arena by default (up to 8 x cores); memory freed in
# one is not reused by another, so a threaded worker's footprint only grows.
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
if [ -n "$prefetch" ]; then export dramatiq_queue_prefetch="$prefetch"; fi
log "pool $name: $processes x $threads threads on [$queues], ceiling ${max_rss_mb} MiB / ${max_tasks} tasks, GDAL_CACHEMAX $gdal_cachemax, tmp $tmp"

pids=()
stop() { kill -TERM "${pids[@]}" 2>/dev/null; wait 2>/dev/null; exit 0; }
trap stop TERM INT
for ((i = 1; i <= processes; i++)); do
  # shellcheck disable=SC2086  # queues: one word each
  "$ROOT/scripts/supervise.sh" "worker $name-$i" "$PY" manage.py rundramatiq --processes 1 --threads "$threads" \
    --queues $queues &
  pids+=($!)
done
wait
