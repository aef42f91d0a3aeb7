#!/usr/bin/env bash
# Install everything GeoPlatform needs on Debian 12; safe to rerun.
#   scripts/setup.sh          runtime (apt packages, venv, base requirements, database)
#   scripts/setup.sh test     also test tools and the Azurite emulator
source "$(dirname "$0")/lib.sh"
MODE="${1:-run}"

APT_PACKAGES=(postgresql-15-postgis-3 libgdal32 gdal-bin)
# Tests also drive the admin in a real headless browser.
[ "$MODE" = test ] && APT_PACKAGES+=(chromium)
# The four installs below are independent (the wheels bundle their own GDAL/PROJ, so pip does
# not wait for apt): they run side by side, which saves minutes on a fresh machine (CI), and
# setup fails if any of them fails.
install_apt() {
  local missing=() pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt: installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

install_venv() {
  if [ ! -x "$PY" ]; then
    log "creating the virtualenv in .venv"
    python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
  fi
  local req="$ROOT/requirements/base.txt"
  [ "$MODE" = test ] && req="$ROOT/requirements/test.txt"
  local stamp
  stamp="$VENV/.installed-$(cat "$ROOT"/requirements/*.txt | sha256sum | cut -c1-16)-$MODE"
  if [ ! -f "$stamp" ]; then
    log "pip: installing $(basename "$req")"
    "$PY" -m pip install -q --upgrade pip >/dev/null
    "$PY" -m pip install -q -r "$req"
    touch "$stamp"
  fi
}

install_node_tools() {
  if [ ! -x "$AZURITE_DIR/node_modules/.bin/azurite-blob" ]; then
    log "npm: installing azurite@$AZURITE_VERSION"
    mkdir -p "$AZURITE_DIR"
    npm install --prefix "$AZURITE_DIR" --no-audit --no-fund --silent "azurite@$AZURITE_VERSION" >/dev/null
  fi
  local playwright_dir="$ROOT/.cache/playwright"
  if [ ! -d "$playwright_dir/node_modules/playwright-core" ]; then
    log "npm: installing playwright-core (drives the system chromium; no browser download)"
    mkdir -p "$playwright_dir"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$playwright_dir" --no-audit --no-fund --silent \
      playwright-core@1.65.1 >/dev/null
  fi
  local maplibre_dir="$ROOT/.cache/maplibre"
  if [ ! -x "$maplibre_dir/node_modules/.bin/gl-style-validate" ]; then
    log "npm: installing @maplibre/maplibre-gl-style-spec (gl-style-validate for the styles tests)"
    mkdir -p "$maplibre_dir"
    npm install --prefix "$maplibre_dir" --no-audit --no-fund --silent @maplibre/maplibre-gl-style-spec@26.6.0 >/dev/null
  fi
}

# The OGC API Features test suite pins pytest 8 / httpx 0.27: its own venv (tests/features/test_ogctests.py).
install_ogctests() {
  local venv="$ROOT/.cache/venvs/ogctests"
  if ! cmp -s "$ROOT/requirements/ogctests.txt" "$venv/.requirements"; then
    log "pip: the ogctests venv (.cache/venvs/ogctests)"
    python3.11 -m venv "$venv" 2>/dev/null || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q -r "$ROOT/requirements/ogctests.txt"
    cp "$ROOT/requirements/ogctests.txt" "$venv/.requirements"
  fi
}

pids=()
install_apt & pids+=($!)
install_venv & pids+=($!)
if [ "$MODE" = test ]; then
  install_node_tools & pids+=($!)
  install_ogctests & pids+=($!)
fi
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
[ "$failed" = 0 ] || { echo "setup failed (see the messages above)" >&2; exit 1; }
log "setup done"
