"""Temporal smoothing of tracked faces, as a stage of its own after the tracker.

Smoothers share one interface, the ``Smoother`` protocol, and are made by name from
one registry (``SMOOTHERS``, ``make_smoother``):

* ``push(result) -> list[FrameResult]``: hand over the next frame (in order); get back
  the frames that are ready, oldest first (0 or more).
* ``flush() -> list[FrameResult]``: end of the stream; returns every frame still held.
* ``reset()``: forget everything (a new video).
* ``delay_frames``: how many frames the output lags the input.

Every frame pushed comes out exactly once, in order, with the same index, timestamp
and image: nothing is lost or duplicated at the start, the end, or when a track
starts or ends.

Windows and filter states are kept per *segment* (``TrackedFace.segment``), not per
track ID: the tracker opens a new segment at every identity break (scene cut, loss,
re-detection, an ID given back), so no smoothed face ever mixes two people or two
shots, even when the ID carries over.

What is smoothed: per track, the *image-space* camera (the 3x4 crop-space camera
composed with the ROI's crop -> image map, ``FaceModel.image_camera``) and the 50
identity/expression coefficients: 62 numbers per face per frame. Landmarks (and the
dense mesh, rebuilt by the pipeline after smoothing) are then reconstructed from the
smoothed values, so sparse and dense outputs stay consistent with each other and
with the exported parameters, and dense smoothing costs 62 numbers instead of
115,095. Smoothing in crop space would let the ROI's frame-to-frame jumps leak in;
averaging vertices (upstream) costs a full mesh per frame and cannot give back
parameters for the table.

``LookAheadSmoother`` (offline): each output is a weighted local-linear fit over
``n_pre`` past and ``n_next`` future frames of the same track (Gaussian weights); a
local-linear fit is the plain weighted mean on a full symmetric window and stays
unbiased for steady motion where the window is cut by a track's start or end.
``OneEuroSmoother`` (live, zero frames of delay): One Euro filter (Casiez et al.
2012) on the same 62 numbers, with one cut-off per track driven by the landmark
speed in face sizes per second, so all 62 numbers are filtered alike.
"""
from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import numpy as np

from engine.config import SmootherConfig
from engine.face_model import N_POSE, FaceModel
from engine.frames import FrameResult, TrackedFace
from engine.results import Face
from engine.roi import box_from_landmarks
from engine.choices import SMOOTHERS as SMOOTHERS

if TYPE_CHECKING:
    from engine.config import SmootherConfig

N_STATE = 62  # 12 image-space camera numbers + 50 coefficients


def face_state(model: FaceModel, face: Face) -> np.ndarray:
    """(62,) float64: image-space camera (row-major) and the 50 coefficients."""
    return np.concatenate([model.image_camera(face.params, face.roi).reshape(-1),
                           np.asarray(face.params, np.float64)[N_POSE:]])


def face_from_state(model: FaceModel, face: Face, state: np.ndarray) -> Face:
    """A copy of ``face`` whose parameters, landmarks, pose and box come from ``state``.

    The ROI is kept; the parameters are expressed for it, so ``model.landmarks(params,
    roi)`` reproduces the smoothed landmarks. Dense vertices are dropped (rebuilt later).
    """
    camera, coefficients = state[:12].reshape(3, 4), state[12:]
    params = model.params_from_image_camera(camera, coefficients, face.roi)
    landmarks = model.landmarks_from_camera(camera, coefficients)
    return dataclasses.replace(face, params=params, landmarks=landmarks, pose=model.head_pose(params),
                               box=box_from_landmarks(landmarks), vertices=None)


def _with_faces(result: FrameResult, faces: list[TrackedFace]) -> FrameResult:
    return dataclasses.replace(result, faces=faces)


class Smoother(Protocol):
    """What the pipeline needs of a smoother (see the module docstring)."""

    @property
    def delay_frames(self) -> int: ...

    def push(self, result: FrameResult) -> list[FrameResult]: ...

    def flush(self) -> list[FrameResult]: ...

    def reset(self) -> None: ...


class PassThroughSmoother:
    """No smoothing (``smoother="off"``): every frame comes straight back."""

    delay_frames = 0

    def push(self, result: FrameResult) -> list[FrameResult]:
        return [result]

    def flush(self) -> list[FrameResult]:
        return []

    def reset(self) -> None:
        pass


