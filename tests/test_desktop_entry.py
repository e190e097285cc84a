"""The freedesktop menu entry: valid as shipped and as `tracker-app install-desktop` writes it."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import REPO_ROOT
from tracker_app.app_assets import ICON_SIZES


def _validate(path: Path) -> None:
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        pytest.fail("desktop-file-validate missing: bash scripts/setup.sh --test installs desktop-file-utils")
    done = subprocess.run([tool, str(path)], capture_output=True, text=True)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_shipped_desktop_file_is_valid() -> None:
    _validate(REPO_ROOT / "assets" / "tracker-app.desktop")


def test_install_desktop_writes_icons_and_a_valid_entry(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "tracker_app", "install-desktop", "--data-home", str(tmp_path)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    entry = tmp_path / "applications" / "tracker-app.desktop"
    _validate(entry)
    exec_line = next(line for line in entry.read_text().splitlines() if line.startswith("Exec="))
    assert exec_line.endswith(" gui") and Path(exec_line.split()[0][5:].strip('"')).is_absolute()
    icons = tmp_path / "icons" / "hicolor"
    assert (icons / "scalable" / "apps" / "tracker-app.svg").read_bytes().startswith(b"<?xml")
    for size in ICON_SIZES:
        png = (icons / f"{size}x{size}" / "apps" / "tracker-app.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        assert (width, height) == (size, size)
