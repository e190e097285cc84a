"""Start-up of `tracker-app gui --video FILE`, as a user launches it: a process of its own.

Measures (and prints, no time limit: this machine is shared) the time from launching
the process to the first frame with a tracked face on screen.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from engine.config import REPO_ROOT

pytestmark = pytest.mark.gui
LAUNCH_TIMEOUT_S = 120


def test_first_tracked_frame_after_launch(weights_dir, media_dir, tmp_path, report_figure) -> None:
    report = tmp_path / "startup.json"
    env = dict(os.environ, TRACKER_APP_STARTUP_REPORT=str(report), XDG_CONFIG_HOME=str(tmp_path / "config"),
               PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    launched = time.monotonic()
    app = subprocess.Popen([sys.executable, "-m", "tracker_app", "gui", "--video",
                            str(media_dir / "obama_pingpong.mp4")], cwd=REPO_ROOT, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not report.is_file() and app.poll() is None and time.monotonic() - launched < LAUNCH_TIMEOUT_S:
            time.sleep(0.01)
        assert report.is_file(), f"no tracked frame shown; exit code {app.poll()}"
        times = json.loads(report.read_text())
    finally:
        app.kill()  # closing cleanly is tested elsewhere (test_errors_and_shutdown.py)
        app.communicate()
    since = {k: times[k] - launched for k in ("window_created", "engine_ready", "window_shown",
                                              "first_tracked_frame")}
    assert 0 < since["window_created"] <= since["window_shown"] <= since["first_tracked_frame"]
    assert since["engine_ready"] <= since["first_tracked_frame"]
    report_figure(f"launch -> first tracked frame on screen {since['first_tracked_frame']:.2f} s "
                  f"({times['cpu_seconds']:.2f} CPU s; window built {since['window_created']:.2f} s, "
                  f"engine loaded {since['engine_ready']:.2f} s)")
