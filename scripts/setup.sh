#!/usr/bin/env bash
# Install everything GeoPlatform needs on Debian 12; safe to rerun.
#   scripts/setup.sh          runtime (apt packages, venv, base requirements, database)
#   scripts/setup.sh test     also test tools and the Azurite emulator
source "$(dirname "$0")/lib.sh"
MODE="${1:-run}"

APT_PACKAGES=(postgresql-15-postgis-3 libgdal32 gdal-bin)
# Tests also drive the admin in a real headless browser.
[ "$MODE" = test ] && APT_PACKAGES+=(chromium)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x "$PY" ]; then
  log "creating the virtualenv in .venv"
  python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
fi
REQ="$ROOT/requirements/base.txt"
[ "$MODE" = test ] && REQ="$ROOT/requirements/test.txt"
stamp="$VENV/.installed-$(cat "$ROOT"/requirements/*.txt | sha256sum | cut -c1-16)-$MODE"
if [ ! -f "$stamp" ]; then
  log "pip: installing $(basename "$REQ")"
  "$PY" -m pip install -q --upgrade pip >/dev/null
  "$PY" -m pip install -q -r "$REQ"
  touch "$stamp"
fi

if [ "$MODE" = test ] && [ ! -x "$AZURITE_DIR/node_modules/.bin/azurite-blob" ]; then
  log "npm: installing azurite@$AZURITE_VERSION"
  mkdir -p "$AZURITE_DIR"
  npm install --prefix "$AZURITE_DIR" --no-audit --no-fund --silent "azurite@$AZURITE_VERSION" >/dev/null
fi
PLAYWRIGHT_DIR="$ROOT/.cache/playwright"
if [ "$MODE" = test ] && [ ! -d "$PLAYWRIGHT_DIR/node_modules/playwright-core" ]; then
  log "npm: installing playwright-core (drives the system chromium; no browser download)"
  mkdir -p "$PLAYWRIGHT_DIR"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$PLAYWRIGHT_DIR" --no-audit --no-fund --silent \
    playwright-core@1.65.1 >/dev/null
fi
MAPLIBRE_DIR="$ROOT/.cache/maplibre"
if [ "$MODE" = test ] && [ ! -x "$MAPLIBRE_DIR/node_modules/.bin/gl-style-validate" ]; then
  log "npm: installing @maplibre/maplibre-gl-style-spec (gl-style-validate for the styles tests)"
  mkdir -p "$MAPLIBRE_DIR"
  npm install --prefix "$MAPLIBRE_DIR" --no-audit --no-fund --silent @maplibre/maplibre-gl-style-spec@26.6.0 >/dev/null
fi
# The OGC API Features test suite pins pytest 8 / httpx 0.27: its own venv (tests/features/test_ogctests.py).
OGCTESTS_VENV="$ROOT/.cache/venvs/ogctests"
if [ "$MODE" = test ] && ! cmp -s "$ROOT/requirements/ogctests.txt" "$OGCTESTS_VENV/.requirements"; then
  log "pip: the ogctests venv (.cache/venvs/ogctests)"
  python3.11 -m venv "$OGCTESTS_VENV" 2>/dev/null || python3 -m venv "$OGCTESTS_VENV"
  "$OGCTESTS_VENV/bin/python" -m pip install -q -r "$ROOT/requirements/ogctests.txt"
  cp "$ROOT/requirements/ogctests.txt" "$OGCTESTS_VENV/.requirements"
fi
log "setup done"
