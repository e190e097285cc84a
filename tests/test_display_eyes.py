"""The eyes on the mesh the window shows (engine.display_arrays): lids closed by the measured
openness with the exports' shape (engine.eyelids), and the gaze arrows of the 3D view.

On obama.mp4 tracked as the app tracks a file (dense, look-ahead), against the hand labels
(tests/data/obama_eye_labels.csv: frames 2, 38 and 39 closed, 4-35 open)."""
from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pytest

from engine.display_arrays import GAZE_FLOATS, display_arrays, eye_regions, gaze_arrows
from engine.eyelids import lid_closure, lid_offsets
from engine.face_model import FaceModel
from engine.frames import FrameResult
from engine.overlay import GAZE_COLOUR, eye_lines
from engine.results import Eyes, EyeState
from tests.test_eyes import DATA, _rows

# Upper and lower lid landmarks facing each other (iBUG 300-W): right eye 37/41, 38/40; left 43/47, 44/46.
LID_PAIRS = ((37, 41), (38, 40), (43, 47), (44, 46))
CLOSED_GAP = 0.1  # a closed eye's lids: at most this share of the tracked mesh's opening left
MOVE_TOLERANCE_PX = 0.05


@pytest.fixture(scope="module")
def obama_frames(live_analyzer, media_dir) -> dict[int, FrameResult]:
    from engine.pipeline import TrackingPipeline
    from engine.video_source import open_source

    pipeline = TrackingPipeline(live_analyzer, dense=True, smoother="lookahead", keep_pixels=False)
    out: dict[int, FrameResult] = {}
    with open_source(media_dir / "obama.mp4") as source:
        for packet in source:
            out.update((r.index, r) for r in pipeline.process(packet))
    out.update((r.index, r) for r in pipeline.flush())
    return out


