"""The command line's error contract: the project's errors and I/O errors in one line,
programming errors with their traceback, `--debug` tracebacks for everything."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import REPO_ROOT
from tracker_app import __version__, cli


def _run(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tracker_app", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_version() -> None:
    done = _run("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"tracker-app {__version__}"


def test_project_error_is_one_line_and_debug_shows_its_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    plain = _run("--config", str(missing), "detect", "x.jpg")
    assert plain.returncode == 1
    assert plain.stderr.strip().splitlines() == [f"tracker-app: error: cannot read config {missing}: "
                                                 "No such file or directory"]
    debug = _run("--debug", "--config", str(missing), "detect", "x.jpg")
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr
    assert "ConfigError" in debug.stderr and debug.stderr.strip().endswith("No such file or directory")


def test_setup_names_a_wrong_data_folder_in_one_line(tmp_path: Path) -> None:
    done = _run("setup", "--data", str(tmp_path), "--weights", str(tmp_path / "w"))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"tracker-app: error: no SHA256SUMS in {tmp_path} "
                                                "(point --data at the upstream data folder)"]


def test_missing_models_say_what_to_run(tmp_path: Path, media_dir: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"weights_dir: {tmp_path / 'empty'}\n")
    done = _run("--config", str(config), "detect", str(media_dir / "emma.jpg"), "--out", str(tmp_path))
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "tracker-app setup --data DIR" in line and str(tmp_path / "empty") in line


def test_programming_error_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(args: object) -> int:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli, "run_detect", broken)
    with pytest.raises(ZeroDivisionError):
        cli.main(["detect", "x.jpg"])
    # A plain ValueError is not a project error either: it is not swallowed into one line.
    monkeypatch.setattr(cli, "run_detect", lambda args: int("not a number"))
    with pytest.raises(ValueError):
        cli.main(["detect", "x.jpg"])
