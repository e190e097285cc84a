"""Start-up of `tracker-app gui --video FILE`, as a user launches it: a process of its own.

Measures (and prints, no time limit: this machine is shared) the time from launching
the process to the first frame with a tracked face on screen.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.config import REPO_ROOT

pytestmark = pytest.mark.gui
LAUNCH_TIMEOUT_S = 120


def _launch(video: Path, tmp_path: Path, report: Path | None = None) -> subprocess.Popen:
    """`tracker-app gui --video VIDEO` as a process of its own (``report``: its start-up milestones)."""
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"),
               PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if report is not None:
        env["TRACKER_APP_STARTUP_REPORT"] = str(report)
    return subprocess.Popen([sys.executable, "-m", "tracker_app", "gui", "--video", str(video)],
                            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _start_up_milestones(video: Path, tmp_path: Path) -> tuple[float, dict[str, float]]:
    """Launch, wait for the first tracked frame on screen, kill: (launch time, the report)."""
    report = tmp_path / "startup.json"
    launched = time.monotonic()
    app = _launch(video, tmp_path, report)
    try:
        while not report.is_file() and app.poll() is None and time.monotonic() - launched < LAUNCH_TIMEOUT_S:
            time.sleep(0.01)
        assert report.is_file(), f"no tracked frame shown; exit code {app.poll()}"
        return launched, json.loads(report.read_text())
    finally:
        app.kill()  # closing cleanly is tested elsewhere (test_errors_and_shutdown.py)
        app.communicate()


def test_first_tracked_frame_after_launch(weights_dir, media_dir, tmp_path, report_figure) -> None:
    launched, times = _start_up_milestones(media_dir / "obama_pingpong.mp4", tmp_path)
    since = {k: times[k] - launched for k in ("window_created", "engine_ready", "window_shown",
                                              "first_tracked_frame")}
    assert 0 < since["window_created"] <= since["window_shown"] <= since["first_tracked_frame"]
    assert since["engine_ready"] <= since["first_tracked_frame"]
    report_figure(f"launch -> first tracked frame on screen {since['first_tracked_frame']:.2f} s "
                  f"({times['cpu_seconds']:.2f} CPU s; window built {since['window_created']:.2f} s, "
                  f"engine loaded {since['engine_ready']:.2f} s)")


def _wait_until_in_main(app: subprocess.Popen) -> None:
    """Wait until the app has loaded Qt: it is then inside the command line's ``main``, past
    Python's own start-up (imports at module level, where a Ctrl-C is Python's traceback)."""
    deadline = time.monotonic() + LAUNCH_TIMEOUT_S
    while "libQt6Core" not in Path(f"/proc/{app.pid}/maps").read_text(errors="replace"):
        assert app.poll() is None, f"ended before loading Qt: exit code {app.returncode}"
        assert time.monotonic() < deadline, "Qt never loaded"
        time.sleep(0.005)


def _ctrl_c(app: subprocess.Popen, moment: str) -> int:
    """Ctrl-C now; the exit code, after checking the app ended cleanly."""
    app.send_signal(signal.SIGINT)
    try:
        _out, err = app.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        app.kill()
        app.communicate()
        raise AssertionError(f"still running 30 s after Ctrl-C {moment}") from None
    assert app.returncode in (0, 130), f"exit code {app.returncode} after Ctrl-C {moment}: {err[-500:]}"
    assert "Traceback" not in err
    if app.returncode == 130:  # before the window was up: the command line's one line
        assert err.strip().splitlines()[-1] == "tracker-app: interrupted"
    return app.returncode


def test_ctrl_c_at_any_moment_of_start_up_ends_the_app_cleanly(weights_dir, media_dir, tmp_path) -> None:
    # How long start-up takes here, then Ctrl-C at moments spread over it: while the
    # models load, the window is built, the GL context is made, the first frames paint.
    # (A Ctrl-C during the window's construction used to hang the process at exit, one
    # inside a paint crashed it.) Each moment counts from the launch, but never comes before
    # the app is in its own code: on a busy machine one launch can take much longer than the
    # one measured, and 15 % of it once fell in Python's imports.
    video = media_dir / "obama.mp4"
    launched, times = _start_up_milestones(video, tmp_path)
    start_up = times["first_tracked_frame"] - launched
    endings = []
    for fraction in (0.0, 0.15, 0.35, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2):
        launched = time.monotonic()
        app = _launch(video, tmp_path)
        _wait_until_in_main(app)
        time.sleep(max(0.0, launched + fraction * start_up - time.monotonic()))
        endings.append(_ctrl_c(app, f"at {fraction:.0%} of start-up"))
    # Both phases for sure, whatever this launch's speed: once the first tracked frame is on
    # screen (its milestone report written), Ctrl-C closes the window.
    report = tmp_path / "late.json"
    app = _launch(video, tmp_path, report)
    deadline = time.monotonic() + LAUNCH_TIMEOUT_S
    while not report.is_file():
        assert app.poll() is None and time.monotonic() < deadline, f"no tracked frame shown; exit {app.poll()}"
        time.sleep(0.01)
    assert _ctrl_c(app, "after the first tracked frame") == 0
    assert 130 in endings  # the earliest moment: Qt loaded, the window far from built
