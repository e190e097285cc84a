#!/usr/bin/env python3
"""Rasteriser benchmark: ms per face at 720p, C rasteriser vs the NumPy reference.

    python bench/bench_render.py [--runs 200] [--ref-runs 5] [--width 300]

The real dense face mesh (weights/face_model.npz: 38,365 vertices, 76,073
triangles), its mean shape placed 300 px wide in a 1280x720 frame, turned 20
degrees. Single thread (the C code is single-threaded; BLAS threads are pinned
to 1 for the reference). Medians of many runs, the modes taking turns run by
run; the minimum is printed too, because on a shared machine the median also
measures the neighbours.
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # engine/ and tests/support/ from the checkout

from engine.config import FACE_MODEL_NPZ  # noqa: E402
from engine.render import Light, MeshRenderer  # noqa: E402
from render_c import _raster  # noqa: E402
from tests.support import raster_reference as ref  # noqa: E402

FRAME_H, FRAME_W = 720, 1280


def timeit_interleaved(fns: list[Callable[[], object]], runs: int) -> list[tuple[float, float]]:
    """(median, min) wall time in ms of each function. The functions take turns
    run by run, so a burst of load from other processes hits them all alike
    instead of whichever happened to be measured at that moment."""
    for fn in fns:
        fn()  # warm-up: caches, lazy allocations
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for fn, ts in zip(fns, times):
            t = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - t) * 1e3)
    return [(statistics.median(ts), min(ts)) for ts in times]


def place_face(u: np.ndarray, cx: float, cy: float, width: float, yaw_deg: float) -> np.ndarray:
    p = u.reshape(-1, 3).astype(np.float64)
    p -= p.mean(axis=0)
    a = np.radians(yaw_deg)
    p = p @ np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]).T
    s = width / (p[:, 0].max() - p[:, 0].min())
    v = np.stack([cx + s * p[:, 0], cy - s * p[:, 1], s * (p[:, 2] - p[:, 2].min())], axis=1)
    return v.astype(np.float32)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=200, help="runs per C measurement")
    ap.add_argument("--ref-runs", type=int, default=5, help="runs per NumPy reference measurement")
    ap.add_argument("--width", type=float, default=300.0, help="face width in pixels")
    ap.add_argument("--weights", type=Path, default=ROOT / "weights", help="folder with face_model.npz")
    args = ap.parse_args()

    model_path = args.weights / FACE_MODEL_NPZ
    if not model_path.is_file():
        print(f"bench_render: {model_path} missing: run python build_ext.py first", file=sys.stderr)
        return 1
    with np.load(model_path, allow_pickle=False) as m:
        u, tri, uv, ncc = m["u"], np.ascontiguousarray(m["tri"], np.int32), m["uv"], m["ncc"]
    renderer = MeshRenderer(tri, uv=uv, ncc=ncc)
    verts = place_face(u, FRAME_W / 2, FRAME_H / 2, args.width, yaw_deg=20)
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (FRAME_H, FRAME_W, 3), dtype=np.uint8)
    work = frame.copy()
    light = Light()
    shape = frame.shape[:2]
    gb = renderer.rasterize(shape, verts)
    eps = max(1.0, 0.01 * args.width)

    print(f"mesh: {len(verts)} vertices, {len(tri)} triangles, {args.width:.0f} px wide in "
          f"{FRAME_W}x{FRAME_H}; {int(gb.covered.sum())} pixels covered; "
          f"C: median of {args.runs} runs, NumPy: median of {args.ref_runs}")
    rows = [
        ("shaded (in place)", lambda: renderer.shaded(work, verts, inplace=True, light=light),
         lambda: ref.shaded(frame, verts, tri, (0.8, 0.84, 0.9), light, 0.6)),
        ("shaded (copy)", lambda: renderer.shaded(frame, verts, light=light), None),
        ("depth float32", lambda: renderer.depth(shape, verts), lambda: ref.depth(verts, tri, shape)),
        ("pncc", lambda: renderer.pncc(shape, verts), lambda: ref.pncc(verts, tri, ncc, shape)),
        ("uv texture 256 (no fill)", lambda: renderer.uv_texture(frame, verts, 256, eps, fill=False),
         lambda: ref.uv_texture(frame, verts, tri, uv, 256, eps, 0.25)),
        ("uv texture 256 + fill", lambda: renderer.uv_texture(frame, verts, 256, eps, fill=True), None),
    ]
    c_times = timeit_interleaved([c_fn for _, c_fn, _ in rows], args.runs)
    ref_fns = [ref_fn for _, _, ref_fn in rows if ref_fn is not None]
    ref_times = iter(timeit_interleaved(ref_fns, args.ref_runs))
    print(f"\n{'mode':<26}{'C median':>10}{'C min':>9}{'NumPy ref':>12}{'speed-up':>10}   (ms per face)")
    for (name, _, ref_fn), (c_med, c_min) in zip(rows, c_times):
        if ref_fn is not None:
            r_med, _ = next(ref_times)
            print(f"{name:<26}{c_med:>10.2f}{c_min:>9.2f}{r_med:>12.1f}{r_med / c_med:>9.0f}x")
        else:
            print(f"{name:<26}{c_med:>10.2f}{c_min:>9.2f}{'-':>12}{'-':>10}")

    # Where the shaded time goes (C stages only, through the binding).
    topo = _raster.Topology(tri)
    faces = verts[None]
    x0, y0, x1, y1 = _raster.mesh_window(faces, FRAME_H, FRAME_W)
    d = np.empty((y1 - y0, x1 - x0), np.float32)
    ids = np.empty(d.shape, np.int32)
    bary = np.empty(d.shape + (2,), np.float32)
    albedo = np.array([[0.8, 0.84, 0.9]], np.float32)
    normals = _raster.vertex_normals(topo, faces)
    colors = _raster.shade_vertices(normals, albedo, light.unit_direction(), light.ambient, light.diffuse,
                                    light.specular, light.shininess)
    _raster.rasterize(topo, faces, d, ids, bary, x0, y0)
    stages = [
        ("  rasterise (G-buffer)", lambda: _raster.rasterize(topo, faces, d, ids, bary, x0, y0)),
        ("  vertex normals", lambda: _raster.vertex_normals(topo, faces)),
        ("  vertex lighting", lambda: _raster.shade_vertices(normals, albedo, light.unit_direction(),
                                                             light.ambient, light.diffuse, light.specular,
                                                             light.shininess)),
        ("  blend", lambda: _raster.blend_colors(topo, d, ids, bary, x0, y0, colors, 0.6, work)),
        ("  normals + lighting fused", lambda: _raster.shade_mesh(topo, faces, albedo, light.unit_direction(),
                                                                  light.ambient, light.diffuse, light.specular,
                                                                  light.shininess)),
    ]
    print("\nshaded, by C stage (shaded() runs the fused normals + lighting):")
    for (name, _), (med, mn) in zip(stages, timeit_interleaved([fn for _, fn in stages], args.runs)):
        print(f"{name:<26}{med:>10.2f}{mn:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
