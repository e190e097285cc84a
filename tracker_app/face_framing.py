"""The 3D view's framing of faces: which faces it centres on, the matrix that frames them and
which face lies under a pixel (picking). No Qt, no GL: the view asks with its size and camera.

Framing and picking use the same sparse sample of each face's vertices, so a click lands on
the face as framed.
"""
from __future__ import annotations

import numpy as np

from tracker_app.display_frame import DisplayFrame
from tracker_app.view_math import OrbitCamera

FRAMING_STRIDE = 16  # every 16th vertex is enough to frame and pick faces (2,400 of 38,365)


def face_vertices(frame: DisplayFrame, face: int) -> np.ndarray:
    """Image-space vertices (n, 3) of the ``face``-th face of ``frame``."""
    n = frame.arrays.n_vertices
    return frame.arrays.mesh[face * n:(face + 1) * n, :3]


def framed_faces(frame: DisplayFrame, focus_person: int | None) -> list[int]:
    """The faces the 3D view frames: the one centred on (``focus_person``), else all."""
    ids = [tf.person_id for tf in frame.result.faces]
    return [ids.index(focus_person)] if focus_person in ids else list(range(frame.n_faces))


def framing_mvp(camera: OrbitCamera, frame: DisplayFrame, focus_person: int | None,
                width: int, height: int) -> np.ndarray:
    """Image space -> clip space for ``frame`` in a width x height view: the framed faces fill it
    at the camera's default distance and turn."""
    points = np.concatenate([face_vertices(frame, i)[::FRAMING_STRIDE]
                             for i in framed_faces(frame, focus_person)])
    aspect = width / max(height, 1)
    center, radius, depth = camera.framing(points, aspect)
    return camera.mvp(center, radius, aspect, depth)


def face_at(camera: OrbitCamera, frame: DisplayFrame, focus_person: int | None,
            x: float, y: float, width: int, height: int) -> int | None:
    """The person id of the face drawn at pixel (x, y) of a width x height view (y down), the
    nearest one where projected faces overlap; None on the background."""
    if not frame.n_faces:
        return None
    mvp = framing_mvp(camera, frame, focus_person, width, height)
    best: tuple[float, int] | None = None
    for i, tf in enumerate(frame.result.faces):
        points = face_vertices(frame, i)[::FRAMING_STRIDE]
        clip = np.hstack([points, np.ones((len(points), 1), np.float32)]) @ mvp.T
        ndc = clip[:, :3] / clip[:, 3:]
        px = (ndc[:, 0] + 1) / 2 * width
        py = (1 - ndc[:, 1]) / 2 * height
        if px.min() <= x <= px.max() and py.min() <= y <= py.max():
            depth = float(np.median(ndc[:, 2]))
            if best is None or depth < best[0]:
                best = (depth, tf.person_id)
    return None if best is None else best[1]
