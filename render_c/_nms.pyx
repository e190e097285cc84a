# cython: boundscheck=False, wraparound=False, cdivision=True
"""Greedy non-maximum suppression over scored boxes (Cython).

Same contract as engine.nms.nms_numpy, which the tests compare it with.
"""
import numpy as np
cimport numpy as cnp

cnp.import_array()


def nms(cnp.ndarray[cnp.float32_t, ndim=2] boxes not None, cnp.ndarray[cnp.float32_t, ndim=1] scores not None,
        float iou_threshold):
    """Indices of the kept boxes, best score first.

    boxes: (N, 4) float32 x1, y1, x2, y2 (pixel units, +1 convention like upstream);
    a box is dropped when its IoU with a kept, higher-scoring box exceeds the threshold.
    """
    cdef Py_ssize_t n = boxes.shape[0]
    if scores.shape[0] != n:
        raise ValueError("boxes and scores differ in length")
    cdef cnp.ndarray[cnp.intp_t, ndim=1] order = np.argsort(-scores, kind="stable")
    cdef cnp.ndarray[cnp.uint8_t, ndim=1] suppressed = np.zeros(n, dtype=np.uint8)
    cdef cnp.ndarray[cnp.float32_t, ndim=1] areas = (
        (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1))
    cdef list keep = []
    cdef Py_ssize_t _i, _j, i, j
    cdef float ix1, iy1, ix2, iy2, iarea, xx1, yy1, xx2, yy2, w, h, inter, iou
    for _i in range(n):
        i = order[_i]
        if suppressed[i]:
            continue
        keep.append(i)
        ix1 = boxes[i, 0]; iy1 = boxes[i, 1]; ix2 = boxes[i, 2]; iy2 = boxes[i, 3]
        iarea = areas[i]
        for _j in range(_i + 1, n):
            j = order[_j]
            if suppressed[j]:
                continue
            xx1 = max(ix1, boxes[j, 0])
            yy1 = max(iy1, boxes[j, 1])
            xx2 = min(ix2, boxes[j, 2])
            yy2 = min(iy2, boxes[j, 3])
            w = max(0.0, xx2 - xx1 + 1)
            h = max(0.0, yy2 - yy1 + 1)
            inter = w * h
            iou = inter / (iarea + areas[j] - inter)
            if iou > iou_threshold:
                suppressed[j] = 1
    return np.asarray(keep, dtype=np.intp)
