"""The window on obama.mp4: playback, the mesh and pose axes in a framebuffer grab, 3D mode, plots, exports."""
from __future__ import annotations

import csv
import json
import math

import cv2
import numpy as np
import pytest
from PyQt6.QtCore import QEvent, QPoint, QPointF, Qt
from PyQt6.QtGui import QMouseEvent, QWheelEvent
from PyQt6.QtWidgets import QApplication

from engine.recorder import VIDEO_NAME
from engine.run_record import RUN_FORMAT, RUN_NAME
from engine.session import ExportOptions
from engine.table import CSV_NAME as TABLE_NAME
from engine.table import table_columns
from tests.support.video_fixtures import iter_video_frames
from tests.support.gui import close_window, make_window, qimage_rgb, wait_until
from tracker_app.view_math import fit_rect
from tracker_app.actions import Act
from tracker_app.capture_worker import CaptureWorker

pytestmark = pytest.mark.gui

FRAMES_BEFORE_CHECKS = 12  # obama.mp4 has 55; the checks need a tracked face, not the whole clip
NO_OVERLAY = dict(show_mesh=False, show_landmarks=False, show_axes=False, show_eyes=False)


@pytest.fixture(scope="module")
def played(qapp, weights_dir, obama, tmp_path_factory):
    """A window that opened obama.mp4, played it for a while and is paused on a tracked face."""
    w = make_window(tmp_path_factory.mktemp("settings"))
    w.open_source(str(obama))
    wait_until(lambda: w.model.frames_shown >= FRAMES_BEFORE_CHECKS, "frames of obama.mp4")
    w.controller.submit(CaptureWorker.pause)
    wait_until(lambda: not w.model.playing, "pause")
    assert w.model.frame.n_faces == 1, "obama.mp4 shows one face"
    yield w
    close_window(w)


def _grab(window, **overlay) -> np.ndarray:
    """The view with these overlay options, as RGB."""
    window.model.update_overlay(**{**dict(show_mesh=True, show_landmarks=True, show_axes=True, show_eyes=False,
                                          mesh_opacity=0.6, wireframe=False), **overlay})
    return qimage_rgb(window.view.grab_frame())


def _to_grab(window, grab: np.ndarray, box) -> tuple[int, int, int, int]:
    """An image-space box (x1, y1, x2, y2) in grab pixels (the grab is the scaled frame rectangle)."""
    h, w = window.model.frame.image.shape[:2]
    s = grab.shape[1] / w
    assert grab.shape[0] == pytest.approx(h * s, abs=1.5)
    x1, y1, x2, y2 = (float(v) * s for v in box)
    return (max(0, int(x1)), max(0, int(y1)), min(grab.shape[1], int(math.ceil(x2))),
            min(grab.shape[0], int(math.ceil(y2))))


def test_opens_and_plays(played, obama) -> None:
    model = played.model
    assert model.source is not None and model.source.path == obama and not model.source.is_live
    assert model.frames_shown >= FRAMES_BEFORE_CHECKS
    assert model.frame.result.index >= FRAMES_BEFORE_CHECKS - 1
    wait_until(lambda: played.seek.bar.value() == model.frame.result.index, "the seek bar")
    assert "ms" in played.status.timing_label.text() and played.status.fps_label.text() == "paused"  # no stale rate
    assert not played.errors


def test_frame_drawn_is_the_video_frame(played) -> None:
    grab = _grab(played, **NO_OVERLAY)
    frame = played.model.frame.image
    expected = cv2.cvtColor(cv2.resize(frame, (grab.shape[1], grab.shape[0]), interpolation=cv2.INTER_LINEAR),
                            cv2.COLOR_BGR2RGB)
    # GL bilinear sampling vs OpenCV's resize: equal up to rounding and filter details.
    assert np.abs(grab.astype(int) - expected).mean() < 6


