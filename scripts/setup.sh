#!/usr/bin/env bash
# Set up everything geogrid needs on a Debian machine with Python 3.11; safe to run again.
#   - Debian packages: PostgreSQL 15 + PostGIS 3, Chromium + ChromeDriver (browser tests), Node.js/npm
#   - a virtual environment in .venv with geogrid and all its extras
#   - the Leaflet assets that map pages serve themselves (from npm, copied into geogrid/static/vendor)
set -euo pipefail
cd "$(dirname "$0")/.."

# fonts-wqy-zenhei: Chinese labels in screenshots and rendered map images.
APT_PACKAGES=(postgresql-15 postgresql-15-postgis-3 chromium chromium-driver fonts-wqy-zenhei nodejs npm wrk)

# gdal-bin: ogrinfo/ogr2ogr, GDAL's OGC API client, in the standard-client tests.
APT_PACKAGES+=(gdal-bin)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  # npm/node may come from elsewhere (e.g. NodeSource); only ask apt when the command is absent.
  case "$pkg" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
# Reinstall only when the dependency list changed since the last setup.
stamp=.venv/.geogrid-setup
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "==> installing geogrid and its extras into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[all]"
  echo "$want" > "$stamp"
fi

if [ -f package.json ]; then
  lock=node_modules/.geogrid-setup
  want=$(cat package.json package-lock.json 2>/dev/null | sha256sum | cut -d' ' -f1)
  if [ ! -f "$lock" ] || [ "$(cat "$lock")" != "$want" ]; then
    echo "==> installing map assets from npm"
    if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error >/dev/null; else npm install --no-audit --no-fund --loglevel=error; fi
    echo "$want" > "$lock"
  fi
fi
# Copy the map assets into geogrid/static/vendor, which the maps embed or the API serves.
.venv/bin/python -m geogrid.assets vendor --node-modules node_modules >/dev/null
echo "==> setup done"
