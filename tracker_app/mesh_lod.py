"""Coarser index buffers for drawing the dense mesh small on screen. No Qt, no OpenGL.

A 38,365-vertex face seen 120 px wide puts about five triangles on every pixel;
software OpenGL (and any GPU, less visibly) then spends its time on triangle set-up
for detail nobody can see. Vertex clustering (Rossignac & Borrel) on the model's
mean shape gives coarser triangle lists over the SAME vertices: every vertex of a
grid cell is replaced by the one nearest the cell's centroid, and triangles that
collapse are dropped. The vertex buffer (positions and full-resolution normals)
stays one, so a level is only another range of the index buffer.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from engine.face_model import FaceModel

# Grid cells per axis of the normalised mean shape for each coarser level. On the
# 3DDFA mesh: 64 -> about 19k triangles, 32 -> about 5k (the full mesh has 76k).
LOD_CELLS = (64, 32)
# Finest level allowed: about this many triangles per screen pixel of the mesh's box.
TRIANGLES_PER_PIXEL = 0.5


def cluster_triangles(points: np.ndarray, triangles: np.ndarray, cells: int) -> np.ndarray:
    """Triangles (k, 3) uint32 of the mesh simplified on a ``cells``^3 grid over ``points`` in [0, 1]^3."""
    p = np.asarray(points, np.float64)
    key = np.clip(np.floor(p * cells).astype(np.int64), 0, cells - 1)
    cell_id = (key[:, 0] * cells + key[:, 1]) * cells + key[:, 2]
    _, cluster = np.unique(cell_id, return_inverse=True)
    counts = np.bincount(cluster)
    centroid = np.stack([np.bincount(cluster, p[:, d]) for d in range(3)], axis=1) / counts[:, None]
    distance = np.linalg.norm(p - centroid[cluster], axis=1)
    order = np.lexsort((distance, cluster))  # by cluster, nearest to its centroid first
    first = order[np.r_[True, cluster[order][1:] != cluster[order][:-1]]]
    representative = np.empty(len(counts), np.int64)
    representative[cluster[first]] = first
    t = representative[cluster[np.asarray(triangles, np.int64)]]
    t = t[(t[:, 0] != t[:, 1]) & (t[:, 1] != t[:, 2]) & (t[:, 0] != t[:, 2])]
    _, unique_rows = np.unique(np.sort(t, axis=1), axis=0, return_index=True)  # one copy of each
    return np.ascontiguousarray(t[np.sort(unique_rows)], dtype=np.uint32)


def mesh_lods(points: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, ...]:
    """The full triangle list (uint32) followed by the coarser levels, finest first."""
    full = np.ascontiguousarray(triangles, dtype=np.uint32)
    return (full,) + tuple(cluster_triangles(points, triangles, cells) for cells in LOD_CELLS)


def model_mesh_lods(model: FaceModel) -> tuple[np.ndarray, ...]:
    """``mesh_lods`` of the model's mean shape, kept in the model's derived cache when it has
    one (the clustering costs 0.06 s of CPU at every start of the app)."""
    name = "mesh_lods_" + "_".join(map(str, LOD_CELLS))  # other cells: another entry
    n = model.n_vertices

    def compute() -> dict[str, np.ndarray]:
        return {f"cells_{c}": cluster_triangles(model.ncc, model.triangles, c) for c in LOD_CELLS}

    def valid(arrays: dict[str, np.ndarray]) -> bool:  # OpenGL draws with these indices unchecked
        return set(arrays) == {f"cells_{c}" for c in LOD_CELLS} and all(
            t.dtype == np.uint32 and t.ndim == 2 and t.shape[1] == 3 and t.flags.c_contiguous
            and (t.size == 0 or int(t.max()) < n) for t in arrays.values())

    coarse = compute() if model.cache is None else model.cache.get(name, 1, compute, valid)
    return (np.ascontiguousarray(model.triangles, dtype=np.uint32),) + tuple(coarse[f"cells_{c}"] for c in LOD_CELLS)


def choose_lod(triangle_counts: list[int], screen_area_px: float) -> int:
    """Index of the finest level with at most TRIANGLES_PER_PIXEL triangles per pixel (else the coarsest)."""
    budget = TRIANGLES_PER_PIXEL * max(0.0, screen_area_px)
    for i, n in enumerate(triangle_counts):
        if n <= budget:
            return i
    return len(triangle_counts) - 1
