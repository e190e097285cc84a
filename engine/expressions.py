"""Named expression weights (ARKit and VRM 0 blendshapes) and head motion relative to a neutral face.

    from engine.expressions import Calibration, ExpressionModel
    model = ExpressionModel(analyzer.face_model, config.expressions)
    calibration = Calibration()                       # until the user sets a neutral face
    calibration = model.neutral_from(face)            # "Set neutral": this face is the rest pose
    weights = model.weights(face, calibration)        # {"jawOpen": 0.8, ..., "A": 0.7, "Blink_L": 0.0}
    motion = model.head_motion(face, frame_size, calibration)   # rotation and position vs neutral

How a weight is made (the mapping is the table ``BLENDSHAPES`` below, and docs/vmc.md):

1. ``measure``: the face's 68 landmarks rebuilt *pose-free* from its 40 identity and 10
   expression coefficients (the model's own frame: x to the subject's left, y up, z
   forward), and ten geometric measures of that shape in units of the outer
   eye-corner distance (mouth opening, chin drop, mouth width, corner heights, brow
   heights, eye openness, ...). Pose-free, so turning the head changes no weight;
   relative to the eye distance, so the face's size in the picture does not either.
2. Each measure minus the same measure of the neutral face, divided by that measure's
   range (the change that means "fully"), clipped to 0..1, gives a unit excursion.
   The neutral face is the user's, once set; before that it is the same person with the
   10 expression coefficients at zero (the face model's own neutral expression).
3. Blendshapes are those excursions, or small products of them (a funnel is a narrow
   *and* open mouth, a pucker a narrow and closed one).

Left and Right are the subject's, as in ARKit (``eyeBlinkLeft`` is the user's left eye);
``mirrored(weights)`` swaps them for a mirrored avatar.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping

import numpy as np

from engine.config import ExpressionConfig
from engine.face_model import N_POSE, N_SHAPE, FaceModel, rotation_angles
from engine.results import Eyes, Face

# iBUG 300-W indices (the subject's left and right).
RIGHT_EYE = (36, 37, 38, 39, 40, 41)
LEFT_EYE = (42, 43, 44, 45, 46, 47)
RIGHT_BROW = (17, 18, 19, 20, 21)
LEFT_BROW = (22, 23, 24, 25, 26)
EYE_CORNERS = (36, 45)  # outer corners: the unit of length
INNER_LIPS = ((61, 67), (62, 66), (63, 65))
MOUTH_RIGHT, MOUTH_LEFT = 48, 54
UPPER_LIP, LOWER_LIP = (51, 62), (57, 66)  # outer and inner midpoints
CORNER_LINE = 0.3  # of the way from the upper to the lower lip midpoints
NOSE_TIP, CHIN = 30, 8

# The measures, in eye-corner distances (eye openness: eye aspect ratio).
MEASURES = ("mouth_open", "jaw_drop", "mouth_width", "corner_left", "corner_right", "brow_inner",
            "brow_left", "brow_right", "eye_left", "eye_right")
_INDEX = {name: i for i, name in enumerate(MEASURES)}


# Point pairs whose distances the measures use, in one vectorised norm: the unit, the three
# inner-lip gaps, the mouth width, then per eye (left, right) two lid gaps and the width.
_PAIRS = np.array([EYE_CORNERS, *INNER_LIPS, (MOUTH_LEFT, MOUTH_RIGHT),
                   (43, 47), (44, 46), (42, 45), (37, 41), (38, 40), (36, 39)])
# Mean heights (y) of point groups, as one (groups, 68) averaging matrix; then single points.
_GROUPS = (RIGHT_EYE, LEFT_EYE, UPPER_LIP, LOWER_LIP, LEFT_BROW, RIGHT_BROW, (21, 22),
           (NOSE_TIP,), (CHIN,), (MOUTH_LEFT,), (MOUTH_RIGHT,))
_MEAN_Y = np.zeros((len(_GROUPS), 68))
for _row, _group in enumerate(_GROUPS):
    _MEAN_Y[_row, list(_group)] = 1.0 / len(_group)


def measure_shape(shape: np.ndarray) -> np.ndarray:
    """(10,) measures (order ``MEASURES``) of a pose-free (68, 3) shape (x subject's left, y up);
    (k, 10) for a (k, 68, 3) stack."""
    s = np.asarray(shape, np.float64)
    d = np.linalg.norm(s[..., _PAIRS[:, 0], :] - s[..., _PAIRS[:, 1], :], axis=-1)
    unit = d[..., 0]
    if not np.all((unit > 0) & np.isfinite(unit)):
        raise ValueError("degenerate face shape (eye corners coincide)")
    y = s[..., 1] @ _MEAN_Y.T
    right_eye, left_eye, upper, lower, left_brow, right_brow, inner_brow, nose, chin, m_left, m_right = (
        y[..., k] for k in range(len(_GROUPS)))
    # Corner heights against a line between the lips that the corners follow as the jaw
    # opens (measured on the media: uncorrelated with the opening at this fraction), so
    # talking reads neither as a smile nor as a frown.
    mouth_centre = upper + CORNER_LINE * (lower - upper)
    lengths = np.stack([d[..., 1:4].mean(axis=-1), nose - chin, d[..., 4], m_left - mouth_centre,
                        m_right - mouth_centre, inner_brow - (right_eye + left_eye) / 2,
                        left_brow - left_eye, right_brow - right_eye], axis=-1) / unit[..., None]
    # Eye aspect ratio: lid distance / eye width.
    eyes = np.stack([(d[..., 5] + d[..., 6]) / (2 * d[..., 7]), (d[..., 8] + d[..., 9]) / (2 * d[..., 10])],
                    axis=-1)
    return np.concatenate([lengths, eyes], axis=-1)


# -- the mapping ---------------------------------------------------------------------------

# Unit excursions: (name, measure, direction). +1: the measure grows past neutral.
EXCURSIONS: tuple[tuple[str, str, int], ...] = (
    ("open", "mouth_open", +1), ("jaw", "jaw_drop", +1),
    ("wide", "mouth_width", +1), ("narrow", "mouth_width", -1),
    ("corner_up_left", "corner_left", +1), ("corner_up_right", "corner_right", +1),
    ("corner_down_left", "corner_left", -1), ("corner_down_right", "corner_right", -1),
    ("brow_inner_up", "brow_inner", +1),
    ("brow_down_left", "brow_left", -1), ("brow_down_right", "brow_right", -1),
    ("eye_closed_left", "eye_left", -1), ("eye_closed_right", "eye_right", -1),
)

_EXCURSION_NAMES = tuple(name for name, _, _ in EXCURSIONS)
_EXCURSION_MEASURE = np.array([_INDEX[m] for _, m, _ in EXCURSIONS])
_SIGNS = np.array([sign for _, _, sign in EXCURSIONS], np.float64)

Excursions = Mapping[str, float]


@dataclass(frozen=True)
class Blendshape:
    """One named weight: how it is made from the unit excursions, and that in words (docs/vmc.md)."""

    name: str
    formula: Callable[[Excursions], float]
    driven_by: str


def _one(key: str) -> Callable[[Excursions], float]:
    return lambda e: e[key]


def _vowel_a(e: Excursions) -> float:
    return e["open"] * (1 - max(e["wide"], e["narrow"]))


BLENDSHAPES: tuple[Blendshape, ...] = (
    Blendshape("jawOpen", _one("jaw"), "chin drop below the nose tip"),
    Blendshape("mouthClose", lambda e: max(0.0, e["jaw"] - e["open"]),
               "jaw dropped while the lips stay together (chin drop minus lip opening)"),
    Blendshape("mouthFunnel", lambda e: math.sqrt(e["narrow"] * e["open"]), "mouth narrower and open"),
    Blendshape("mouthPucker", lambda e: e["narrow"] * (1 - e["open"]), "mouth narrower with the lips closed"),
    Blendshape("mouthSmileLeft", _one("corner_up_left"),
               "left mouth corner raised above the lips' parting line"),
    Blendshape("mouthSmileRight", _one("corner_up_right"),
               "right mouth corner raised above the lips' parting line"),
    Blendshape("mouthFrownLeft", _one("corner_down_left"), "left mouth corner lowered"),
    Blendshape("mouthFrownRight", _one("corner_down_right"), "right mouth corner lowered"),
    Blendshape("mouthStretchLeft", lambda e: e["wide"] * (1 - e["corner_up_left"]),
               "mouth wider without the left corner rising"),
    Blendshape("mouthStretchRight", lambda e: e["wide"] * (1 - e["corner_up_right"]),
               "mouth wider without the right corner rising"),
    Blendshape("browInnerUp", _one("brow_inner_up"), "inner brow ends raised above the eye line"),
    Blendshape("browDownLeft", _one("brow_down_left"), "left brow lowered towards the left eye"),
    Blendshape("browDownRight", _one("brow_down_right"), "right brow lowered towards the right eye"),
    Blendshape("eyeBlinkLeft", _one("blink_left"), "left eye closing: its measured openness (engine.eyes) "
               "from 0.75 down to 0.25; the eye aspect ratio below neutral when the eyes are not measured"),
    Blendshape("eyeBlinkRight", _one("blink_right"), "right eye closing, as eyeBlinkLeft"),
    Blendshape("eyeLookInLeft", _one("look_in_left"), "left eyeball turned towards the nose (0 to 30 degrees)"),
    Blendshape("eyeLookOutLeft", _one("look_out_left"), "left eyeball turned away from the nose"),
    Blendshape("eyeLookUpLeft", _one("look_up_left"), "left eyeball turned up"),
    Blendshape("eyeLookDownLeft", _one("look_down_left"), "left eyeball turned down"),
    Blendshape("eyeLookInRight", _one("look_in_right"), "right eyeball turned towards the nose"),
    Blendshape("eyeLookOutRight", _one("look_out_right"), "right eyeball turned away from the nose"),
    Blendshape("eyeLookUpRight", _one("look_up_right"), "right eyeball turned up"),
    Blendshape("eyeLookDownRight", _one("look_down_right"), "right eyeball turned down"),
    # VRM 0 presets (VRM 1: aa ih ou ee oh blinkLeft blinkRight).
    Blendshape("A", _vowel_a, "mouth open, width unchanged"),
    Blendshape("I", lambda e: e["wide"] * (1 - e["open"]), "mouth wider, lips nearly together"),
    Blendshape("U", lambda e: e["narrow"] * (1 - e["open"]), "mouth narrower, lips nearly together"),
    Blendshape("E", lambda e: math.sqrt(e["wide"] * e["open"]), "mouth wider and open"),
    Blendshape("O", lambda e: math.sqrt(e["narrow"] * e["open"]), "mouth narrower and open"),
    Blendshape("Blink_L", _one("blink_left"), "as eyeBlinkLeft"),
    Blendshape("Blink_R", _one("blink_right"), "as eyeBlinkRight"),
    # VRM 1.0 eye presets (the mouth's aa ih ou ee oh are VRM 0's A I U E O above).
    Blendshape("blink", lambda e: min(e["blink_left"], e["blink_right"]), "both eyes closing (the lesser)"),
    Blendshape("blinkLeft", _one("blink_left"), "as eyeBlinkLeft"),
    Blendshape("blinkRight", _one("blink_right"), "as eyeBlinkRight"),
    Blendshape("lookUp", lambda e: 0.5 * (e["look_up_left"] + e["look_up_right"]), "both eyes turned up"),
    Blendshape("lookDown", lambda e: 0.5 * (e["look_down_left"] + e["look_down_right"]), "both eyes turned down"),
    Blendshape("lookLeft", lambda e: 0.5 * (e["look_out_left"] + e["look_in_right"]),
               "both eyes turned to the subject's left"),
    Blendshape("lookRight", lambda e: 0.5 * (e["look_in_left"] + e["look_out_right"]),
               "both eyes turned to the subject's right"),
)
BLENDSHAPE_NAMES = tuple(b.name for b in BLENDSHAPES)
ARKIT_NAMES = BLENDSHAPE_NAMES[:BLENDSHAPE_NAMES.index("A")]
VRM_NAMES = BLENDSHAPE_NAMES[BLENDSHAPE_NAMES.index("A"):BLENDSHAPE_NAMES.index("blink")]  # VRM 0 presets
VRM1_EYE_NAMES = BLENDSHAPE_NAMES[BLENDSHAPE_NAMES.index("blink"):]
# Driven by the measured eyes (engine.eyes), whose neutral is the eye estimator's per person
# (EyeEstimator.set_neutral), not this module's Calibration.
EYE_BLENDSHAPE_NAMES = tuple(n for n in BLENDSHAPE_NAMES if n.startswith(("eyeBlink", "eyeLook", "Blink_"))
                             ) + VRM1_EYE_NAMES


def eye_excursions(eyes: Eyes | None, fallback: Excursions, config: ExpressionConfig) -> dict[str, float]:
    """The eye entries of the excursions: blinks from each eye's measured openness (a linear
    ramp from ``blink_open`` down to ``blink_closed``) and the look directions from its
    gaze (``look_range_deg`` is a weight of 1). Without measured eyes: blinks from the eye
    aspect ratio (``fallback``'s eye_closed_*), no look; the same for an eye not measurable."""
    span = config.blink_open - config.blink_closed
    out: dict[str, float] = {}
    for side in ("left", "right"):
        eye = None if eyes is None else (eyes.left if side == "left" else eyes.right)
        if eye is None or not eye.valid:  # not measured: the landmarks' blink, no look
            out[f"blink_{side}"] = fallback[f"eye_closed_{side}"]
            out.update({f"look_{d}_{side}": 0.0 for d in ("in", "out", "up", "down")})
            continue
        out[f"blink_{side}"] = min(1.0, max(0.0, (config.blink_open - eye.openness) / span))
        # yaw > 0 turns towards the subject's right: inwards for the left eye, outwards for the right.
        inward = eye.yaw if side == "left" else -eye.yaw
        for name, angle in (("in", inward), ("out", -inward), ("up", -eye.pitch), ("down", eye.pitch)):
            out[f"look_{name}_{side}"] = min(1.0, max(0.0, angle / config.look_range_deg))
    return out


def _mirror_name(name: str) -> str:
    for a, b in (("Left", "Right"), ("_L", "_R")):
        if name.endswith(a):
            return name[: -len(a)] + b
        if name.endswith(b):
            return name[: -len(b)] + a
    return name


MIRRORED_NAME = {name: _mirror_name(name) for name in BLENDSHAPE_NAMES}


def mirrored(weights: Mapping[str, float]) -> dict[str, float]:
    """The same weights for a mirrored avatar: every Left/Right (and _L/_R) pair swapped."""
    return {MIRRORED_NAME.get(name, name): value for name, value in weights.items()}


# -- calibration and head motion ------------------------------------------------------------

@dataclass(frozen=True)
class Calibration:
    """A user's neutral face and ranges. ``neutral_*`` None: not set yet (see the module notes).

    ``range_scale`` multiplies the configured ranges per measure (a user whose smile is
    small gets a smaller range, so it still reaches 1); ``fitted`` learns it from samples.
    """

    neutral_measures: tuple[float, ...] | None = None
    neutral_rotation: tuple[float, ...] | None = None  # 9 values, row-major (camera frame)
    neutral_center: tuple[float, float] | None = None  # face centre, image pixels
    neutral_eye_distance: float | None = None  # outer eye corners, image pixels
    range_scale: tuple[float, ...] = field(default=(1.0,) * len(MEASURES))

    @property
    def is_set(self) -> bool:
        return self.neutral_measures is not None

    def to_dict(self) -> dict[str, object]:
        return {"neutral_measures": self.neutral_measures, "neutral_rotation": self.neutral_rotation,
                "neutral_center": self.neutral_center, "neutral_eye_distance": self.neutral_eye_distance,
                "range_scale": self.range_scale}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> "Calibration":
        """Inverse of ``to_dict`` (stored settings); wrong lengths raise ValueError."""
        def floats(key: str, n: int) -> tuple[float, ...] | None:
            value = data.get(key)
            if value is None:
                return None
            out = tuple(float(v) for v in value)  # type: ignore[attr-defined]
            if len(out) != n:
                raise ValueError(f"calibration '{key}' needs {n} numbers, got {len(out)}")
            return out

        center = floats("neutral_center", 2)
        eye = data.get("neutral_eye_distance")
        return cls(neutral_measures=floats("neutral_measures", len(MEASURES)),
                   neutral_rotation=floats("neutral_rotation", 9),
                   neutral_center=None if center is None else (center[0], center[1]),
                   neutral_eye_distance=None if eye is None else float(eye),  # type: ignore[arg-type]
                   range_scale=floats("range_scale", len(MEASURES)) or (1.0,) * len(MEASURES))


@dataclass(frozen=True)
class HeadMotion:
    """Head rotation and position relative to the neutral pose, in the camera frame.

    ``rotation``: (3, 3) rotation taking the neutral head orientation to the current one,
    in camera axes (x right in the picture, y up, z towards the camera; right-handed).
    ``position``: metres, same axes, from the neutral face centre (x, y from the picture,
    z from the change in face size at ``camera_distance_m``).
    ``yaw``, ``pitch``, ``roll``: degrees, the upstream decomposition of ``rotation``
    (``HeadPose``'s convention); all 0 right after Set neutral.
    """

    rotation: np.ndarray
    position: np.ndarray
    yaw: float
    pitch: float
    roll: float


class ExpressionModel:
    """Measures faces and turns them into named weights and head motion (one per face model)."""

    def __init__(self, face_model: FaceModel, config: ExpressionConfig) -> None:
        self._mean = face_model.sparse_mean.astype(np.float64)
        self._basis = face_model.sparse_basis.astype(np.float64)
        self.config = config
        ranges = np.array([config.ranges[name] for name in MEASURES], np.float64)
        if np.any(ranges <= 0):
            raise ValueError("expression ranges must be positive")
        if config.blink_open <= config.blink_closed:
            raise ValueError("expressions: blink_open must be above blink_closed")
        self._ranges = ranges

    def shape(self, params: np.ndarray, neutral_expression: bool = False) -> np.ndarray:
        """(68, 3) pose-free landmarks of a face's 50 coefficients (expression zeroed on request)."""
        coefficients = np.asarray(params, np.float64).reshape(-1)[N_POSE:].copy()
        if neutral_expression:
            coefficients[N_SHAPE:] = 0.0
        return (self._mean + self._basis @ coefficients).reshape(68, 3)

    def _shape_and_own_neutral(self, params: np.ndarray) -> np.ndarray:
        """(2, 68, 3): the face, and the same face with its expression at zero, in one product."""
        coefficients = np.asarray(params, np.float64).reshape(-1)[N_POSE:]
        both = np.stack([coefficients, coefficients])
        both[1, N_SHAPE:] = 0.0
        return (self._mean + both @ self._basis.T).reshape(2, 68, 3)

    def measure(self, face: Face) -> np.ndarray:
        """The face's (10,) measures, order ``MEASURES``."""
        return measure_shape(self.shape(face.params))

    def excursions(self, face: Face, calibration: Calibration) -> dict[str, float]:
        """Unit excursions (0..1) from the neutral face, per ``EXCURSIONS`` name."""
        return self.excursions_of(face.params, calibration)

    def excursions_of(self, params: np.ndarray, calibration: Calibration) -> dict[str, float]:
        """``excursions`` from a face's 62 parameters alone."""
        if calibration.neutral_measures is not None:
            current = measure_shape(self.shape(params))
            neutral = np.asarray(calibration.neutral_measures, np.float64)
        else:
            current, neutral = measure_shape(self._shape_and_own_neutral(params))
        delta = (current - neutral) / (self._ranges * np.asarray(calibration.range_scale, np.float64))
        unit = np.clip(_SIGNS * delta[_EXCURSION_MEASURE], 0.0, 1.0).tolist()
        return dict(zip(_EXCURSION_NAMES, unit))

    def weights(self, face: Face, calibration: Calibration) -> dict[str, float]:
        """Every blendshape of ``BLENDSHAPES``, 0..1, in that order (eyes from ``face.eyes`` when measured)."""
        return self.weights_of(face.params, calibration, face.eyes)

    def weights_of(self, params: np.ndarray, calibration: Calibration, eyes: Eyes | None = None) -> dict[str, float]:
        """``weights`` from a face's 62 parameters and its measured eyes alone."""
        e = self.excursions_of(params, calibration)
        e.update(eye_excursions(eyes, e, self.config))
        return {b.name: float(min(1.0, max(0.0, b.formula(e)))) for b in BLENDSHAPES}

    def neutral_from(self, face: Face, calibration: Calibration | None = None) -> Calibration:
        """``calibration`` (default: a new one) with ``face`` as the neutral expression and pose."""
        base = calibration or Calibration()
        return replace(base, neutral_measures=tuple(float(v) for v in self.measure(face)),
                       neutral_rotation=tuple(float(v) for v in np.asarray(face.pose.rotation).reshape(-1)),
                       neutral_center=_face_center(face.landmarks),
                       neutral_eye_distance=_eye_distance(face.landmarks))

    def fitted(self, calibration: Calibration, samples: list[Face], percentile: float = 95.0) -> Calibration:
        """Ranges scaled to a user's own extremes: for each measure, the ``percentile`` of its
        excursion from neutral over ``samples`` (faces pulled on purpose), never below a tenth
        of the configured range (a measure that did not move keeps a sane range)."""
        if calibration.neutral_measures is None:
            raise ValueError("set a neutral face before fitting ranges")
        if not samples:
            raise ValueError("no samples to fit expression ranges to")
        deltas = np.abs(np.stack([self.measure(f) for f in samples]) - np.asarray(calibration.neutral_measures))
        scale = np.maximum(np.percentile(deltas, percentile, axis=0) / self._ranges, 0.1)
        return replace(calibration, range_scale=tuple(float(v) for v in scale))

    def head_motion(self, face: Face, frame_size: tuple[int, int], calibration: Calibration) -> HeadMotion:
        """Rotation and position of ``face`` relative to the neutral pose (see ``HeadMotion``).

        Before a neutral is set: the rotation is the absolute head pose (looking into the
        camera is neutral) and the position is measured from the picture centre, with no depth.
        """
        return self.head_motion_of(face.pose.rotation, face.landmarks, frame_size, calibration)

    def head_motion_of(self, rotation: np.ndarray, landmarks: np.ndarray, frame_size: tuple[int, int],
                       calibration: Calibration) -> HeadMotion:
        """``head_motion`` from a face's pose rotation and (68, 3) image landmarks alone."""
        rotation = np.asarray(rotation, np.float64)
        if calibration.neutral_rotation is not None:
            rotation = rotation @ np.asarray(calibration.neutral_rotation, np.float64).reshape(3, 3).T
        cx, cy = _face_center(landmarks)
        eye_px = _eye_distance(landmarks)
        if calibration.neutral_center is not None:
            x0, y0 = calibration.neutral_center
        else:
            x0, y0 = frame_size[0] / 2, frame_size[1] / 2
        metres_per_px = self.config.eye_corner_distance_m / eye_px
        z = 0.0
        if calibration.neutral_eye_distance is not None:
            # Pinhole camera: the face's size in pixels grows as 1 / distance.
            z = self.config.camera_distance_m * (1.0 - calibration.neutral_eye_distance / eye_px)
        position = np.array([(cx - x0) * metres_per_px, -(cy - y0) * metres_per_px, z], np.float64)
        yaw, pitch, roll = rotation_angles(rotation)
        return HeadMotion(rotation=rotation, position=position, yaw=yaw, pitch=pitch, roll=roll)


def _face_center(landmarks: np.ndarray) -> tuple[float, float]:
    """Midpoint of the outer eye corners and the nose tip: steadier than the box centre."""
    p = np.asarray(landmarks, np.float64)[[EYE_CORNERS[0], EYE_CORNERS[1], NOSE_TIP], :2].mean(axis=0)
    return float(p[0]), float(p[1])


def _eye_distance(landmarks: np.ndarray) -> float:
    lm = np.asarray(landmarks, np.float64)
    d = float(np.linalg.norm(lm[EYE_CORNERS[0], :2] - lm[EYE_CORNERS[1], :2]))
    return max(d, 1e-6)
