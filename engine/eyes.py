"""Per-eye openness, gaze and pupil centre, measured in the image inside the landmark eye region.

    from engine.eyes import EyeEstimator
    estimator = EyeEstimator(config.eyes)
    eyes = estimator.estimate(track_id, image, face.landmarks)   # Eyes(right=EyeState, left=EyeState)

Why the image and not the landmarks: the 62 parameters cannot close an eye (the 10
expression coefficients move the eye aspect ratio by at most 0.025), and landmark
models barely close either (issue 20: dlib's 68 points bring the ratio to 0.74 of its
open value on closed frames against 0.88 looking down). What does change is the
picture: when the lid closes, the dark iris and pupil vanish from the eye region the
68 landmarks locate; when the eye looks down they stay visible, only lower.

The measure (chosen on the hand labels of obama.mp4, tests/data/obama_eye_labels.csv):

1. an eye-aligned patch (``PATCH_W`` x ``PATCH_H`` grey pixels, 1.5 eye widths wide,
   the corner-to-corner line horizontal through its middle) is resampled from the
   frame: one small affine warp, so the cost does not grow with the face;
2. *darkness* of each pixel: how far it is under ``dark_threshold`` x the patch's
   skin level (its 80th percentile grey), 0..1; lashes and the lid crease of a closed
   eye are grey, the iris and pupil of an open one nearly black;
3. inside the landmark eye polygon, widened up and down by a few patch rows (the
   model's lids are not exact), each column's darkness is summed: that is the visible
   height of dark iris in the column. The mean of the ``top_columns`` tallest columns
   is the raw opening (patch rows): the iris's visible height;
4. openness = raw opening / the person's neutral opening (see ``EyeCalibrator``).

On obama.mp4 (1280x720, eyes 35 px wide), per eye: closed frames 0.00-0.27, clearly
open 0.62-1.17, open but lowered lids (turned head, gaze down to the side) 0.60-1.40;
the eye aspect ratio of the same landmarks moves by 0.28 -> 0.27 there.

Gaze: the pupil is the darkness-weighted centroid (darkness squared: the pupil and
iris, not the lashes) inside the widened polygon; its offset from the midpoint of the
eye corners, in corner distances, minus the neutral offset, becomes the eyeball's
rotation: ``asin(offset * EYE_WIDTH_OVER_RADIUS)``, the iris moving on a sphere of
about 12 mm radius while the eye opening is about 30 mm wide. Yaw > 0: the eye turns
towards the subject's right (the image's left for a face looking at the camera), as
the head's yaw; pitch > 0: it looks down, as the head's pitch (chin down).

Limits (README "Eyes"): the offset is measured in the image plane, so a turned head
foreshortens it; glasses with dark rims or reflections on the lenses add or hide dark
pixels; under ``min_eye_px`` corner distance the iris is a few pixels and the values
carry little (``EyeState.valid`` is false and the last values are held).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import cv2
import numpy as np

from engine.config import EyesConfig
from engine.face_model import CROP_SIZE
from engine.results import Eyes, EyeState, Face

# iBUG 300-W eye contours, in contour order: corner, two upper lid points, corner, two lower.
RIGHT_EYE = (36, 37, 38, 39, 40, 41)  # the subject's right eye: the image's left
LEFT_EYE = (42, 43, 44, 45, 46, 47)
PATCH_W, PATCH_H = 48, 32  # the eye-aligned patch, patch pixels
PATCH_SPAN = 1.5  # patch width in eye-corner distances
SKIN_PERCENTILE = 80.0
# The eyeball in face-model units (micrometres: an eye is about 25,000 wide): its centre
# sits this far behind the corners' midpoint, the pupil this far in front of the centre.
EYEBALL_BEHIND_CORNERS = 2000.0
PUPIL_RADIUS = 11000.0
_CORNER_A, _CORNER_B = 0, 3  # positions of the corners in a contour
_MARGIN = round(PATCH_W * (1 - 1 / PATCH_SPAN) / 2)  # patch columns outside the corners, each side
_INNER = slice(_MARGIN, PATCH_W - _MARGIN)
_IRIS = 13  # iris diameter, patch pixels (about 0.4 eye widths)
_TIGHT = np.ones((3, 1), np.uint8)  # the polygon widened by one row for the pupil search
_WIDEN = [np.ones((2 * rows + 1, 3), np.uint8) for rows in range(9)]  # by EyesConfig.widen_rows
_SKIN_RANK = int(PATCH_W * PATCH_H * SKIN_PERCENTILE / 100)
_INNER_MID = (PATCH_W - 2 * _MARGIN) // 2
_RAMP = np.arange(PATCH_W, dtype=np.float32)
NAN = float("nan")
_RECOMPUTE_EVERY = 5  # frames between recomputations of a calibrating person's neutral
_GAP = _IRIS // 2 + 2  # empty canvas columns between the two eyes' patches
_CANVAS_W = 2 * PATCH_W + _GAP
_EYE_COLUMNS = (slice(0, PATCH_W), slice(PATCH_W + _GAP, _CANVAS_W))  # right eye, left eye
_BOTH_EYES = np.r_[0:PATCH_W, PATCH_W + _GAP:_CANVAS_W]
_GAP_BLOCK = np.zeros((PATCH_H, _GAP, 3), np.uint8)
_PRIOR = np.exp(-0.5 * ((np.arange(PATCH_W, dtype=np.float32) - PATCH_W / 2) / 8.0) ** 2)
_CENTRE_PRIOR = np.concatenate([_PRIOR, np.zeros(_GAP, np.float32), _PRIOR])[None, :]


@dataclass(frozen=True)
class EyeMeasure:
    """Raw image measures of one eye, before the person's neutral is applied."""

    opening: float  # visible dark-iris height, patch rows (see the module notes)
    pupil: tuple[float, float]  # image pixels
    centre: tuple[float, float]  # the eye corners' midpoint, image pixels
    width_px: float  # corner distance in image pixels

    @property
    def valid(self) -> bool:
        return self.width_px > 0 and math.isfinite(self.opening)


