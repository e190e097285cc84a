#!/usr/bin/env bash
# Fresh machine -> green test suite: scripts/setup.sh with the test extras and
# Xvfb, the static checks, then every test (GUI tests run under Xvfb with Mesa's software OpenGL,
# started by pytest-xvfb). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
# Static checks first (configured in pyproject.toml): ruff everywhere, mypy --strict on engine/ and tracker_app/.
python3 -m ruff check .
python3 -m mypy
python3 -m pytest -q "$@"
