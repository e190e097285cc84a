#!/usr/bin/env bash
# Fresh machine -> green test suite: system packages for Xvfb + Mesa software
# OpenGL (GUI tests), the Python package with its test extras, the compiled
# extensions and converted weights, then the whole pytest suite.
# Data folder: ../shared/data, or $TRACKER_DATA_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(xvfb xauth libgl1-mesa-dri libegl1 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4
              libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 libxcb-render-util0
              libxcb-image0 libfontconfig1 libdbus-1-3)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
DATA_ARGS=()
[ -n "${TRACKER_DATA_DIR:-}" ] && DATA_ARGS=(--data "$TRACKER_DATA_DIR")
python3 build_ext.py "${DATA_ARGS[@]}"
python3 -m pytest -q "$@"