def test_mesh_covers_the_face_and_nothing_far_from_it(played) -> None:
    raw = _grab(played, **NO_OVERLAY)
    meshed = _grab(played, show_mesh=True, show_landmarks=False, show_axes=False)
    face = played.model.frame.primary_face()
    changed = np.any(raw != meshed, axis=2)
    # Inside the face: the middle of the landmark box (cheeks, nose, mouth) is under the mesh.
    lm = face.landmarks[:, :2]
    (x1, y1), (x2, y2) = lm.min(axis=0), lm.max(axis=0)
    cx, cy, hw, hh = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) * 0.3, (y2 - y1) * 0.3
    gx1, gy1, gx2, gy2 = _to_grab(played, raw, (cx - hw, cy - hh, cx + hw, cy + hh))
    assert changed[gy1:gy2, gx1:gx2].mean() > 0.95
    # Far from the face: outside the mesh's own bounding box (grown by 2 px) nothing changed,
    # and the drawn area fills most of that box.
    (mx1, my1), (mx2, my2) = face.vertices[:, :2].min(axis=0), face.vertices[:, :2].max(axis=0)
    bx1, by1, bx2, by2 = _to_grab(played, raw, (mx1, my1, mx2, my2))
    outside = changed.copy()
    outside[max(0, by1 - 2):by2 + 2, max(0, bx1 - 2):bx2 + 2] = False
    assert not outside.any()
    assert changed.sum() > 0.6 * (bx2 - bx1) * (by2 - by1)
    assert changed[:, : max(0, bx1 - 2)].sum() == 0 and changed[max(0, by2 + 2):].sum() == 0


def test_opacity_and_wireframe_change_the_mesh(played) -> None:
    light = _grab(played, show_landmarks=False, show_axes=False, mesh_opacity=0.3)
    heavy = _grab(played, show_landmarks=False, show_axes=False, mesh_opacity=0.9)
    wire = _grab(played, show_landmarks=False, show_axes=False, mesh_opacity=0.9, wireframe=True)
    raw = _grab(played, **NO_OVERLAY)
    d_light = np.abs(light.astype(int) - raw).sum()
    d_heavy = np.abs(heavy.astype(int) - raw).sum()
    assert d_heavy > 1.5 * d_light > 0
    # The wireframe draws lines, not a filled surface: over the face many pixels change,
    # and between the lines the video shows through, so it is nearer the raw frame.
    gx1, gy1, gx2, gy2 = _to_grab(played, raw, played.model.frame.primary_face().box)
    face_wire, face_heavy = wire[gy1:gy2, gx1:gx2], heavy[gy1:gy2, gx1:gx2]
    differs = np.any(face_wire != face_heavy, axis=2).mean()
    d_wire = np.abs(wire.astype(int) - raw).sum()
    assert differs > 0.2, f"only {differs:.1%} of the face pixels differ"
    assert d_wire < 0.8 * d_heavy, (d_wire, d_heavy)


def test_pose_axes_start_at_the_nose(played) -> None:
    raw = _grab(played, **NO_OVERLAY)
    axes = _grab(played, show_mesh=False, show_landmarks=False, show_axes=True)
    frame = played.model.frame
    face = frame.primary_face()
    changed = np.any(raw != axes, axis=2)
    side = float(face.box[2] - face.box[0])
    nose = face.landmarks[30, :2]
    gx1, gy1, gx2, gy2 = _to_grab(played, raw, (*(nose - 0.6 * side), *(nose + 0.6 * side)))
    assert changed[gy1:gy2, gx1:gx2].sum() > 50
    outside = changed.copy()
    outside[gy1:gy2, gx1:gx2] = False
    assert not outside.any()
    # One arrow per axis colour: red x, green y, blue z (engine.overlay.AXIS_COLOURS).
    patch = axes[gy1:gy2, gx1:gx2].astype(int)
    for rgb in ((255, 0, 0), (0, 200, 0), (0, 80, 255)):
        near = np.abs(patch - rgb).max(axis=2) < 40
        assert near.sum() >= 5, f"no pixels of axis colour {rgb}"
    # The arrows start at the nose tip.
    sx, sy = _to_grab(played, raw, (*nose, *nose))[:2]
    assert changed[max(0, sy - 3):sy + 4, max(0, sx - 3):sx + 4].any()


def test_landmarks_are_drawn(played) -> None:
    raw = _grab(played, **NO_OVERLAY)
    dots = _grab(played, show_mesh=False, show_landmarks=True, show_axes=False)
    face = played.model.frame.primary_face()
    changed = np.any(raw != dots, axis=2)
    hits = 0
    for x, y in face.landmarks[:, :2]:
        gx, gy = _to_grab(played, raw, (x, y, x, y))[:2]
        hits += bool(changed[max(0, gy - 1):gy + 2, max(0, gx - 1):gx + 2].any())
    assert hits >= 60  # of 68; a few may sit under another dot's dark rim


