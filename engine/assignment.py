"""One global assignment of faces to tracks per frame (the Hungarian method).

    pairs = assign(cost, max_cost=0.7)      # [(row, column), ...] of least total cost

``cost`` is a (rows, columns) matrix, for example ``1 - IoU`` between detections and
predicted track boxes; pairs costing more than ``max_cost`` are never made (the gate).
The matrices are tiny (faces in a frame), so a plain O(n^3) implementation is enough
and keeps scipy a set-up-only dependency.
"""
from __future__ import annotations

import numpy as np

# Stands for "forbidden" inside the solver: larger than any sum of allowed costs.
_FORBIDDEN = 1e9


def assign(cost: np.ndarray, max_cost: float) -> list[tuple[int, int]]:
    """Row/column pairs of least total cost among those with cost <= ``max_cost``."""
    cost = np.asarray(cost, np.float64)
    if cost.ndim != 2 or cost.size == 0:
        return []
    allowed = np.isfinite(cost) & (cost <= max_cost)
    if not allowed.any():
        return []
    rows, cols = cost.shape
    n = max(rows, cols)
    # Square it: padding rows/columns cost max_cost + 1 so that "left unmatched" is always
    # cheaper than a forbidden pair and never cheaper than an allowed one.
    square = np.full((n, n), max_cost + 1.0)
    square[:rows, :cols] = np.where(allowed, cost, _FORBIDDEN)
    match = _hungarian(square)
    return [(r, c) for r, c in enumerate(match[:rows]) if c < cols and allowed[r, c]]


def _hungarian(a: np.ndarray) -> list[int]:
    """Column of each row in a minimum-cost perfect matching of the square matrix ``a``
    (the potentials form of the Hungarian method, O(n^3))."""
    n = a.shape[0]
    u = np.zeros(n + 1)
    v = np.zeros(n + 1)
    p = np.zeros(n + 1, dtype=int)  # p[j]: row matched to column j (1-based, 0 = none)
    way = np.zeros(n + 1, dtype=int)
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv = np.full(n + 1, np.inf)
        used = np.zeros(n + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = p[j0]
            delta = np.inf
            j1 = 0
            for j in range(1, n + 1):
                if not used[j]:
                    cur = a[i0 - 1, j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j] = cur
                        way[j] = j0
                    if minv[j] < delta:
                        delta = minv[j]
                        j1 = j
            for j in range(n + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while True:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
            if j0 == 0:
                break
    match = [0] * n
    for j in range(1, n + 1):
        if p[j]:
            match[p[j] - 1] = j - 1
    return match
