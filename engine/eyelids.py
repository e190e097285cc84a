"""Closed eyelids for the animation exports: a displacement of the dense mesh per eye.

    from engine.eyelids import lid_offsets, lid_closure
    offsets = lid_offsets(head_vertices, face_model.keypoints)   # (2, n, 3): right eye, left eye
    closed = head_vertices + lid_closure(face.eyes) @ offsets.reshape(2, -1)  # per frame

The face model cannot close an eye (its 10 expression components move the lids by
under a millimetre), so the eyes measured in the image (engine.eyes) drive a shape of
their own: each eye's upper lid slides down onto the lower lid. On the head-space mesh
(metres, +Y up, looking down +Z), between the eye corners:

* ``y_up(x)`` and ``y_low(x)``: the upper and lower lid lines, piecewise linear through
  the eye's six landmark vertices (iBUG 300-W 36-41 and 42-47);
* a vertex inside the opening (``y_low <= y <= y_up``) moves down onto the lower lid;
* a vertex above the upper lid, up to ``FOLD`` times the opening, moves down by the
  opening times a weight falling linearly to 0 at the top (the lid skin stretches).

The weight of the shape is ``1 - openness`` clipped to 0..1 (``lid_closure``): 1 is a
closed eye, 0 the person's neutral open eye; eyes wider than neutral keep the neutral shape.

The window closes the lids of every face it shows with the same shape, on the face's own
mesh of that frame (``EyeRegions.close_lids``), computed on the vertices near the eyes only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.results import Eyes

# Contours in the 68 landmarks: corner, upper lid (two), corner, lower lid (two), per eye.
_EYES = ((36, 37, 38, 39, 40, 41), (42, 43, 44, 45, 46, 47))  # the subject's right eye, then left
FOLD = 0.8  # height of the stretched lid skin above the upper lid line, in openings (the largest)
# Radius, in the mean face's eye widths around each eye's centre (x, y), of the vertices ``lid_offsets``
# may move on any face: on the 70 faces of obama.mp4, emma.jpg and identity/ none lay beyond 0.54.
REGION = 0.8


def lid_offsets(vertices: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """(2, n, 3) float32: displacement closing the right and the left eye of ``vertices``
    ((n, 3) head space, +Y up), whose 68 landmarks are ``vertices[keypoints]``."""
    v = np.asarray(vertices, np.float64)
    landmarks = v[np.asarray(keypoints)]
    out = np.zeros((2, *v.shape), np.float32)
    for k, contour in enumerate(_EYES):
        c0, u1, u2, c1, l1, l2 = (landmarks[i] for i in contour)
        upper = np.array([c0, u1, u2, c1])
        lower = np.array([c0, l2, l1, c1])
        upper, lower = upper[np.argsort(upper[:, 0])], lower[np.argsort(lower[:, 0])]
        x0, x1 = float(min(c0[0], c1[0])), float(max(c0[0], c1[0]))
        inside = (v[:, 0] > x0) & (v[:, 0] < x1)
        x, y = v[inside, 0], v[inside, 1]
        y_up = np.interp(x, upper[:, 0], upper[:, 1])
        y_low = np.interp(x, lower[:, 0], lower[:, 1])
        gap = np.maximum(y_up - y_low, 0.0)
        fold = FOLD * float(gap.max(initial=0.0))
        # Only the front of the face: the eye region's depth, not a surface behind it.
        z_eye = float(np.mean([c0[2], c1[2], u1[2], u2[2]]))
        near = np.abs(v[inside, 2] - z_eye) < 2 * (x1 - x0)
        dy = np.zeros_like(y)
        opening = (y >= y_low) & (y <= y_up)
        dy[opening] = -(y[opening] - y_low[opening])
        if fold > 0:
            skin = (y > y_up) & (y < y_up + fold)
            dy[skin] = -gap[skin] * (1.0 - (y[skin] - y_up[skin]) / fold)
        dy[~near] = 0.0
        rows = np.flatnonzero(inside)
        out[k, rows, 1] = dy
    return out


def lid_closure(eyes: Eyes | None) -> np.ndarray:
    """(2,) float32 weights of the (right, left) closed-lid shapes: 1 - openness, in 0..1."""
    if eyes is None:
        return np.zeros(2, np.float32)
    closure = 1.0 - np.array([eyes.right.openness, eyes.left.openness], np.float32)
    return np.clip(np.nan_to_num(closure, nan=0.0), 0.0, 1.0)  # not measured: open


@dataclass(frozen=True)
class EyeRegions:
    """The vertices of one face model's meshes near its eyes, found once on the mean face: closing
    the lids of a frame's mesh reads and moves these alone (a tenth of the mesh)."""

    rows: np.ndarray  # (m,) vertex indices within REGION eye widths of either eye's centre
    keypoints: np.ndarray  # (68,) the landmark vertices (lid_offsets draws the lid lines through them)

    @classmethod
    def of(cls, vertices: np.ndarray, keypoints: np.ndarray) -> EyeRegions:
        """The regions of the topology whose mean face is ``vertices`` ((n, 3) head space, +Y up)."""
        v = np.asarray(vertices, np.float64)
        keypoints = np.asarray(keypoints, np.int64)
        near = np.zeros(len(v), bool)
        for contour in _EYES:
            eye = v[keypoints[list(contour)]]
            centre, width = eye.mean(axis=0), float(np.linalg.norm(eye[3] - eye[0]))
            near |= np.hypot(v[:, 0] - centre[0], v[:, 1] - centre[1]) <= REGION * width
        return cls(rows=np.flatnonzero(near), keypoints=keypoints)

    def close_lids(self, vertices: np.ndarray, camera: np.ndarray, closure: np.ndarray) -> np.ndarray:
        """``vertices`` ((n, 3) float32 image space) with the lids closed by ``closure`` (``lid_closure``'s
        (right, left) weights); ``vertices`` itself when neither eye closes. ``camera``: the (3, 3) linear
        part of the face's model -> image map (``FaceModel.image_camera``)."""
        closure = np.asarray(closure, np.float32)
        camera = np.asarray(camera, np.float64)
        if not np.any(closure > 0):
            return vertices
        if not np.isfinite(camera).all() or abs(np.linalg.det(camera)) < 1e-12:
            return vertices  # a degenerate pose (no scale): nothing to map back; the mesh as tracked
        # lid_offsets wants head space (+Y up); it is blind to a shift and a uniform scale, so the
        # model axes (the image points through the camera's inverse, no translation) are enough.
        rows = np.concatenate([self.rows, self.keypoints])
        head = np.asarray(vertices)[rows].astype(np.float64) @ np.linalg.inv(camera).T
        offsets = lid_offsets(head, np.arange(len(self.rows), len(rows)))[:, :len(self.rows)]
        out = np.array(vertices, np.float32)
        out[self.rows] += (np.tensordot(closure, offsets, axes=1) @ camera.T).astype(np.float32)
        return out
