"""Hostile input to the C extensions: None for a typed argument raises TypeError (it used to
hand C a NULL pointer and segfault), and a garbage mesh costs a bounded amount of work."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import tests.support.raster_reference as ref
from engine.config import REPO_ROOT
from engine.render import MeshRenderer
from render_c import _raster

# Run in a child process: a missing `not None` is a segfault, which must fail this test
# (naming the function and argument) instead of killing the whole pytest run.
NONE_PROBE = r'''
import numpy as np
from render_c import _morph, _nms, _raster

f32, i32, u8 = np.float32, np.int32, np.uint8
topo = _raster.Topology(np.array([[0, 1, 2]]))
verts = np.array([[[0, 0, 1], [3, 0, 1], [0, 3, 1]]], f32)
depth, ids, bary = np.zeros((4, 4), f32), np.zeros((4, 4), i32), np.zeros((4, 4, 2), f32)
albedo, light, frame = np.ones((1, 3), f32), (0.0, 0.0, 1.0), np.zeros((4, 4, 3), u8)
per_vertex = np.zeros((1, 3, 3), f32)
calls = {
    "_raster.mesh_window": (_raster.mesh_window, [verts, 4, 4]),
    "_raster.rasterize": (_raster.rasterize, [topo, verts, depth, ids, bary, 0, 0]),
    "_raster.vertex_normals": (_raster.vertex_normals, [topo, verts]),
    "_raster.shade_vertices": (_raster.shade_vertices, [per_vertex, albedo, light, 0.3, 0.6, 0.1, 8.0]),
    "_raster.shade_mesh": (_raster.shade_mesh, [topo, verts, albedo, light, 0.3, 0.6, 0.1, 8.0]),
    "_raster.blend_colors": (_raster.blend_colors, [topo, depth, ids, bary, 0, 0, per_vertex, 0.5, frame]),
    "_raster.interpolate": (_raster.interpolate, [topo, depth, ids, bary, per_vertex, np.zeros((4, 4, 3), f32)]),
    "_raster.sample_texture": (_raster.sample_texture, [
        topo, depth, ids, bary, depth, ids, bary, 0, 0, verts[0], frame, 0.5, 0.0,
        np.zeros((4, 4, 3), u8), np.zeros((4, 4), u8)]),
    "_raster.shaded": (_raster.shaded, [topo, verts, albedo, light, 0.3, 0.6, 0.1, 8.0, 0.5, frame,
                                        _raster.Scratch()]),
    "_nms.nms": (_nms.nms, [np.zeros((2, 4), f32), np.zeros(2, f32), 0.5]),
    "_morph.reconstruct": (_morph.reconstruct, [np.zeros((1, 2, 3, 8), np.uint16), np.zeros((1, 3, 8), f32), 8,
                                                np.zeros(2, f32), np.zeros((3, 4), f32)]),
}
for name, (fn, args) in calls.items():
    fn(*args)  # the arguments are valid: each None below is the only fault
    for i, arg in enumerate(args):
        if not isinstance(arg, (np.ndarray, _raster.Topology, _raster.Scratch)):
            continue
        print(f"{name} argument {i}", flush=True)
        try:
            fn(*args[:i], None, *args[i + 1:])
        except TypeError as e:
            print(f"  TypeError: {e}", flush=True)
        else:
            raise SystemExit(f"{name} accepted None for argument {i}")
print("all refused")
'''


def test_none_for_any_typed_argument_raises_type_error() -> None:
    run = subprocess.run([sys.executable, "-c", NONE_PROBE], capture_output=True, text=True,
                         env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"}, timeout=300)
    last = run.stdout.strip().splitlines()[-2:] if run.stdout.strip() else []
    assert run.returncode == 0, f"exit {run.returncode} after {last}: {run.stderr[-500:]}"
    assert run.stdout.rstrip().endswith("all refused")
    refused = run.stdout.count("TypeError")
    assert refused == run.stdout.count("argument") >= 40  # every array, topology and scratch argument


def _garbage_mesh(n: int, spread: float, seed: int = 0) -> np.ndarray:
    """A finite mesh with vertices scattered over +-spread px: every triangle spans the frame."""
    rng = np.random.default_rng(seed)
    v = rng.uniform(-spread, spread, (n, 3)).astype(np.float32)
    v[:, 2] = rng.uniform(-100, 100, n)
    return v


@pytest.fixture(scope="module")
def face_tri(weights_dir: Path) -> np.ndarray:
    with np.load(weights_dir / "face_model.npz", allow_pickle=False) as m:
        return np.ascontiguousarray(m["tri"], np.int32)


def test_a_garbage_mesh_is_cut_off_by_the_work_budget_exactly_as_documented(face_tri: np.ndarray) -> None:
    """Small frame, so the NumPy reference can follow: the C rasteriser skips exactly the
    triangles the documented rule skips (index order, clipped box vs budget left)."""
    h, w = 90, 120
    v = _garbage_mesh(int(face_tri.max()) + 1, 2e5)
    renderer = MeshRenderer(face_tri)
    gb = renderer.rasterize((h, w), v, whole_frame=True)
    want_depth, want_id, _ = ref.rasterize(v, face_tri, (h, w))
    np.testing.assert_array_equal(gb.full("tri_id", -1), want_id)
    np.testing.assert_array_equal(gb.full("depth", -np.inf), want_depth)
    # Without the budget the nearest of all ~76,000 frame-covering triangles would win each
    # pixel, not the nearest of the few the budget lets through, so the equality above fails.
    assert (want_id >= 0).mean() > 0.9 and _raster.WORK_PER_WINDOW_PIXEL == ref.WORK_PER_WINDOW_PIXEL
    assert _raster.WORK_PER_TRIANGLE == ref.WORK_PER_TRIANGLE


def test_a_garbage_mesh_on_a_720p_frame_costs_little(face_tri: np.ndarray, report_figure) -> None:
    """The issue's case: one shaded() call of a garbage mesh on a 720p frame took 25-31 s."""
    renderer = MeshRenderer(face_tri)
    frame = np.zeros((720, 1280, 3), np.uint8)
    v = _garbage_mesh(int(face_tri.max()) + 1, 2e5, seed=1)
    cpu = time.process_time()
    out = renderer.shaded(frame, v, alpha=1.0)
    cpu = time.process_time() - cpu
    gb = renderer.rasterize(frame.shape[:2], v, whole_frame=True)
    drawn = np.unique(gb.tri_id[gb.tri_id >= 0]).size
    report_figure(f"garbage mesh (+-2e5 px), 720p shaded(): {cpu * 1000:.0f} ms CPU, "
                  f"{drawn} of {len(face_tri)} triangles visible")
    assert out.shape == frame.shape and out.any()  # it still draws what fits the budget
    assert drawn < len(face_tri) // 100
