"""Constant-velocity motion model of one face box, for predicting where a track is next.

    motion = BoxMotion(box)            # x1, y1, x2, y2 of the first frame
    motion.predict()                   # once per frame, before looking at the frame
    motion.box                         # the prediction (the box of the latest update if seen)
    motion.update(box)                 # the face was seen there

A small Kalman filter on the box centre and side (state: cx, cy, side and their
velocities in pixels per frame). The tracker uses the prediction three ways: to move a
track's crop with the face before regressing (fast motion), to gate the assignment of
detections to tracks, and to look for a face that is hidden (coasting) where it should
be now. Noise levels are in units of the face's side, so the filter behaves alike for
a 20 px face in a crowd and a 400 px face at a webcam.
"""
from __future__ import annotations

import numpy as np

# Process noise (per frame) and measurement noise, as fractions of the face side.
# Landmark boxes jitter by about 1 % of the side; faces accelerate by a few percent of
# their side per frame when someone walks or turns.
_POSITION_NOISE = 0.05
_VELOCITY_NOISE = 0.02
_MEASUREMENT_NOISE = 0.03
# A hidden face's predicted velocity decays: after a second of coasting the prediction
# should not have sailed off across the frame. Its size is held: a face going behind a
# hand regresses smaller and smaller landmarks on its last frames, which is no motion.
_COAST_DAMPING = 0.9
# Faces do not move more than half their side, or grow more than 5 %, per frame (a bad
# regression on a half-hidden face can say so; the prediction must not believe it).
_MAX_SPEED = 0.5
_MAX_GROWTH = 0.05


class BoxMotion:
    """Kalman filter on (cx, cy, side) with constant velocity."""

    def __init__(self, box: np.ndarray) -> None:
        cx, cy, side = _centre_side(box)
        self.x = np.array([cx, cy, side, 0.0, 0.0, 0.0])
        s2 = side * side
        self.p = np.diag([0.01, 0.01, 0.01, 0.04, 0.04, 0.01]) * s2
        self.aspect = _aspect(box)
        self.unseen = 0  # frames predicted since the last update

    @property
    def box(self) -> np.ndarray:
        """The current estimate as x1, y1, x2, y2 (float32)."""
        cx, cy, side = self.x[:3]
        side = max(float(side), 1.0)
        half_w = side / 2
        half_h = side * self.aspect / 2
        return np.array([cx - half_w, cy - half_h, cx + half_w, cy + half_h], np.float32)

    def copy(self) -> "BoxMotion":
        twin = BoxMotion.__new__(BoxMotion)
        twin.x, twin.p, twin.aspect, twin.unseen = self.x.copy(), self.p.copy(), self.aspect, self.unseen
        return twin

    @property
    def velocity(self) -> np.ndarray:
        """(dx, dy) of the centre in pixels per frame."""
        return self.x[3:5].copy()

    def predict(self) -> None:
        """Advance one frame."""
        side = max(float(self.x[2]), 1.0)
        self.x[3:5] = np.clip(self.x[3:5], -_MAX_SPEED * side, _MAX_SPEED * side)
        self.x[5] = np.clip(self.x[5], -_MAX_GROWTH * side, _MAX_GROWTH * side)
        if self.unseen:
            self.x[3:5] *= _COAST_DAMPING
            self.x[5] = 0.0
        self.x[:3] += self.x[3:]
        side = max(float(self.x[2]), 1.0)
        f = np.eye(6)
        f[:3, 3:] = np.eye(3)
        q = np.diag([_POSITION_NOISE ** 2] * 3 + [_VELOCITY_NOISE ** 2] * 3) * side * side
        self.p = f @ self.p @ f.T + q
        self.unseen += 1

    def update(self, box: np.ndarray) -> None:
        """The face was measured at ``box`` in this frame."""
        z = np.array(_centre_side(box))
        side = max(float(z[2]), 1.0)
        h = np.zeros((3, 6))
        h[:, :3] = np.eye(3)
        r = np.eye(3) * (_MEASUREMENT_NOISE * side) ** 2
        s = h @ self.p @ h.T + r
        k = self.p @ h.T @ np.linalg.inv(s)
        self.x = self.x + k @ (z - h @ self.x)
        self.p = (np.eye(6) - k @ h) @ self.p
        self.aspect = 0.8 * self.aspect + 0.2 * _aspect(box)
        self.unseen = 0


def _centre_side(box: np.ndarray) -> tuple[float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    return (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, 1e-3)


def _aspect(box: np.ndarray) -> float:
    w = max(float(box[2] - box[0]), 1e-3)
    return float(np.clip((float(box[3]) - float(box[1])) / w, 0.5, 2.0))
