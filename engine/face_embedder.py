"""A learned face embedding for re-identification: dlib's ResNet descriptor on onnxruntime.

    embedder = FaceEmbedder.from_weights(weights_dir)
    vectors = embedder.embed(image_bgr, [face.landmarks for face in faces])   # (n, 128)
    same = embedding_distance(vectors[0], vectors[1]) < SAME_PERSON_DISTANCE

The graph (``face_embedding.onnx``, converted by set-up from dlib's
``dlib_face_recognition_resnet_model_v1.dat``, CC0) takes 150x150 RGB chips aligned
the way dlib aligns them: ``get_face_chip_details(shape, 150, 0.25)``, a similarity
transform that puts 33 of the 68 landmarks (nose, eyes, outer lips and upper inner lip;
not the jaw, brows or lower lip, which move) onto dlib's mean-face template. Our 68
landmarks are in the same iBUG 300-W order, so the template applies as it is.
Descriptors are compared by Euclidean distance, as dlib does (they are not unit
vectors).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine.assets import FACE_EMBEDDING_ONNX, require_assets
from engine.onnx_session import create_session

CHIP_SIZE = 150  # the network's input_rgb_image_sized<150>
CHIP_PADDING = 0.25  # dlib's face_recognition_model_v1 pads the template by a quarter per side
EMBEDDING_SIZE = 128
# Same person when the distance is below this. dlib's customary threshold is 0.6 (99.38 %
# on LFW); on the 280 pairs of identity/pairs.csv, with our own landmarks, the best
# accuracy (98.6 %) is at 0.571 and the closest different people are 0.579 apart
# (tests/test_face_embedder.py prints these), so re-identification uses that slightly
# stricter value: merging two people costs more than a missed re-identification.
SAME_PERSON_DISTANCE = 0.57

# dlib's mean face for landmarks 17..67 (dlib/image_transforms/interpolation.h), in a
# unit square; get_face_chip_details pads it by CHIP_PADDING per side.
_MEAN_FACE_X = np.array([
    0.000213256, 0.0752622, 0.18113, 0.29077, 0.393397, 0.586856, 0.689483, 0.799124,
    0.904991, 0.98004, 0.490127, 0.490127, 0.490127, 0.490127, 0.36688, 0.426036,
    0.490127, 0.554217, 0.613373, 0.121737, 0.187122, 0.265825, 0.334606, 0.260918,
    0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751, 0.719335, 0.254149,
    0.340985, 0.428858, 0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721,
    0.490127, 0.423532, 0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874,
    0.553364, 0.490127, 0.42689])
_MEAN_FACE_Y = np.array([
    0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891,
    0.0187482, 0.038915, 0.106454, 0.203352, 0.307009, 0.409805, 0.515625, 0.587326,
    0.609345, 0.628106, 0.609345, 0.587326, 0.216423, 0.178758, 0.179852, 0.231733,
    0.245099, 0.244077, 0.231733, 0.179852, 0.178758, 0.216423, 0.244077, 0.245099,
    0.780233, 0.745405, 0.727388, 0.742578, 0.727388, 0.745405, 0.780233, 0.864805,
    0.902192, 0.909281, 0.902192, 0.864805, 0.784792, 0.778746, 0.785343, 0.778746,
    0.784792, 0.824182, 0.831803, 0.824182])
# The landmarks dlib aligns on: 27..67 without the lower lip (55-59, 65-67).
ALIGN_POINTS = np.array([i for i in range(27, 68) if not (55 <= i <= 59 or 65 <= i <= 67)])
_TEMPLATE = np.stack([_MEAN_FACE_X, _MEAN_FACE_Y], axis=1)[ALIGN_POINTS - 17]

# Quality: a face this wide (pixels in the image) or wider loses nothing in a 150 px chip
# whose face spans 150 / 1.5 = 100 px; a Laplacian variance this high is a sharp chip
# (photos here: 70-450; obama.mp4's video frames: about 30).
FULL_QUALITY_SIZE_PX = 100.0
FULL_QUALITY_SHARPNESS = 60.0


@dataclass(frozen=True)
class ChipGeometry:
    """Where a chip comes from: chip pixel (u, v) -> image point ``matrix @ (u, v, 1)``."""

    matrix: np.ndarray  # (2, 3) float64
    face_size_px: float  # width of the mean-face square in the image

    def inverse(self) -> np.ndarray:
        """(2, 3): image point -> chip pixel."""
        return cv2.invertAffineTransform(self.matrix)


@dataclass(frozen=True)
class ChipQuality:
    """How good one chip is as an exemplar of its person (higher is better).

    ``score`` in [0, 1] multiplies three factors that each saturate at 1: size
    (``face_size_px / 100``), frontalness (about cos^2 of the yaw from the landmarks:
    0.9 at 17 degrees, 0.7 at 34, 0 from about 50 on) and sharpness (Laplacian
    variance of the grey chip / 60). Profiles embed poorly, so a caller should prefer
    high scores and not trust chips whose frontalness is near 0.
    """

    face_size_px: float
    frontalness: float
    sharpness: float

    @property
    def score(self) -> float:
        size = min(1.0, self.face_size_px / FULL_QUALITY_SIZE_PX)
        sharp = min(1.0, self.sharpness / FULL_QUALITY_SHARPNESS)
        return size * self.frontalness * sharp


def chip_geometry(landmarks68: np.ndarray, size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> ChipGeometry:
    """dlib's ``get_face_chip_details(shape, size, padding)`` and the mapping its
    ``extract_image_chips`` uses for the 68-point case."""
    points = _landmarks_xy(landmarks68)[ALIGN_POINTS]
    template = (padding + _TEMPLATE) / (2 * padding + 1) * size
    m, t = similarity_transform(template, points)  # chip template -> image
    # dlib keeps only angle, scale and the image point of the chip centre, as a rotated
    # rectangle, and maps the chip's corner pixels (0, 0), (size-1, 0), (0, size-1) to
    # that rectangle's corners: the same transform stretched by size / (size - 1).
    angle = math.atan2(m[1, 0], m[0, 0])
    scale = math.hypot(m[0, 0], m[1, 0])
    centre = m @ np.array([size / 2.0, size / 2.0]) + t
    side = size * scale
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    step = side / (size - 1)
    linear = rot * step
    offset = centre - rot @ np.array([side / 2.0, side / 2.0])
    return ChipGeometry(np.hstack([linear, offset[:, None]]), side / (1 + 2 * padding))


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares ``dst ~ m @ src + t`` with m a scaled rotation (Umeyama 1991, as dlib's
    ``find_similarity_transform``)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s0, d0 = src - mu_s, dst - mu_d
    var_s = (s0 ** 2).sum() / len(src)
    cov = d0.T @ s0 / len(src)
    u, d, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(cov) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    scale = float(np.trace(np.diag(d) @ sign)) / var_s if var_s > 0 else 1.0
    m = scale * rot
    return m, mu_d - m @ mu_s


def extract_chip(image_bgr: np.ndarray, geometry: ChipGeometry, size: int = CHIP_SIZE) -> np.ndarray:
    """(size, size, 3) uint8 RGB chip, bilinear; outside the image is black.

    Like dlib, a face much larger than the chip is first halved with a Gaussian pyramid
    (cv2.pyrDown, dlib's pyramid_down<2> filter) until the next halving would make it
    smaller than the chip, so bilinear sampling does not alias. Only the region around
    the chip is pyramided.
    """
    matrix = geometry.matrix.copy()
    side = math.hypot(matrix[0, 0], matrix[1, 0]) * (size - 1)  # the chip's side in image pixels
    levels = 0
    while side / 2 ** (levels + 1) > size:  # dlib: while rect_down(rect).area() > chip area
        levels += 1
    source = image_bgr
    if levels:
        # the chip's bounding box in the image, with a margin for the pyramid's filter
        corners = matrix @ np.array([[0, size - 1, 0, size - 1], [0, 0, size - 1, size - 1], [1, 1, 1, 1]], float)
        margin = 4 * 2 ** levels
        h, w = image_bgr.shape[:2]
        x0 = int(max(0, math.floor(corners[0].min()) - margin))
        y0 = int(max(0, math.floor(corners[1].min()) - margin))
        x1 = int(min(w, math.ceil(corners[0].max()) + margin + 1))
        y1 = int(min(h, math.ceil(corners[1].max()) + margin + 1))
        if x1 - x0 < 2 or y1 - y0 < 2:  # the face lies outside the image
            return np.zeros((size, size, 3), np.uint8)
        source = image_bgr[y0:y1, x0:x1]
        matrix[:, 2] -= (x0, y0)
        for _ in range(levels):
            if min(source.shape[:2]) < 2:
                break
            source = cv2.pyrDown(source)
            matrix /= 2.0  # pyrDown's pixel i sits on the source's pixel 2 i
    chip = cv2.warpAffine(source, matrix, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.ascontiguousarray(chip[:, :, ::-1])


def chip_quality(chip_rgb: np.ndarray, landmarks68: np.ndarray, geometry: ChipGeometry | None = None) -> ChipQuality:
    """Size, frontalness and sharpness of one chip (see ChipQuality)."""
    geometry = geometry or chip_geometry(landmarks68)
    grey = cv2.cvtColor(np.ascontiguousarray(chip_rgb), cv2.COLOR_RGB2GRAY)
    sharpness = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    return ChipQuality(float(geometry.face_size_px), frontalness(landmarks68), sharpness)


def frontalness(landmarks68: np.ndarray) -> float:
    """About cos^2 of the yaw, from the landmarks alone (see ChipQuality)."""
    xy = _landmarks_xy(landmarks68)
    # Where the nose tip (30) falls between the outer eye corners (36, 45), along the
    # line joining them: mid-way when frontal. Its offset from the middle, doubled, is
    # about sin(yaw) (measured on our landmarks: 0.28 at 17 degrees, 0.56 at 34), so
    # 1 - offset^2 is about cos^2(yaw).
    axis = xy[45] - xy[36]
    span = float(np.hypot(*axis))
    if span < 1e-6:
        return 0.0
    offset = 2.0 * abs(float(np.dot(xy[30] - xy[36], axis)) / span ** 2 - 0.5)
    return float(np.clip(1.0 - offset ** 2, 0.0, 1.0))


def view_quality(landmarks68: np.ndarray) -> float:
    """ChipQuality's score without the sharpness, from the landmarks alone: cheap enough to
    decide on every frame whether a view is worth cutting a chip for."""
    size = chip_geometry(landmarks68).face_size_px
    return min(1.0, size / FULL_QUALITY_SIZE_PX) * frontalness(landmarks68)


def embedding_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two descriptors, as dlib compares them."""
    return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))


