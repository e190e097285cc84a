"""Non-maximum suppression: the compiled Cython kernel and a NumPy twin.

The NumPy version is the readable reference (tests compare the two); the engine
uses the compiled one, which is several times faster on thousands of candidates.
"""
from __future__ import annotations

import numpy as np


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of kept boxes, best first (compiled kernel)."""
    try:
        from render_c._nms import nms as nms_compiled
    except ImportError as e:
        raise ImportError(f"render_c._nms is not built ({e}); run: python build_ext.py") from None
    return nms_compiled(np.ascontiguousarray(boxes, dtype=np.float32),
                        np.ascontiguousarray(scores, dtype=np.float32), float(iou_threshold))


def nms_numpy(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Reference NMS (upstream py_cpu_nms semantics, +1 pixel convention)."""
    boxes = np.asarray(boxes, dtype=np.float32)
    scores = np.asarray(scores, dtype=np.float32)
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(np.float32(0), np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(np.float32(0), np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.intp)
