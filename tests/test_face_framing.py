"""The 3D view's framing and picking (tracker_app.face_framing) on emma.jpg's three faces, tracked
densely as the app tracks them: which faces are framed, that they fit the view at any turn, and
which face a pixel picks (the nearest where several overlap)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.display_arrays import display_arrays
from engine.frames import FrameResult, TrackedFace
from tracker_app.display_frame import DisplayFrame
from tracker_app.face_framing import face_at, face_vertices, framed_faces, framing_mvp
from tracker_app.view_math import OrbitCamera

VIEW = (640, 400)  # width, height in pixels
PERSONS = (4, 9, 2)  # person ids, not in face order, so an index is never mistaken for an id


@pytest.fixture(scope="module")
def emma(live_analyzer, media_dir) -> DisplayFrame:
    image = cv2.imread(str(media_dir / "emma.jpg"))
    faces = live_analyzer.analyze(image, dense=True)
    assert len(faces) == 3
    result = FrameResult(0, 0.0, image, [TrackedFace(i + 1, f, i + 1, p) for i, (f, p) in
                                         enumerate(zip(faces, PERSONS))])
    model = live_analyzer.face_model
    return DisplayFrame(result, display_arrays(result, model), (model.triangles,), pulled_at=0.0)


def _project(camera: OrbitCamera, frame: DisplayFrame, focus: int | None, face: int) -> np.ndarray:
    """The face's vertices as view pixels (x, y down) and NDC depth, (n, 3)."""
    mvp = framing_mvp(camera, frame, focus, *VIEW)
    clip = np.c_[face_vertices(frame, face), np.ones(frame.n_vertices)] @ mvp.T
    ndc = clip[:, :3] / clip[:, 3:]
    return np.c_[(ndc[:, 0] + 1) / 2 * VIEW[0], (1 - ndc[:, 1]) / 2 * VIEW[1], ndc[:, 2]]


def _box_centre(points: np.ndarray) -> tuple[float, float]:
    lo, hi = points[:, :2].min(axis=0), points[:, :2].max(axis=0)
    return float(lo[0] + hi[0]) / 2, float(lo[1] + hi[1]) / 2


def test_framed_faces_are_the_focused_one_or_all(emma) -> None:
    assert framed_faces(emma, None) == [0, 1, 2]
    assert framed_faces(emma, PERSONS[1]) == [1]
    assert framed_faces(emma, 99) == [0, 1, 2]  # a person no longer in the frame: every face


@pytest.mark.parametrize("turn", [(0, 0), (90, 0), (-40, 30)])
def test_every_framed_face_fits_the_view_at_any_turn(emma, turn) -> None:
    camera = OrbitCamera()
    camera.orbit(*turn)
    for focus, faces in ((None, range(3)), (PERSONS[0], [0])):
        for i in faces:
            p = _project(camera, emma, focus, i)
            assert (p[:, 0] > 0).all() and (p[:, 0] < VIEW[0]).all(), f"face {i} leaves the view sideways"
            assert (p[:, 1] > 0).all() and (p[:, 1] < VIEW[1]).all(), f"face {i} leaves the view vertically"
            assert (np.abs(p[:, 2]) < 1).all(), f"face {i} is cut by a clip plane"


def test_a_pixel_picks_the_face_drawn_there_and_the_background_none(emma) -> None:
    camera = OrbitCamera()
    for i, person in enumerate(PERSONS):
        assert face_at(camera, emma, None, *_box_centre(_project(camera, emma, None, i)), *VIEW) == person
    assert face_at(camera, emma, None, 2, 2, *VIEW) is None
    # Centred on one face, its neighbours are out of view: the centre picks it.
    assert face_at(camera, emma, PERSONS[2], VIEW[0] / 2, VIEW[1] / 2, *VIEW) == PERSONS[2]


def test_where_faces_overlap_the_nearest_is_picked(emma) -> None:
    camera = OrbitCamera()
    camera.orbit(90 / camera.degrees_per_pixel, 0)  # seen from the side: the faces line up in depth
    projected = [_project(camera, emma, None, i) for i in range(3)]
    x, y = _box_centre(projected[1])
    under = [i for i, p in enumerate(projected)
             if p[:, 0].min() <= x <= p[:, 0].max() and p[:, 1].min() <= y <= p[:, 1].max()]
    assert len(under) >= 2, "the faces should overlap from the side"
    nearest = min(under, key=lambda i: float(np.median(projected[i][:, 2])))
    # Turned 90 degrees the image's x runs away from the camera: the leftmost face is the nearest.
    leftmost = int(np.argmin([face_vertices(emma, i)[:, 0].mean() for i in range(3)]))
    assert nearest == leftmost or leftmost not in under
    assert face_at(camera, emma, None, x, y, *VIEW) == PERSONS[nearest]
