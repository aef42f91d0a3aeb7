#!/usr/bin/env bash
# The benchmarks' peers, each in its own venv under .cache/bench-venvs (never .venv): the
# recipes of the bench/*.py docstrings, pinned. Idempotent: a venv whose peer imports is kept;
# a half-made one is made again. `scripts/bench-peers.sh [name...]` (default: all).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
VENVS="$ROOT/.cache/bench-venvs"
PYTHON="${BENCH_PEERS_PYTHON:-python3.11}"

declare -A PACKAGES=(
  [tipg]="tipg==1.6.1 uvicorn[standard]==0.34.0"
  [stac-fastapi-pgstac]="stac-fastapi-pgstac==7.2.0 uvicorn[standard]==0.34.0"
  [titiler]="titiler.application==2.4.0 uvicorn[standard]==0.34.0"
  [titiler-pgstac]="titiler.pgstac[psycopg-binary]==3.2.0 uvicorn[standard]==0.34.0"
  [climate-peers]="titiler.xarray==2.4.0 xpublish==0.5.2 xpublish-edr==0.11.1 uvicorn[standard]==0.34.0 zarr==3.1.6 netCDF4 h5netcdf cftime"
)
# What must import for the venv to count as made.
declare -A CHECK=(
  [tipg]="tipg.main"
  [stac-fastapi-pgstac]="stac_fastapi.pgstac.app"
  [titiler]="titiler.application.main"
  [titiler-pgstac]="titiler.pgstac.main"
  [climate-peers]="titiler.xarray, xpublish, xpublish_edr"
)
ORDER=(tipg stac-fastapi-pgstac titiler titiler-pgstac climate-peers)

names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${ORDER[@]}")
mkdir -p "$VENVS"
for name in "${names[@]}"; do
  [ -n "${PACKAGES[$name]:-}" ] || { echo "unknown peer $name (known: ${ORDER[*]})" >&2; exit 2; }
  venv="$VENVS/$name"
  # Imports are checked with the env a peer runs in (no DATABASE_URL needed to import).
  if [ -x "$venv/bin/python" ] && [ -x "$venv/bin/uvicorn" ] && \
     "$venv/bin/python" -c "import ${CHECK[$name]}" >/dev/null 2>&1; then
    log "peer $name: ready ($venv)"
    continue
  fi
  log "peer $name: installing ${PACKAGES[$name]}"
  rm -rf "$venv.tmp"
  "$PYTHON" -m venv "$venv.tmp"
  # shellcheck disable=SC2086  # the package list is split on purpose
  "$venv.tmp/bin/pip" install --quiet --disable-pip-version-check ${PACKAGES[$name]}
  # Scripts in a venv name their interpreter by absolute path: build in place of the final one.
  rm -rf "$venv"
  mv "$venv.tmp" "$venv"
  # Re-point the moved venv's scripts (their shebangs name venv.tmp).
  grep -rlI --null "$venv.tmp" "$venv/bin" | xargs -0 -r sed -i "s#$venv.tmp#$venv#g"
  "$venv/bin/python" -c "import ${CHECK[$name]}" >/dev/null
  log "peer $name: ready"
done
