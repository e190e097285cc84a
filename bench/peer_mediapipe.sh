#!/usr/bin/env bash
# MediaPipe FaceMesh 0.10.14 on a video, in its own virtualenv (it needs numpy<2,
# which the project does not use): the peer that bench/bench_runs.py --peer times.
#
#   bash bench/peer_mediapipe.sh VIDEO        # sets up bench/.venv-mediapipe once, then runs
#   bash bench/peer_mediapipe.sh --setup      # only the set-up
#
# The run itself (bench/peer_mediapipe.py) decodes with OpenCV and tracks one face
# with refine_landmarks off (468 points), like a table-only `tracker-app track`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${MEDIAPIPE_VENV:-$here/.venv-mediapipe}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import mediapipe" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet "mediapipe==0.10.14" "numpy<2" "opencv-python-headless<4.11" >&2
fi
if [ "${1:-}" = "--setup" ]; then
    exit 0
fi
exec "$venv/bin/python" "$here/peer_mediapipe.py" "$@"