class LookAheadSmoother:
    """Weighted local-linear fit over n_pre past and n_next future frames; delay n_next frames."""

    def __init__(self, model: FaceModel, n_pre: int = 3, n_next: int = 3, sigma: float = 2.0) -> None:
        if n_pre < 0 or n_next < 0:
            raise ValueError("n_pre and n_next must be >= 0")
        self.model = model
        self.n_pre = int(n_pre)
        self.n_next = int(n_next)
        self.sigma = float(sigma)
        self.reset()

    @property
    def delay_frames(self) -> int:
        return self.n_next

    def reset(self) -> None:
        # Each entry: (result, {segment: state}). Holds n_pre emitted frames + pending ones.
        self._frames: deque[tuple[FrameResult, dict[int, np.ndarray]]] = deque()
        self._pending = 0  # frames at the end of _frames not yet emitted

    def _weight(self, offset: int) -> float:
        if self.sigma <= 0:
            return 1.0
        return math.exp(-0.5 * (offset / self.sigma) ** 2)

    def push(self, result: FrameResult) -> list[FrameResult]:
        states = {tf.segment: face_state(self.model, tf.face) for tf in result.faces}
        self._frames.append((result, states))
        self._pending += 1
        out = []
        while self._pending > self.n_next:
            out.append(self._emit(len(self._frames) - self._pending))
            self._pending -= 1
        self._trim()
        return out

    def flush(self) -> list[FrameResult]:
        out = []
        while self._pending > 0:
            out.append(self._emit(len(self._frames) - self._pending))
            self._pending -= 1
        self._frames.clear()
        return out

    def _trim(self) -> None:
        while len(self._frames) - self._pending > self.n_pre:
            self._frames.popleft()

    def _emit(self, pos: int) -> FrameResult:
        result, states = self._frames[pos]
        faces = []
        for tf in result.faces:
            offsets, values = [0], [states[tf.segment]]
            # Walk outwards while the segment is present in consecutive frames.
            for direction, limit in ((-1, self.n_pre), (1, self.n_next)):
                for k in range(1, limit + 1):
                    j = pos + direction * k
                    if not 0 <= j < len(self._frames):
                        break
                    other = self._frames[j][1].get(tf.segment)
                    if other is None:
                        break
                    offsets.append(direction * k)
                    values.append(other)
            if len(values) == 1:
                faces.append(tf)
                continue
            coeffs = self._fit_coefficients(np.asarray(offsets, np.float64))
            state = coeffs @ np.asarray(values)
            faces.append(dataclasses.replace(tf, face=face_from_state(self.model, tf.face, state)))
        return _with_faces(result, faces)

    def _fit_coefficients(self, offsets: np.ndarray) -> np.ndarray:
        """Weights c with sum(c * x) = value at offset 0 of the weighted least-squares line."""
        w = np.array([self._weight(int(o)) for o in offsets])
        s0, s1, s2 = w.sum(), (w * offsets).sum(), (w * offsets * offsets).sum()
        det = s0 * s2 - s1 * s1
        if abs(s1) < 1e-9 or det <= 1e-9 * max(s0 * s2, 1e-12):
            return np.asarray(w / s0)  # symmetric window: the weighted mean
        return np.asarray(w * (s2 - s1 * offsets) / det)


class OneEuroSmoother:
    """Zero-latency One Euro filter per segment on the 62 image-space numbers.

    ``min_cutoff`` (Hz) sets the smoothing at rest; ``beta`` raises the cut-off with
    the speed of the face, measured as the mean landmark displacement in face sizes
    (landmark box diagonal) per second and itself low-passed at ``d_cutoff`` Hz.
    Time steps come from the frame timestamps (``1 / fps`` when they do not advance).
    """

    delay_frames = 0

    def __init__(self, model: FaceModel, min_cutoff: float = 1.5, beta: float = 2.0, d_cutoff: float = 1.0,
                 fps: float = 25.0) -> None:
        self.model = model
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.d_cutoff = float(d_cutoff)
        self.fps = float(fps)
        self.reset()

    def reset(self) -> None:
        # segment -> (state, smoothed landmarks xy, filtered speed, timestamp)
        self._tracks: dict[int, tuple[np.ndarray, np.ndarray, float, float]] = {}

    @staticmethod
    def _alpha(cutoff: float, dt: float) -> float:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def push(self, result: FrameResult) -> list[FrameResult]:
        faces = []
        seen = set()
        for tf in result.faces:
            seen.add(tf.segment)
            state = face_state(self.model, tf.face)
            prev = self._tracks.get(tf.segment)
            if prev is None:
                self._tracks[tf.segment] = (state, tf.face.landmarks[:, :2].astype(np.float64), 0.0,
                                             result.timestamp)
                faces.append(tf)
                continue
            prev_state, prev_xy, prev_speed, prev_t = prev
            dt = result.timestamp - prev_t
            if not dt > 0:
                dt = 1.0 / self.fps
            xy = tf.face.landmarks[:, :2].astype(np.float64)
            lo, hi = xy.min(axis=0), xy.max(axis=0)
            size = max(float(np.hypot(*(hi - lo))), 1.0)
            speed = float(np.linalg.norm(xy - prev_xy, axis=1).mean()) / size / dt
            speed_hat = prev_speed + self._alpha(self.d_cutoff, dt) * (speed - prev_speed)
            cutoff = self.min_cutoff + self.beta * speed_hat
            smoothed = prev_state + self._alpha(cutoff, dt) * (state - prev_state)
            face = face_from_state(self.model, tf.face, smoothed)
            self._tracks[tf.segment] = (smoothed, face.landmarks[:, :2].astype(np.float64), speed_hat,
                                        result.timestamp)
            faces.append(dataclasses.replace(tf, face=face))
        for gone in set(self._tracks) - seen:  # segments never come back
            del self._tracks[gone]
        return [_with_faces(result, faces)]

    def flush(self) -> list[FrameResult]:
        return []


SmootherFactory = Callable[[FaceModel, SmootherConfig, float], Smoother]

# The one registry of smoothers: name -> factory(model, config, fps).
_REGISTRY: dict[str, SmootherFactory] = {
    "lookahead": lambda model, cfg, fps: LookAheadSmoother(model, cfg.n_pre, cfg.n_next, cfg.sigma),
    "realtime": lambda model, cfg, fps: OneEuroSmoother(model, cfg.min_cutoff, cfg.beta, cfg.d_cutoff, fps=fps),
    "off": lambda model, cfg, fps: PassThroughSmoother(),
}
assert tuple(_REGISTRY) == SMOOTHERS, "engine.choices.Smoother and the registry name the same smoothers"


def make_smoother(kind: str, model: FaceModel, config: SmootherConfig | None = None,
                  fps: float = 25.0) -> Smoother:
    """The smoother registered as ``kind``, configured from a SmootherConfig."""
    factory = _REGISTRY.get(kind)
    if factory is None:
        raise ValueError(f"unknown smoother '{kind}' (choose {', '.join(SMOOTHERS)})")
    return factory(model, config or SmootherConfig(), fps)