def test_3d_mode_renders_the_mesh_and_orbits(played) -> None:
    model, view = played.model, played.view
    model.update_overlay(show_mesh=True, wireframe=False)
    model.set_view_3d(True)
    try:
        assert played.commands[Act.VIEW_3D].isChecked()
        front = qimage_rgb(view.grab_frame())
        background = np.array([round(c * 255) for c in (0.16, 0.17, 0.20)])
        mesh = np.abs(front.astype(int) - background).max(axis=2) > 12
        h, w = mesh.shape
        assert 0.1 < mesh.mean() < 0.9
        assert mesh[h // 3:2 * h // 3, w // 3:2 * w // 3].mean() > 0.9  # centred
        assert front[mesh].std() > 5  # shaded, not a flat silhouette
        _drag(view, (200, 200), (350, 230))  # the head turns about 60 degrees, tips a little
        assert view.camera.yaw == pytest.approx(60) and view.camera.pitch == pytest.approx(12)
        turned = qimage_rgb(view.grab_frame())
        assert np.any(turned != front)
        distance = view.camera.distance
        _wheel(view, 120)  # one notch away from the user: closer
        assert view.camera.distance < distance
        closer = qimage_rgb(view.grab_frame())
        assert (np.abs(closer.astype(int) - background).max(axis=2) > 12).mean() > \
            (np.abs(turned.astype(int) - background).max(axis=2) > 12).mean()
    finally:
        view.camera.reset()
        model.set_view_3d(False)


def test_plots_receive_pose_and_frame_time(played) -> None:
    plots = played.plots
    wait_until(lambda: len(plots.plotted("yaw")) >= FRAMES_BEFORE_CHECKS, "plot redraw")
    history = played.model.history.arrays()
    face = played.model.frame.primary_face()
    # A file: the window around the current frame, NaN where nothing was computed (after it).
    current = np.flatnonzero(history["t"] == 0)
    assert len(current) == 1 and history["t"][0] < 0  # seconds from the current frame
    computed = history["t"] <= 0
    for name in ("yaw", "pitch", "roll"):
        y = plots.plotted(name)
        assert np.isfinite(y[computed][-FRAMES_BEFORE_CHECKS:]).all() and np.nanmax(np.abs(y)) < 90
    assert plots.plotted("yaw")[current[0]] == pytest.approx(face.pose.yaw)
    assert (plots.plotted("frame_ms")[computed][-FRAMES_BEFORE_CHECKS:] > 0).all()


def test_export_frame_and_mesh_load_back(played, qtbot, tmp_path) -> None:
    frame_path = played.save_frame(tmp_path / "frame.png")
    saved = cv2.imread(str(frame_path))
    image = played.model.frame.image
    assert saved is not None and saved.shape == image.shape == (720, 1280, 3)  # the video's size, not the view's
    x1, y1, x2, y2 = played.model.frame.primary_face().box.astype(int)
    background = np.ones(image.shape[:2], bool)
    background[max(0, y1 - 80):y2 + 80, max(0, x1 - 80):x2 + 80] = False
    assert np.abs(saved.astype(int) - image)[background].mean() < 1.5  # the frame itself, 1:1
    assert np.abs(saved.astype(int) - image)[y1:y2, x1:x2].mean() > 8  # the mesh and overlays drawn on it

    face = played.model.frame.primary_face()
    n_vertices, n_tris = len(face.vertices), len(played.model.frame.triangles)
    extent = np.ptp(face.vertices, axis=0)
    with qtbot.waitSignal(played.mesh_exported, timeout=60_000) as obj_done:
        played.export_mesh(tmp_path / "face.obj")
    assert obj_done.args[0] == [str(tmp_path / "face.obj")]
    v, vt, f, mtllib = [], 0, 0, None
    for line in (tmp_path / "face.obj").read_text().splitlines():
        if line.startswith("v "):
            v.append([float(t) for t in line.split()[1:4]])
        elif line.startswith("vt "):
            vt += 1
        elif line.startswith("f "):
            f += 1
        elif line.startswith("mtllib "):
            mtllib = line.split()[1]
    assert len(v) == n_vertices == vt and f == n_tris
    assert np.allclose(np.ptp(np.array(v), axis=0), extent, atol=0.01)
    texture = cv2.imread(str(tmp_path / "face.png"))
    assert mtllib == "face.mtl" and texture is not None and texture.shape[0] == texture.shape[1] >= 256
    assert texture.std() > 10  # sampled from the frame, not blank

    with qtbot.waitSignal(played.mesh_exported, timeout=60_000):
        played.export_mesh(tmp_path / "face.ply")
    data = (tmp_path / "face.ply").read_bytes()
    header, body = data.split(b"end_header\n", 1)
    assert f"element vertex {n_vertices}".encode() in header and f"element face {n_tris}".encode() in header
    vertices = np.frombuffer(body[: n_vertices * 15], dtype=[("xyz", "<f4", 3), ("rgb", "u1", 3)])
    assert np.allclose(np.ptp(vertices["xyz"], axis=0), extent, atol=0.01)
    assert vertices["rgb"].std() > 10


def test_record_session_writes_table_and_overlay_video(played, tmp_path) -> None:
    folder = tmp_path / "session"
    played.start_recording(folder, ExportOptions(video=True))
    wait_until(lambda: played.model.recording == folder, "recording to start")
    assert played.commands[Act.RECORD].isChecked() and "REC" in played.status.recording_label.text()
    start = played.model.frames_shown
    played.controller.submit(CaptureWorker.play)
    wait_until(lambda: played.model.frames_shown >= start + 8, "recorded frames")  # 55 frames: no end yet
    played.stop_recording()
    wait_until(lambda: played.model.recording is None, "recording to stop")
    played.controller.submit(CaptureWorker.pause)
    assert not played.errors

    with open(folder / TABLE_NAME, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == table_columns()
    assert len(rows) - 1 >= 8
    frames = [int(r[0]) for r in rows[1:]]
    assert frames == sorted(frames)
    shapes = [image.shape for image in iter_video_frames(folder / VIDEO_NAME)]
    assert shapes == [(720, 1280, 3)] * (len(rows) - 1)  # one face per frame: one video frame per table row
    run = json.loads((folder / RUN_NAME).read_text())
    assert run["format"] == RUN_FORMAT and run["interrupted"] and not run["complete"]  # stopped before the end
    assert run["summary"]["started_at_frame"] == frames[0] and run["summary"]["frames"] == len(frames)


def test_seek_and_step(played) -> None:
    played.controller.submit(CaptureWorker.pause)
    played.controller.submit(CaptureWorker.seek, 40)
    wait_until(lambda: played.model.frame.result.index == 40, "seek to frame 40")
    played.controller.submit(CaptureWorker.step)
    wait_until(lambda: played.model.frame.result.index == 41, "step to frame 41")
    assert played.model.frame.n_faces == 1
    assert played.seek.bar.value() == 41


def test_view_rect_letterboxes(played) -> None:
    h, w = played.model.frame.image.shape[:2]
    x, y, rw, rh = played.view.video_rect()
    dpr = played.view.devicePixelRatio()
    vw, vh = int(played.view.width() * dpr), int(played.view.height() * dpr)
    assert (x, y, rw, rh) == fit_rect(w, h, vw, vh)
    assert rw == vw or rh == vh


def _drag(widget, start: tuple[int, int], end: tuple[int, int]) -> None:
    """A left-button mouse drag, as the window system would deliver it."""
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    for kind, pos, button, buttons in ((QEvent.Type.MouseButtonPress, start, left, left),
                                       (QEvent.Type.MouseMove, end, none, left),
                                       (QEvent.Type.MouseButtonRelease, end, left, none)):
        p = QPointF(*pos)
        event = QMouseEvent(kind, p, widget.mapToGlobal(p), button, buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(widget, event)


def _wheel(widget, delta: int) -> None:
    p = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(p, widget.mapToGlobal(p), QPoint(), QPoint(0, delta), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_frame_count_is_learned_in_the_background(played) -> None:
    """obama.mp4's header claims 158 frames; the window soon knows the 55 it holds."""
    wait_until(lambda: played.model.source.frame_count_exact, "the background frame count")
    assert played.model.source.frame_count == 55
    assert played.seek.bar.maximum() == 54
    assert played.seek.label.text().endswith(" / 55") and "~" not in played.seek.label.text()


def test_step_back(played) -> None:
    played.controller.submit(CaptureWorker.seek, 30)
    wait_until(lambda: played.model.frame.result.index == 30, "seek to frame 30")
    played.step_back()
    wait_until(lambda: played.model.frame.result.index == 29, "step back to frame 29")
    assert not played.model.playing and played.seek.bar.value() == 29
    assert played.seek.label.text().startswith("29 / ")  # 0-based, as in faces.csv
