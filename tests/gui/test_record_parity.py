"""Record Session writes what `tracker-app track` writes: the same files, rows and run.json schema."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.config import REPO_ROOT
from engine.frame_selection import FrameSelection
from engine.session import ExportOptions
from tests.support.video_fixtures import iter_video_frames
from tests.support.gui import close_window, make_window, wait_until
from tracker_app.capture_worker import CaptureWorker

pytestmark = pytest.mark.gui


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def _keys(doc: dict, prefix: str = "") -> set[str]:
    """Every key path of a JSON document, lists not entered."""
    out = set()
    for k, v in doc.items():
        out.add(prefix + k)
        if isinstance(v, dict):
            out |= _keys(v, prefix + k + ".")
    return out


def _video_frames(path: Path) -> list[np.ndarray]:
    return list(iter_video_frames(path))


def test_record_session_equals_track(qapp, weights_dir, obama, tmp_path) -> None:
    exports = ExportOptions(video=True, render=("mesh",), meshes=FrameSelection.parse("0,30"),
                            mesh_formats=("ply",), animation=("glb", "pc2"))
    window = make_window(tmp_path / "settings", threads=2)
    try:
        window.open_source(str(obama))
        wait_until(lambda: window.model.frames_shown >= 3, "frames of obama.mp4")
        window.controller.submit(CaptureWorker.pause)
        wait_until(lambda: not window.model.playing, "pause")
        recorded = tmp_path / "recorded"
        window.start_recording(recorded, exports, from_start=True)
        wait_until(lambda: window.model.recording == recorded, "recording to start")
        window.controller.submit(CaptureWorker.play)
        wait_until(lambda: window.model.recording is None, "the recording to end with the video", timeout=600)
        smoother = window.settings.smoother_for(False)  # the file smoother
        assert not window.errors
    finally:
        close_window(window)

    tracked = tmp_path / "tracked"
    p = subprocess.run([sys.executable, "-m", "tracker_app.cli", "--threads", "2", "track", str(obama),
                        "--out", str(tracked), "--video", "--render", "mesh", "--meshes", "0,30", "--mesh-format",
                        "ply", "--animation", "glb,pc2", "--smoother", smoother, "--dense", "--no-progress"],
                       cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    assert p.returncode == 0, p.stderr

    app_rows, cli_rows = _rows(recorded / "faces.csv"), _rows(tracked / "faces.csv")
    assert app_rows[0] == cli_rows[0] and len(app_rows) == len(cli_rows) == 56  # header + 55 frames
    for a, c in zip(app_rows[1:], cli_rows[1:]):
        assert a[:4] == c[:4]  # frame, time, track id, success
        np.testing.assert_allclose(np.array(a[4:], float), np.array(c[4:], float), rtol=1e-3, atol=2e-2)

    app_run, cli_run = (json.loads((d / "run.json").read_text()) for d in (recorded, tracked))
    assert _keys(app_run) == _keys(cli_run)
    assert app_run["options"]["exports"] == cli_run["options"]["exports"]
    assert app_run["table"] == cli_run["table"] and app_run["files"] == cli_run["files"]
    for run in (app_run, cli_run):
        assert run["complete"] and run["summary"]["frames"] == 55 and run["summary"]["started_at_frame"] == 0
    assert int(app_rows[1][0]) == app_run["summary"]["started_at_frame"]

    app_video, cli_video = _video_frames(recorded / "overlay.avi"), _video_frames(tracked / "overlay.avi")
    assert len(app_video) == len(cli_video) == 55 and app_video[0].shape == (720, 1280, 3)
    # the shaded mesh is in the app's video as in track's
    assert np.abs(app_video[30].astype(int) - cli_video[30]).mean() < 3
    assert sorted(p.name for p in (recorded / "meshes").iterdir()) == \
        sorted(p.name for p in (tracked / "meshes").iterdir()) == ["frame_000000_id1.ply", "frame_000030_id1.ply"]
    animations = ["person_1.glb", "person_1.pc2", "person_1_base.obj"]
    assert sorted(p.name for p in (recorded / "animation").iterdir()) == \
        sorted(p.name for p in (tracked / "animation").iterdir()) == animations


def test_record_dialog_gives_the_cli_options(qapp, tmp_path) -> None:
    from tracker_app.record_dialog import RecordDialog

    dialog = RecordDialog(tmp_path, show_mesh=True, is_file=True)
    dialog.meshes.setText("all")
    dialog.mesh_format.setCurrentText("ply")
    dialog.mesh_space.setCurrentText("head")
    dialog.animation["glb"].setChecked(True)
    request = dialog.request()
    assert request.parent == tmp_path and request.from_start
    assert request.exports == ExportOptions(video=True, render=("mesh",), meshes=FrameSelection.all(),
                                            mesh_formats=("ply",), mesh_space="head", animation=("glb",))
    dialog.meshes.setText("5-2")
    with pytest.raises(ValueError, match="meshes"):
        dialog.request()
    live = RecordDialog(tmp_path, show_mesh=False, is_file=False)
    assert not live.from_start.isEnabled() and live.request().exports == ExportOptions(video=True)
    dialog.deleteLater()
    live.deleteLater()
