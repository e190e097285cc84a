#!/usr/bin/env bash
# Fresh machine -> ready to run: the system libraries Qt's window and Mesa OpenGL
# need (Debian/Ubuntu, installed only when missing), the Python package, the
# compiled extensions and the converted weights.
#   bash scripts/setup.sh [--test] [build_ext.py options, e.g. --data DIR]
# --test adds the test extras, Xvfb and desktop-file-validate. Data folder: ../shared/data,
# $TRACKER_DATA_DIR or --data. (Only the package, no checkout: `pip install .`, then
# `tracker-app setup --data DIR`.)
set -euo pipefail
cd "$(dirname "$0")/.."

EXTRAS=setup
APT_PACKAGES=(libgl1-mesa-dri libegl1 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1
              libxcb-shape0 libxcb-xinerama0 libxcb-randr0 libxcb-render-util0 libxcb-image0
              libfontconfig1 libdbus-1-3)
if [ "${1:-}" = "--test" ]; then
  EXTRAS=test
  APT_PACKAGES+=(xvfb xauth desktop-file-utils)
  # Hostile-input tests: GNU time measures a child's own peak memory; unshare (util-linux)
  # gives a child a small tmpfs of its own for the full-disk cases.
  APT_PACKAGES+=(time util-linux)
  # Animation export tests (tests/test_animation_blender.py): Blender loads the glb/pc2
  # headless with its own importers (its glTF importer needs Debian's NumPy), and the
  # Khronos glTF validator runs on Node (installed below from npm).
  APT_PACKAGES+=(blender python3-numpy)
  command -v npm >/dev/null || APT_PACKAGES+=(nodejs npm)
  shift
fi

if command -v dpkg-query >/dev/null && command -v apt-get >/dev/null; then
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
else
  echo "note: not a Debian/Ubuntu system; make sure Qt's xcb libraries and Mesa OpenGL are installed"
fi

# Installs into the python3 on PATH (activate a virtualenv first to keep it apart);
# Debian's own Python refuses pip installs unless told that this is intended.
export PIP_BREAK_SYSTEM_PACKAGES=1
python3 -m pip install --quiet --disable-pip-version-check -e ".[$EXTRAS]"
if [ "$EXTRAS" = test ]; then
  # The Khronos glTF validator (npm package gltf-validator), pinned by its package-lock.json.
  npm ci --silent --no-audit --no-fund --prefix tests/gltf_validator
fi
DATA_ARGS=()
[ -n "${TRACKER_DATA_DIR:-}" ] && DATA_ARGS=(--data "$TRACKER_DATA_DIR")
python3 build_ext.py "${DATA_ARGS[@]}" "$@"