def _gaps(vertices: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """(4,) image px from each upper lid vertex down to the lower one facing it (right eye, then left)."""
    return np.array([vertices[keypoints[low], 1] - vertices[keypoints[up], 1] for up, low in LID_PAIRS])


def test_display_mesh_closes_the_lids_of_closed_eyes_only(obama_frames, live_analyzer, report_figure) -> None:
    model = live_analyzer.face_model
    eyes = {int(r["frame"]): (r["label_right"], r["label_left"]) for r in _rows(DATA / "obama_eye_labels.csv")}
    closed = [i for i, labels in eyes.items() if labels == ("closed", "closed")]
    open_ = [i for i, labels in eyes.items() if labels == ("open", "open") and i > 0]  # 0: before calibration
    assert closed == [2, 38, 39] and len(open_) >= 30
    left_open, unchanged = [], 0
    for index in closed + open_:
        face = obama_frames[index].faces[0].face
        shown = display_arrays(obama_frames[index], model).mesh[:, :3]
        tracked, now = _gaps(face.vertices, model.keypoints), _gaps(shown, model.keypoints)
        assert (tracked > 3).all(), "the face model's mesh never closes an eye by itself"
        closure = np.repeat(lid_closure(face.eyes), 2)  # per lid pair: right, right, left, left
        if index in closed:
            assert (closure > 0.9).all(), (index, closure)
            # The upper lid came down onto the lower one.
            assert (np.abs(now) <= CLOSED_GAP * tracked).all(), (index, now, tracked)
            left_open.append(float(np.max(now / tracked)))
        else:
            # An open eye's upper lid moves down by (1 - openness) of the opening at most: as wide
            # as the person's neutral eye (closure 0), the mesh is the tracked one, untouched.
            assert (np.abs(now - (1 - closure) * tracked) <= MOVE_TOLERANCE_PX).all(), (index, now, tracked)
            assert (now >= 0.6 * tracked).all(), (index, now, tracked)
            if not closure.any():
                np.testing.assert_array_equal(shown, face.vertices)
                unchanged += 1
    assert unchanged >= 3
    report_figure(f"closed frames {closed}: at most {max(left_open):.3f} of the tracked opening left "
                  f"(mesh lids {np.mean(tracked):.1f} px apart); {len(open_)} open frames lowered by 1 - openness "
                  f"only, {unchanged} of them untouched")


def test_eyes_not_measured_leave_the_mesh_as_tracked(obama_frames, live_analyzer) -> None:
    model = live_analyzer.face_model
    result = obama_frames[38]  # closed: the measured eyes close the lids
    face = result.faces[0].face
    assert not np.array_equal(display_arrays(result, model).mesh[:, :3], face.vertices)
    unmeasured = EyeState(openness=math.nan, yaw=math.nan, pitch=math.nan, pupil=(math.nan, math.nan), valid=False)
    for eyes in (None, Eyes(right=unmeasured, left=unmeasured)):
        tf = dataclasses.replace(result.faces[0], face=dataclasses.replace(face, eyes=eyes))
        arrays = display_arrays(dataclasses.replace(result, faces=[tf]), model)
        np.testing.assert_array_equal(arrays.mesh[:, :3], face.vertices)
        assert arrays.gaze.shape == (0, GAZE_FLOATS)


def test_a_degenerate_pose_leaves_the_mesh_as_tracked(obama_frames, live_analyzer) -> None:
    """A camera with no scale (or NaN) cannot map the mesh back to the head: no lids, no exception."""
    face = obama_frames[38].faces[0].face  # closed eyes
    regions = eye_regions(live_analyzer.face_model)
    vertices = np.asarray(face.vertices, np.float32)
    for camera in (np.zeros((3, 3)), np.full((3, 3), np.nan)):
        assert regions.close_lids(vertices, camera, np.ones(2, np.float32)) is vertices


def test_lids_closed_near_the_eyes_equal_the_whole_mesh_closed(obama_frames, live_analyzer, media_dir) -> None:
    """The display closes the lids on the vertices near the eyes only (EyeRegions, a tenth of the
    mesh): on faces of other people the result is the exports' shape on the whole mesh."""
    model = live_analyzer.face_model
    faces = [obama_frames[i].faces[0].face for i in (2, 12, 38)]
    for name in ("emma.jpg", "identity/couple.jpg", "identity/img5.jpg", "trump_hillary.jpg"):
        faces += live_analyzer.analyze(cv2.imread(str(media_dir / name)), dense=True)
    assert len(faces) >= 9
    regions = eye_regions(model)
    assert len(regions.rows) < 0.15 * model.n_vertices
    for face in faces:
        camera = FaceModel.image_camera(face.params, face.roi)[:, :3]
        offsets = lid_offsets(face.vertices.astype(np.float64) @ np.linalg.inv(camera).T, model.keypoints)
        closure = np.ones(2, np.float32)  # both eyes closed: every vertex the shape moves, moved
        whole = face.vertices + np.tensordot(closure, offsets, axes=1) @ camera.T
        near = regions.close_lids(face.vertices, camera, closure)
        assert np.abs(whole - face.vertices).max() > 3  # the lids moved, by pixels
        np.testing.assert_allclose(near, whole, atol=1e-3)


def test_gaze_arrows_in_3d_are_the_overlay_arrows_with_depth(obama_frames, live_analyzer) -> None:
    model = live_analyzer.face_model
    for index in (12, 38):
        result = obama_frames[index]
        face = result.faces[0].face
        arrays = display_arrays(result, model)
        lines = [line for line in eye_lines(face) if line.gaze is not None]
        if index == 38:  # closed: no gaze
            assert not lines and arrays.gaze.shape == (0, GAZE_FLOATS)
            continue
        assert len(lines) == 2
        gaze = arrays.gaze.reshape(2, 2, -1, GAZE_FLOATS)  # eye, crossed arrow, vertex
        assert np.allclose(gaze[..., 3:], np.asarray(GAZE_COLOUR[::-1]) / 255)
        landmarks = arrays.mesh[model.keypoints, :3]
        for eye, line in zip(gaze, lines):
            start_xy, end_xy = line.gaze
            tip = eye[:, -1, :3]  # _arrow's last vertex: the tip
            # Seen from the front (x, y), the 3D arrow is the video overlay's arrow.
            np.testing.assert_allclose(tip[:, :2], np.broadcast_to(end_xy, (2, 2)), atol=1e-3)
            shaft_start = eye[:, :2, :3].mean(axis=1)  # the middle of the shaft's first edge
            np.testing.assert_allclose(shaft_start[:, :2], np.broadcast_to(start_xy, (2, 2)), atol=1e-3)
            # It starts in the eye (its contour's depth on the mesh) and points out of the face, to the camera.
            z_eye = landmarks[list(line.landmarks), 2]
            assert z_eye.min() <= shaft_start[0, 2] <= z_eye.max()
            assert (tip[:, 2] - shaft_start[:, 2] > 0.5 * np.linalg.norm(line.gaze_vector)).all()
        # One call per face: the frame's arrays hold gaze_arrows of the closed-lid mesh.
        np.testing.assert_array_equal(arrays.gaze, gaze_arrows(face, landmarks))