class FaceEmbedder:
    """Aligned chips -> 128-d descriptors. Holds one onnxruntime session and nothing else
    mutable, so one instance serves one caller at a time from any thread."""

    def __init__(self, model_path: Path, threads: int = 1) -> None:
        self._session = create_session(model_path, threads, allow_spinning=False)
        self._input_name = self._session.get_inputs()[0].name

    @classmethod
    def from_weights(cls, weights_dir: Path, threads: int = 1) -> "FaceEmbedder":
        """The embedder of a weights folder; one-line ModelFileError when set-up has not made it."""
        require_assets(Path(weights_dir), (FACE_EMBEDDING_ONNX,))
        return cls(Path(weights_dir) / FACE_EMBEDDING_ONNX, threads)

    def chips(self, image_bgr: np.ndarray, landmarks68: Sequence[np.ndarray]) -> np.ndarray:
        """(n, 150, 150, 3) uint8 RGB chips, one per face's (68, 2|3) image landmarks."""
        if not len(landmarks68):
            return np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), np.uint8)
        return np.stack([extract_chip(image_bgr, chip_geometry(lm)) for lm in landmarks68])

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """(n, 150, 150, 3) uint8 RGB chips -> (n, 128) float32 descriptors, one batched run."""
        chips = np.asarray(chips)
        if chips.ndim != 4 or chips.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ValueError(f"expected (n, {CHIP_SIZE}, {CHIP_SIZE}, 3) chips, got {chips.shape}")
        if len(chips) == 0:
            return np.zeros((0, EMBEDDING_SIZE), np.float32)
        blob = np.ascontiguousarray(chips.transpose(0, 3, 1, 2), dtype=np.float32)
        return self._session.run(None, {self._input_name: blob})[0]

    def embed(self, image_bgr: np.ndarray, landmarks68: Sequence[np.ndarray]) -> np.ndarray:
        """(n, 128) descriptors of the faces whose landmarks are given, batched."""
        return self.embed_chips(self.chips(image_bgr, landmarks68))


def _landmarks_xy(landmarks68: np.ndarray) -> np.ndarray:
    xy = np.asarray(landmarks68, np.float64)
    if xy.ndim != 2 or xy.shape[0] != 68 or xy.shape[1] not in (2, 3):
        raise ValueError(f"expected (68, 2) or (68, 3) landmarks, got {xy.shape}")
    if not np.all(np.isfinite(xy[:, :2])):
        raise ValueError("landmarks must be finite")
    return xy[:, :2]