def _patch_transform(ax: float, ay: float, bx: float, by: float) -> tuple[np.ndarray, float]:
    """2x3 affine map patch -> image (x along the corner line, towards the image's right;
    y perpendicular, down) for corners a, b, and the corner distance in image pixels.
    Scalar arithmetic: NumPy's call overhead on 2-vectors costs more than the maths."""
    vx, vy = bx - ax, by - ay
    d = math.hypot(vx, vy)
    if not d > 0:
        return np.zeros((2, 3)), 0.0
    ux, uy = vx / d, vy / d
    if ux < 0:  # a face upside down: keep x towards the image's right
        ux, uy = -ux, -uy
    s = d * PATCH_SPAN / PATCH_W
    cx, cy = 0.5 * (ax + bx), 0.5 * (ay + by)
    hw, hh = PATCH_W / 2 * s, PATCH_H / 2 * s
    # columns: patch x (along u), patch y (along n = (-uy, ux)), origin
    m = np.array([[s * ux, -s * uy, cx - hw * ux + hh * uy],
                  [s * uy, s * ux, cy - hw * uy - hh * ux]])
    return m, d


def measure_eyes(image: np.ndarray, landmarks: np.ndarray, config: EyesConfig) -> tuple[EyeMeasure, EyeMeasure]:
    """(right, left) raw measures of a face from the frame (BGR uint8) and its 68 image landmarks.

    Both eyes' patches sit side by side in one canvas, ``_GAP`` empty columns apart (wider
    than half the iris box, so no box sees both eyes), and every step runs once on it:
    half the calls of one eye after the other, which is most of the cost at this size."""
    lm = np.asarray(landmarks, np.float64)[:, :2]
    contours = (lm[list(RIGHT_EYE)], lm[list(LEFT_EYE)])
    transforms = []
    for pts in contours:
        (ax, ay), (bx, by) = pts[_CORNER_A].tolist(), pts[_CORNER_B].tolist()
        m, width = _patch_transform(ax, ay, bx, by)
        transforms.append((m, width if np.isfinite(pts).all() else 0.0))
    if min(width for _, width in transforms) <= 0:
        nan = float("nan")
        return (EyeMeasure(nan, (nan, nan), (nan, nan), 0.0),) * 2
    patches = [cv2.warpAffine(image, m, (PATCH_W, PATCH_H), flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE) for m, _ in transforms]
    gap = _GAP_BLOCK if patches[0].ndim == 3 else _GAP_BLOCK[:, :, 0]
    canvas = np.concatenate([patches[0], gap, patches[1]], axis=1)
    grey = (cv2.cvtColor(canvas, cv2.COLOR_BGR2GRAY) if canvas.ndim == 3 else canvas).astype(np.float32)
    # Each eye's skin level (80th percentile), as a per-column threshold (1 in the gap).
    threshold = np.ones(_CANVAS_W, np.float32)
    for cols in _EYE_COLUMNS:
        skin = float(np.partition(grey[:, cols].reshape(-1), _SKIN_RANK)[_SKIN_RANK])
        threshold[cols] = max(skin * config.dark_threshold, 1.0)
    dark = np.clip((threshold - grey) / threshold, 0.0, 1.0)
    # The contours in canvas pixels (m's inverse: m is a scaled rotation), then the eye regions.
    polygons = []
    for k, (pts, (m, _)) in enumerate(zip(contours, transforms)):
        scale2 = m[0, 0] * m[0, 0] + m[1, 0] * m[1, 0]
        rel = pts - m[:, 2]
        local = np.empty((len(pts), 2))
        local[:, 0] = (rel[:, 0] * m[0, 0] + rel[:, 1] * m[1, 0]) / scale2 + _EYE_COLUMNS[k].start
        local[:, 1] = (rel[:, 0] * m[0, 1] + rel[:, 1] * m[1, 1]) / scale2
        polygons.append(np.round(local).astype(np.int32))
    polygon = np.zeros((PATCH_H, _CANVAS_W), np.uint8)
    for poly in polygons:  # one by one: fillPoly fills the overlap of several polygons even-odd
        cv2.fillPoly(polygon, [poly], 1)
    weights = dark * cv2.dilate(polygon, _WIDEN[config.widen_rows])
    # The lid line of a closed eye (lashes, crease, eyeliner) runs across the whole eye; the
    # iris covers under half of its width. Each row's median over the columns between the
    # corners is that line's share: what is left is the iris. (rows, eye, column) from here.
    both = weights[:, _BOTH_EYES].reshape(PATCH_H, 2, PATCH_W)
    line = np.partition(both[:, :, _INNER], _INNER_MID, axis=2)[:, :, _INNER_MID:_INNER_MID + 1]
    columns = np.maximum(both - line, 0.0).sum(axis=0)  # (eye, column): visible dark height
    top = config.top_columns
    openings = np.partition(columns, PATCH_W - top, axis=1)[:, PATCH_W - top:].sum(axis=1) / top
    # Pupil: the centre of the iris-sized disk holding the most darkness inside the tight
    # eye polygon, with a mild prior for the middle of the eye: eyeliner and the shadow
    # of the corners are dark too, and an iris at the very corner is rare (measured on the
    # identity photos: the spread of a straight gaze halves against no prior).
    pupil_weights = dark * cv2.dilate(polygon, _TIGHT) * _CENTRE_PRIOR
    score = cv2.boxFilter(pupil_weights, -1, (_IRIS, _IRIS), normalize=False, borderType=cv2.BORDER_CONSTANT)
    out = []
    for k, cols in enumerate(_EYE_COLUMNS):
        m, width = transforms[k]
        cy_i, cx_i = divmod(int(np.argmax(score[:, cols])), PATCH_W)
        cx, cy = PATCH_W / 2, PATCH_H / 2  # nothing dark: a closed eye; the corners' midpoint
        if float(score[cy_i, cols.start + cx_i]) > 1e-6:
            y0, y1 = max(cy_i - _IRIS // 2, 0), min(cy_i + _IRIS // 2 + 1, PATCH_H)
            x0, x1 = max(cx_i - _IRIS // 2, 0), min(cx_i + _IRIS // 2 + 1, PATCH_W)
            win = pupil_weights[y0:y1, cols.start + x0:cols.start + x1]
            total = float(win.sum())
            cx = x0 + float(win.sum(axis=0) @ _RAMP[:x1 - x0]) / total
            cy = y0 + float(win.sum(axis=1) @ _RAMP[:y1 - y0]) / total
        a, b = contours[k][_CORNER_A], contours[k][_CORNER_B]
        out.append(EyeMeasure(opening=float(openings[k]),
                              pupil=(float(m[0, 0] * cx + m[0, 1] * cy + m[0, 2]),
                                     float(m[1, 0] * cx + m[1, 1] * cy + m[1, 2])),
                              centre=(0.5 * float(a[0] + b[0]), 0.5 * float(a[1] + b[1])), width_px=width))
    return out[0], out[1]


@dataclass(frozen=True)
class EyeSample:
    """One eye's raw measure turned into head-relative numbers, before the neutral."""

    opening: float  # patch rows (see ``EyeMeasure``)
    yaw: float  # degrees, uncalibrated (see ``gaze_angles``)
    pitch: float
    pupil: tuple[float, float]
    width_px: float

    @property
    def usable(self) -> bool:
        return self.width_px > 0 and math.isfinite(self.opening) and math.isfinite(self.yaw)


def gaze_angles(measure: EyeMeasure, rotation: np.ndarray, px_per_unit: float) -> tuple[float, float]:
    """The eyeball's (yaw, pitch) in degrees relative to the head, before the neutral.

    The camera is orthographic (3DDFA's): a model point X lands at ``s R X + t``. The
    eyeball's centre is taken ``EYEBALL_BEHIND_CORNERS`` behind the corners' midpoint and
    the pupil ``PUPIL_RADIUS`` from it along the gaze g, so the pupil's image offset from
    the projected centre is ``s (R g)_xy``; ``(R g)_z`` is the root that faces the camera,
    and ``R^T`` takes g back to the head's frame. A turned head thus no longer reads as
    gaze (the iris stands in front of the corners and shifts with the head)."""
    # model -> crop space (x right, y up, z towards the camera); plain floats (3x3: NumPy's
    # per-call overhead is the cost here)
    (r00, r01, r02), (r10, r11, r12), (r20, r21, r22) = np.asarray(rotation, np.float64).tolist()
    # The eyeball's centre: the corners' midpoint moved along the head's -z axis.
    cx = measure.centre[0] - px_per_unit * EYEBALL_BEHIND_CORNERS * r02
    cy = measure.centre[1] + px_per_unit * EYEBALL_BEHIND_CORNERS * r12  # image y is down
    k = 1.0 / (px_per_unit * PUPIL_RADIUS)
    gx, gy = (measure.pupil[0] - cx) * k, -(measure.pupil[1] - cy) * k
    n2 = gx * gx + gy * gy
    if n2 > 1.0:  # beyond the eyeball's rim (a wrong pupil or landmarks): onto the rim
        n = math.sqrt(n2)
        gx, gy, n2 = gx / n, gy / n, 1.0
    gz = math.sqrt(1.0 - n2)
    # g in the head's frame: R^T (gx, gy, gz). Model axes: x the subject's left, y up, z
    # forward. Yaw > 0 towards the subject's right, pitch > 0 down (the head's conventions).
    hx = r00 * gx + r10 * gy + r20 * gz
    hy = r01 * gx + r11 * gy + r21 * gz
    hz = r02 * gx + r12 * gy + r22 * gz
    return math.degrees(math.atan2(-hx, hz)), math.degrees(math.atan2(-hy, math.hypot(hx, hz)))


@dataclass(frozen=True)
class EyeNeutral:
    """A person's neutral eyes, per eye (right, left): the open height (patch rows) and the
    straight-ahead gaze angles (degrees, uncalibrated)."""

    opening: tuple[float, float]
    yaw: tuple[float, float]
    pitch: tuple[float, float]
    calibrated: bool = True  # false: the population default, before the person's own frames
    # Per eye: a dark iris was seen on this person (their open height reached min_open_height).
    # Not so on small, blurred or washed-out faces (crowd.mp4): every frame would read closed.
    measurable: tuple[bool, bool] = (True, True)

    def to_dict(self) -> dict[str, object]:
        return {"opening": [round(v, 4) for v in self.opening], "yaw": [round(v, 3) for v in self.yaw],
                "pitch": [round(v, 3) for v in self.pitch], "calibrated": self.calibrated,
                "measurable": list(self.measurable)}


@dataclass
class _Samples:
    """Measures of the first frames of a person, for its neutral: (frames, eye, (opening, yaw, pitch, width))."""

    rows: np.ndarray
    count: int = 0
    fixed: EyeNeutral | None = None  # set by hand ("Set neutral"): wins over the samples
    cached: EyeNeutral | None = None


class EyeCalibrator:
    """Per-person neutral from the first ``calibration_frames`` frames the person is seen.

    The open height is a high percentile (``neutral_percentile``) of the person's
    open frames so far (at least half the widest), so blinks do not lower it, never under half the
    population's (a person first seen with the eyes closed); the straight-ahead gaze is
    the median over frames with the eye open (the person is assumed to look ahead on
    average in their first seconds). The open height is the person's own from their first
    frame; the gaze, a median, from ``min_calibration_frames`` frames on (a single photo is
    no evidence of where straight ahead is): until then, and for a person never seen, the
    population's neutral stands in (``default_*``, measured on the identity photos).
    ``set_neutral`` fixes a person's neutral from one face (the app's "Set neutral").
    The neutral is recomputed on a person's first frames and then every
    ``_RECOMPUTE_EVERY`` frames until calibration ends (percentiles cost more than the
    measure itself)."""

    def __init__(self, config: EyesConfig) -> None:
        self.config = config
        self._people: dict[int, _Samples] = {}

    def reset(self) -> None:
        self._people.clear()

    def add(self, person: int, samples: tuple[EyeSample, EyeSample]) -> EyeNeutral:
        """Record a frame's samples for ``person`` (while still calibrating); the neutral."""
        cfg = self.config
        s = self._people.get(person)
        if s is None:
            s = self._people[person] = _Samples(np.empty((cfg.calibration_frames, 2, 4)))
        if s.fixed is not None:
            return s.fixed
        if s.count < cfg.calibration_frames and all(e.usable and e.width_px >= cfg.min_eye_px for e in samples):
            s.rows[s.count] = [(e.opening, e.yaw, e.pitch, e.width_px) for e in samples]
            s.count += 1
            if (s.count <= _RECOMPUTE_EVERY or s.count % _RECOMPUTE_EVERY == 0
                    or s.count == cfg.calibration_frames):
                s.cached = None
        if s.cached is None:
            s.cached = self._neutral(s)
        return s.cached

    def _neutral(self, s: _Samples) -> EyeNeutral:
        cfg = self.config
        # Outward is the subject's right for the right eye: yaw > 0.
        default = EyeNeutral((cfg.default_opening,) * 2, (cfg.default_outward_yaw, -cfg.default_outward_yaw),
                             (cfg.default_pitch,) * 2, calibrated=False)
        if s.count == 0:
            return default
        opening, yaw, pitch, measurable = [], [], [], []
        floor = 0.5 * cfg.default_opening
        for eye in range(2):
            a = s.rows[:s.count, eye]
            # Open frames only (at least half the widest so far): a blink among a person's
            # first few frames must not drag the percentile down.
            widest = float(a[:, 0].max())
            top = float(np.percentile(a[a[:, 0] >= 0.5 * widest, 0], cfg.neutral_percentile))
            measurable.append(self._measurable(a))
            top = max(top, floor)
            open_rows = a[a[:, 0] >= 0.6 * top]  # a closed eye has no pupil
            if not len(open_rows):
                open_rows = a
            opening.append(top)
            yaw.append(float(np.median(open_rows[:, 1])))
            pitch.append(float(np.median(open_rows[:, 2])))
        m = (measurable[0], measurable[1])
        if s.count < cfg.min_calibration_frames:  # the open height from the first frame, the gaze later
            return EyeNeutral((opening[0], opening[1]), default.yaw, default.pitch, calibrated=False, measurable=m)
        return EyeNeutral((opening[0], opening[1]), (yaw[0], yaw[1]), (pitch[0], pitch[1]), measurable=m)

    def _measurable(self, rows: np.ndarray) -> bool:
        """Whether this eye shows a dark iris: (opening, yaw, pitch, width) rows of a person.

        Evidence first: after ``min_calibration_frames`` frames, at least half of them reach
        ``min_open_height``. Before that the eye's size decides: one of ``confident_eye_px`` or
        more that has reached it once is measured (a blink on the first frames still counts);
        a smaller one waits for the evidence (crowd.mp4's 8-19 px eyes mostly never give it)."""
        cfg = self.config
        reached = rows[:, 0] >= cfg.min_open_height
        if len(rows) >= cfg.min_calibration_frames:
            return bool(reached.mean() >= 0.5)
        return bool(reached.any() and np.median(rows[:, 3]) >= cfg.confident_eye_px)

    def set_neutral(self, person: int, samples: tuple[EyeSample, EyeSample]) -> EyeNeutral:
        """This face is the person's rest pose: eyes open, looking straight ahead."""
        r, lf = samples
        neutral = EyeNeutral((max(r.opening, 1e-3), max(lf.opening, 1e-3)), (r.yaw, lf.yaw), (r.pitch, lf.pitch))
        s = self._people.get(person)
        if s is None:
            s = self._people[person] = _Samples(np.empty((self.config.calibration_frames, 2, 4)))
        s.fixed = neutral
        return neutral

    def neutral(self, person: int) -> EyeNeutral | None:
        s = self._people.get(person)
        return None if s is None else (s.fixed or s.cached or self._neutral(s))


def eye_state(sample: EyeSample, neutral_opening: float, neutral_yaw: float, neutral_pitch: float,
              min_eye_px: float, measurable: bool = True) -> EyeState:
    """Calibrated state of one eye from its sample and the person's neutral; an eye that cannot
    be measured (too small, no iris ever seen, no landmarks) has NaN values and ``valid`` false."""
    if not sample.usable or not measurable or sample.width_px < min_eye_px:
        return EyeState(NAN, NAN, NAN, sample.pupil, valid=False)
    return EyeState(openness=float(sample.opening / neutral_opening), yaw=sample.yaw - neutral_yaw,
                    pitch=sample.pitch - neutral_pitch, pupil=sample.pupil)


def eye_samples(image: np.ndarray, face: Face, config: EyesConfig) -> tuple[EyeSample, EyeSample]:
    """(right, left) samples of a face: image measures and head-relative gaze."""
    measures = measure_eyes(image, face.landmarks, config)
    # Image pixels per model unit: the crop's scale (the pose's) times the ROI's pixels per crop pixel.
    scale = face.pose.scale * float(face.roi[2] - face.roi[0]) / CROP_SIZE
    out = []
    for m in measures:
        yaw, pitch = gaze_angles(m, face.pose.rotation, scale) if m.valid else (float("nan"), float("nan"))
        out.append(EyeSample(m.opening, yaw, pitch, m.pupil, m.width_px))
    return out[0], out[1]


class EyeEstimator:
    """Faces -> calibrated eyes, per person (the tracker's ``track_id``). One per pipeline,
    used by the thread that runs it (the app's "Set neutral" runs there too)."""

    def __init__(self, config: EyesConfig) -> None:
        self.config = config
        self.calibrator = EyeCalibrator(config)

    def reset(self) -> None:
        self.calibrator.reset()

    def estimate(self, person: int, image: np.ndarray, face: Face) -> Eyes:
        samples = eye_samples(image, face, self.config)
        return self.calibrated(samples, self.calibrator.add(person, samples))

    def set_neutral(self, person: int, image: np.ndarray, face: Face) -> Face:
        """The app's "Set neutral" on a frame it holds (paused, on the thread that runs the
        pipeline): this face's eyes are open and look straight ahead from now on. Returns
        the face with its eyes measured against that neutral (openness 1, gaze 0), for the
        readout and the stream of that frame."""
        samples = eye_samples(image, face, self.config)
        return dataclasses.replace(face, eyes=self.calibrated(samples, self.calibrator.set_neutral(person, samples)))

    def calibrated(self, samples: tuple[EyeSample, EyeSample], neutral: EyeNeutral) -> Eyes:
        right, left = (eye_state(e, neutral.opening[k], neutral.yaw[k], neutral.pitch[k], self.config.min_eye_px,
                                 neutral.measurable[k]) for k, e in enumerate(samples))
        return shared_pitch(right, left, self.config.closed_below)


def shared_pitch(right: EyeState, left: EyeState, closed_below: float) -> Eyes:
    """Both eyes with one pitch: the mean of the open, measured eyes (one open eye's own when
    the other is closed or not measured). Vertical gaze is conjugate (the eyes converge
    horizontally, not vertically), and one eye's pitch carries the face model's error on its
    corners: at a 35 degree head turn the eye nearer the camera reads about 15 degrees higher
    than the far one (obama.mp4, docs/eyes.md). After the person's neutral, a turn to the other
    side swaps the two errors, and their mean mostly cancels."""
    seen = [e for e in (right, left) if e.valid and e.openness >= closed_below]
    if not seen:
        return Eyes(right=right, left=left)
    pitch = sum(e.pitch for e in seen) / len(seen)
    return Eyes(right=dataclasses.replace(right, pitch=pitch) if right.valid else right,
                left=dataclasses.replace(left, pitch=pitch) if left.valid else left)
