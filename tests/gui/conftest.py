"""GUI tests: the real window, a real OpenGL context (Mesa under Xvfb), real videos and models.

pytest-xvfb starts Xvfb for the session when the `xvfb` binary exists. The
`offscreen` Qt platform has no OpenGL, so these tests need xcb; the 3.3 core
default format must be set before pytest-qt creates the QApplication.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["QT_QPA_PLATFORM"] = "xcb"  # offscreen/minimal cannot create a GL context

from tracker_app.gui_main import configure_gl_format  # noqa: E402

configure_gl_format()

from tests.support.gui import close_window, make_window  # noqa: E402


def pytest_runtest_setup(item: pytest.Item) -> None:
    # Without a display Qt aborts the whole process when the QApplication is made: say why instead.
    if item.get_closest_marker("gui") and not os.environ.get("DISPLAY"):
        pytest.fail("no X display for the GUI tests: install Xvfb (pytest-xvfb then starts one) "
                    "and Mesa (libgl1-mesa-dri), see scripts/setup_and_test.sh", pytrace=False)


@pytest.fixture(scope="session")
def obama(media_dir: Path) -> Path:
    return media_dir / "obama.mp4"


@pytest.fixture
def window(qapp, weights_dir, tmp_path):
    """A fresh main window (models loading in its capture thread); closed, thread checked, after the test."""
    w = make_window(tmp_path)
    yield w
    close_window(w)
