"""FaceBoxes face detector on onnxruntime: anchors, SSD box decoding, NMS."""
from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from pathlib import Path

import numpy as np

from engine.config import DetectorConfig
from engine.image_input import to_bgr_uint8
from engine.nms import nms
from engine.onnx_session import create_session

# Facts fixed by the FaceBoxes weights (upstream cfg): one entry per output source.
ANCHOR_STEPS = (32, 64, 128)
ANCHOR_MIN_SIZES = ((32, 64, 128), (256,), (512,))
# Small anchors are densified inside each cell so tiny faces are not missed.
DENSE_OFFSETS = {32: (0.0, 0.25, 0.5, 0.75), 64: (0.0, 0.5)}
BOX_VARIANCES = (0.1, 0.2)


@dataclass(frozen=True)
class Detection:
    box: np.ndarray  # (4,) float32 x1, y1, x2, y2 in input-image pixels
    score: float


class FaceDetector:
    """Finds faces in a BGR frame. ``detect`` is safe to call from one thread at a time."""

    def __init__(self, model_path: Path, threads: int, config: DetectorConfig, allow_spinning: bool = False) -> None:
        self.config = config
        # No memory arena: a 720p detection needs ~30 MB of activations, the runs in between
        # (face checks on 128x128 ROIs) almost none; the arena kept its peak for good
        # (16 MB of a run's peak RSS), for about 0.05 ms per frame of face checks.
        self._session = create_session(model_path, threads, allow_spinning, memory_arena=False)
        self._input_name = self._session.get_inputs()[0].name
        self._anchor_cache: dict[tuple[int, int], np.ndarray] = {}

    def detect(self, image: np.ndarray, min_score: float | None = None) -> list[Detection]:
        """Faces with score >= ``min_score`` (default: config.min_score), best first."""
        import cv2

        image = to_bgr_uint8(image)
        h, w = image.shape[:2]
        scale = self._shrink_factor(h, w)
        if scale != 1.0:
            image = cv2.resize(image, (max(1, int(w * scale)), max(1, int(h * scale))),
                               interpolation=cv2.INTER_LINEAR)
        sh, sw = image.shape[:2]
        # Cast and transpose in one pass into a contiguous (1, 3, H, W) blob, which onnxruntime
        # reads in place: a transposed view made it copy the 11 MB of a 720p blob once more,
        # at the moment of a run's peak memory.
        blob = np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)[None]
        loc, scores = self._session.run(None, {self._input_name: blob})
        loc, scores = loc[0], scores[0]
        cfg = self.config
        candidates = np.flatnonzero(scores > cfg.candidate_score)
        if candidates.size == 0:
            return []
        candidates = candidates[np.argsort(-scores[candidates], kind="stable")[: cfg.candidate_top_k]]
        anchors = self._anchors(sh, sw)[candidates]
        boxes = decode_boxes(loc[candidates], anchors) * np.array([sw, sh, sw, sh], np.float32) / scale
        kept = nms(boxes, scores[candidates], cfg.nms_iou)
        return [Detection(box=boxes[i].astype(np.float32), score=float(scores[candidates][i]))
                for i in kept if scores[candidates][i] >= (cfg.min_score if min_score is None else min_score)]

    def _shrink_factor(self, h: int, w: int) -> float:
        """Upstream habit: frames taller than max_height or wider than max_width are shrunk."""
        scale = 1.0
        if h > self.config.max_height:
            scale = self.config.max_height / h
        if w * scale > self.config.max_width:
            scale *= self.config.max_width / (w * scale)
        return scale

    def _anchors(self, h: int, w: int) -> np.ndarray:
        key = (h, w)
        if key not in self._anchor_cache:
            if len(self._anchor_cache) > 8:  # a video has one size; don't grow without bound
                self._anchor_cache.clear()
            self._anchor_cache[key] = prior_boxes(h, w)
        return self._anchor_cache[key]


def prior_boxes(height: int, width: int) -> np.ndarray:
    """(A, 4) anchors cx, cy, w, h normalised to the image, in network output order."""
    out = []
    for step, min_sizes in zip(ANCHOR_STEPS, ANCHOR_MIN_SIZES):
        rows, cols = -(-height // step), -(-width // step)  # ceil: the net's feature map size
        per_cell = []  # anchors of one cell, relative offsets in cell units
        for size in min_sizes:
            offsets = DENSE_OFFSETS.get(size, (0.5,))
            for oy, ox in product(offsets, offsets):
                per_cell.append((ox, oy, size / width, size / height))
        cell = np.array(per_cell, dtype=np.float64)  # (k, 4)
        jj, ii = np.meshgrid(np.arange(cols), np.arange(rows))  # row-major cells
        cx = (jj.reshape(-1, 1) + cell[None, :, 0]) * step / width
        cy = (ii.reshape(-1, 1) + cell[None, :, 1]) * step / height
        wh = np.broadcast_to(cell[None, :, 2:], (rows * cols, len(per_cell), 2))
        out.append(np.concatenate([cx[..., None], cy[..., None], wh], axis=2).reshape(-1, 4))
    return np.concatenate(out).astype(np.float32)


def decode_boxes(loc: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """SSD decoding of (A, 4) deltas against (A, 4) anchors into normalised x1, y1, x2, y2."""
    centre = anchors[:, :2] + loc[:, :2] * BOX_VARIANCES[0] * anchors[:, 2:]
    size = anchors[:, 2:] * np.exp(loc[:, 2:] * BOX_VARIANCES[1])
    return np.concatenate([centre - size / 2, centre + size / 2], axis=1).astype(np.float32)
