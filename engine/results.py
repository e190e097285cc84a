"""Typed results of the engine. Plain data: no model references, safe to pickle or send across threads."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class HeadPose:
    """Head orientation. Angles in degrees, upstream 3DDFA conventions:
    yaw = asin(R[2, 0]), pitch = atan2(R[2, 1], R[2, 2]), roll = atan2(R[1, 0], R[0, 0])."""

    yaw: float
    pitch: float
    roll: float
    rotation: np.ndarray  # (3, 3) orthonormal, model -> crop space (crop y points up)
    scale: float  # model units -> crop pixels

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.yaw, self.pitch, self.roll)


# The per-eye numbers of the table, the npz and ``Eyes.as_array``, in that order.
EYE_QUANTITIES = ("openness", "yaw", "pitch", "pupil_x", "pupil_y")


@dataclass(frozen=True)
class EyeState:
    """One eye, calibrated: what the table, the stream and the animation carry."""

    openness: float  # 0 closed, 1 the person's neutral opening, above 1 wide open
    yaw: float  # degrees, > 0 towards the subject's right, relative to the head
    pitch: float  # degrees, > 0 looking down, relative to the head
    pupil: tuple[float, float]  # image pixels
    valid: bool = True  # false: not measurable (too small, no iris seen): the numbers are NaN


@dataclass(frozen=True)
class Eyes:
    """Both eyes of a face; right and left are the subject's (ARKit's convention)."""

    right: EyeState
    left: EyeState

    def as_array(self) -> np.ndarray:
        """(2, 5) float64: per eye (right, left) openness, yaw, pitch, pupil x, pupil y."""
        return np.array([[e.openness, e.yaw, e.pitch, e.pupil[0], e.pupil[1]] for e in (self.right, self.left)])

    @property
    def openness(self) -> float:
        """Both eyes' mean openness."""
        return 0.5 * (self.right.openness + self.left.openness)

    def to_dict(self) -> dict[str, dict[str, object]]:
        """JSON-ready (``--json`` of detect)."""
        def number(v: float, digits: int) -> float | None:  # JSON has no NaN: null when not measured
            return round(v, digits) if math.isfinite(v) else None

        return {side: {"openness": number(e.openness, 4), "yaw": number(e.yaw, 3), "pitch": number(e.pitch, 3),
                       "pupil": [number(e.pupil[0], 2), number(e.pupil[1], 2)], "valid": e.valid}
                for side, e in (("right", self.right), ("left", self.left))}


def eyes_from_array(values: np.ndarray) -> Eyes:
    """Inverse of ``Eyes.as_array`` (the eyes as the table and the VMC pipe carry them)."""
    v = np.asarray(values, np.float64).reshape(2, len(EYE_QUANTITIES)).tolist()
    right, left = (EyeState(openness=e[0], yaw=e[1], pitch=e[2], pupil=(e[3], e[4])) for e in v)
    return Eyes(right=right, left=left)


@dataclass
class Face:
    """One face in one image.

    Coordinates are image pixels (x right, y down). ``landmarks`` and ``vertices``
    carry a third column, depth z in pixel units with larger z nearer the camera,
    shifted so the smallest z of that point set is 0 (upstream convention).
    """

    box: np.ndarray  # (4,) float32 x1, y1, x2, y2: detector box, or landmark box when tracked
    score: float  # detector score, or the tracker's face-likeness when tracked
    roi: np.ndarray  # (4,) float32 x1, y1, x2, y2: the square crop fed to the regressor
    params: np.ndarray  # (62,) float32: 12 pose (3x4 [sR|t] row-major), 40 identity, 10 expression
    landmarks: np.ndarray  # (68, 3) float32, iBUG 300-W order
    pose: HeadPose
    vertices: np.ndarray | None = field(default=None, repr=False)  # (38365, 3) float32 when dense
    eyes: Eyes | None = None  # per-eye openness, gaze and pupil (engine.eyes) when measured

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (lists of floats)."""
        d = {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 4),
            "roi": [round(float(v), 2) for v in self.roi],
            "pose": {"yaw": round(self.pose.yaw, 3), "pitch": round(self.pose.pitch, 3),
                     "roll": round(self.pose.roll, 3),
                     "rotation": np.round(self.pose.rotation, 6).tolist(),
                     "scale": float(self.pose.scale)},
            "params": [float(v) for v in self.params],
            "landmarks": np.round(self.landmarks.astype(np.float64), 3).tolist(),
        }
        if self.eyes is not None:
            d["eyes"] = self.eyes.to_dict()
        if self.vertices is not None:
            d["vertices"] = np.round(self.vertices.astype(np.float64), 2).tolist()
        return d
