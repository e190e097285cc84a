"""Shared fixtures: the upstream data folder and the built weights.

Tests run on the real shared data and the real converted models. A missing
folder is a failure with a clear message, never a silent skip.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.assets import ASSET_NAMES, default_weights_dir
from engine.config import DEFAULT_DATA_DIR

DATA_DIR = Path(os.environ.get("TRACKER_DATA_DIR", DEFAULT_DATA_DIR))
WEIGHTS_DIR = default_weights_dir()  # the checkout's weights/ unless TRACKER_WEIGHTS_DIR is set


FIGURES = pytest.StashKey[list]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[FIGURES] = []


@pytest.fixture
def report_figure(request: pytest.FixtureRequest):
    """Call with a one-line measured figure; it is printed at the end of the run."""
    def report(text: str) -> None:
        request.config.stash[FIGURES].append(f"{request.node.name}: {text}")
    return report


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    figures = config.stash.get(FIGURES, [])
    if figures:
        terminalreporter.section("measured figures")
        for line in figures:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "SHA256SUMS").is_file():
        pytest.fail(f"upstream data not found in {DATA_DIR} (set TRACKER_DATA_DIR)")
    return DATA_DIR


@pytest.fixture(scope="session")
def media_dir(data_dir: Path) -> Path:
    return data_dir / "media"


@pytest.fixture(scope="session")
def weights_dir() -> Path:
    for name in ASSET_NAMES:
        if not (WEIGHTS_DIR / name).is_file():
            pytest.fail(f"{WEIGHTS_DIR / name} missing: run python build_ext.py first")
    return WEIGHTS_DIR


@pytest.fixture(scope="module")
def live_analyzer(weights_dir: Path):
    """One single-thread FaceAnalyzer per module (expression and VMC tests)."""
    from engine.analyzer import FaceAnalyzer

    return FaceAnalyzer.from_config(threads=1)


@pytest.fixture(scope="module")
def expressions(live_analyzer):
    """The named-expression model of ``live_analyzer``'s face model and config."""
    from engine.expressions import ExpressionModel

    return ExpressionModel(live_analyzer.face_model, live_analyzer.config.expressions)
