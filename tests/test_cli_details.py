"""Command-line details a user reads: the order of `detect`'s faces, frame lists past the end of a
video, and the overlay's track label kept clear of the pose axes."""
from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np

from engine.analyzer import FaceAnalyzer
from engine.face_model import NOSE_TIP, FaceModel
from engine.frame_selection import FrameSelection
from engine.overlay import AXIS_LENGTH, LABEL_FONT, label_origin


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tracker_app", *args], capture_output=True, text=True,
                          timeout=600)


def test_detect_numbers_faces_left_to_right(weights_dir, media_dir, tmp_path) -> None:
    result = run_cli("detect", str(media_dir / "emma.jpg"), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "emma.jpg: 3 faces, numbered left to right" in result.stdout
    lines = [line for line in result.stdout.splitlines() if ": face " in line]
    assert [line.split(": face ")[1].split(":")[0] for line in lines] == ["0", "1", "2"]
    boxes = [tuple(float(v) for v in line.split("box=(")[1].split(")")[0].split(",")) for line in lines]
    centres = [(b[0] + b[2]) / 2 for b in boxes]
    assert centres == sorted(centres)


def test_frame_selection_beyond_the_end() -> None:
    sel = FrameSelection.parse("0,10,50-70:10,100")
    assert sel.beyond(55).text() == "60-70:10,100"
    assert sel.beyond(200).text() == ""
    assert FrameSelection.parse("53-57:2").beyond(55).text() == "55-57:2"
    assert not FrameSelection.all().beyond(55)


def test_track_says_which_frames_were_out_of_range(weights_dir, media_dir, tmp_path) -> None:
    obama = media_dir / "obama.mp4"
    result = run_cli("track", str(obama), "--out", str(tmp_path / "out"), "--frames", "10,54,60,70-90:10",
                     "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "--frames 60,70-90:10: past the end (55 frames read, 0-based)" in result.stderr
    written = sorted(p.name for p in (tmp_path / "out" / "frames").iterdir())
    assert written == ["frame_000010.png", "frame_000054.png"]


def test_track_label_clear_of_the_pose_axes(weights_dir, media_dir) -> None:
    obama = media_dir / "obama.mp4"
    cap = cv2.VideoCapture(str(obama))
    analyzer = FaceAnalyzer.from_config()
    checked = 0
    for _ in range(55):
        ok, image = cap.read()
        assert ok
        for face in analyzer.analyze(image)[:1]:
            side = float((face.box[2] - face.box[0] + face.box[3] - face.box[1]) / 2)
            thickness = max(1, int(round(side / 120)))
            (w, h), base = cv2.getTextSize("#1", LABEL_FONT, 0.4 + side / 400, thickness)
            origin = face.landmarks[NOSE_TIP, :2]
            tips = FaceModel.pose_axes_2d(face.pose, origin, AXIS_LENGTH * side)
            x, y = label_origin(face.box, (w, h + base), [(origin, t) for t in tips], 4 * thickness,
                                image.shape[:2])
            for tip in tips:
                pts = np.linspace(origin, tip, 200)
                inside = ((pts[:, 0] >= x) & (pts[:, 0] <= x + w) & (pts[:, 1] >= y) & (pts[:, 1] <= y + h + base))
                assert not inside.any()
            checked += 1
    assert checked == 55


def test_a_missing_camera_is_one_line_without_opencv_warnings(weights_dir, tmp_path) -> None:
    result = run_cli("track", "63", "--out", str(tmp_path / "out"), "--no-progress")
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "camera 63 cannot be opened" in lines[0], result.stderr
    assert "WARN" not in result.stderr
