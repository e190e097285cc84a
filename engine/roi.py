"""Square regions of interest around a face, and the 120x120 crop taken from them.

The geometry follows upstream 3DDFA_V2 (the regressor was trained on such crops);
the crop is a single affine warp with zero padding, which keeps the ROI at
sub-pixel precision (upstream rounds it), so tracking does not jitter by a pixel.
"""
from __future__ import annotations

import numpy as np


def roi_from_box(box: np.ndarray, shift: float, scale: float) -> np.ndarray:
    """Square ROI from a detector box: centre moved down by shift x mean side, side scale x mean side."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    mean_side = (x2 - x1 + y2 - y1) / 2
    cx = (x1 + x2) / 2
    cy = (y1 + y2) / 2 + mean_side * shift
    half = mean_side * scale / 2
    return np.array([cx - half, cy - half, cx + half, cy + half], dtype=np.float32)


def roi_from_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Square ROI around the landmarks' bounding box whose side is the diagonal of their bounding square."""
    xy = np.asarray(landmarks, dtype=np.float64)[:, :2]
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    cx, cy = (lo + hi) / 2
    radius = max(hi[0] - lo[0], hi[1] - lo[1]) / 2
    half = radius * np.sqrt(2.0)  # half of the bounding square's diagonal
    return np.array([cx - half, cy - half, cx + half, cy + half], dtype=np.float32)


def box_from_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Axis-aligned bounding box of the landmarks' x, y."""
    xy = np.asarray(landmarks)[:, :2]
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    return np.array([lo[0], lo[1], hi[0], hi[1]], dtype=np.float32)


def crop_roi(image: np.ndarray, roi: np.ndarray, size: int) -> np.ndarray:
    """Resample the square ``roi`` of ``image`` to size x size (bilinear; outside pixels are 0).

    Maps the ROI's pixel grid like cv2.resize of the cropped region does (pixel
    centres aligned), so results match upstream's crop-then-resize on integer ROIs.
    """
    import cv2

    x1, y1, x2, y2 = (float(v) for v in roi)
    sx = (x2 - x1) / size
    sy = (y2 - y1) / size
    # dst (u, v) samples src ((u + 0.5) * sx - 0.5 + x1, (v + 0.5) * sy - 0.5 + y1)
    inverse = np.array([[sx, 0, 0.5 * sx - 0.5 + x1],
                        [0, sy, 0.5 * sy - 0.5 + y1]], dtype=np.float64)
    return cv2.warpAffine(image, inverse, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
