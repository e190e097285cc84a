"""The rasteriser under AddressSanitizer + UndefinedBehaviorSanitizer, fed fuzzed meshes.

render_c/ is copied into a temporary folder and compiled there with the sanitizers
(the normal in-place build that the other tests import stays untouched). A fuzz
script then drives every binding function and every engine.render mode, in a
subprocess with libasan preloaded (the Python interpreter itself is not
instrumented), over random meshes with huge, far off-screen, NaN/inf and
degenerate vertices, tiny frames and damaged G-buffers. Any sanitizer report
aborts the subprocess, so the test asserts a clean exit and a silent stderr.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.config import REPO_ROOT

# The sanitiser build is the project's own (render_c/extensions.py, the flags that
# `build_ext.py --sanitize` and TRACKER_BUILD_SANITIZE=1 use), run on a copy of render_c.
BUILD_SCRIPT = """
import sys

from render_c.extensions import build_in_place

build_in_place(sys.argv[1], sanitize=True, names={"render_c._raster"})
"""

FUZZ_SCRIPT = r'''
import sys
from pathlib import Path

import numpy as np

import render_c._raster as R
assert Path(R.__file__).resolve().parent == Path(sys.argv[1]).resolve() / "render_c", R.__file__
from engine.render import Light, MeshRenderer

rng = np.random.default_rng(1234)
SPECIAL = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 3.4e38, -3.4e38, 1e-42,
                    R.MAX_COORD, -R.MAX_COORD, R.MAX_COORD + 1, 2.0**31, -2.0**31, 1e7, -1e7, 0.5, -0.5],
                   np.float32)


def grid(nx, ny):
    xs, ys = np.meshgrid(np.arange(nx), np.arange(ny))
    v = np.stack([xs, ys, np.sin(xs) + np.cos(ys)], -1).reshape(-1, 3).astype(np.float32)
    t = []
    for j in range(ny - 1):
        for i in range(nx - 1):
            a = j * nx + i
            t += [[a, a + 1, a + nx], [a + 1, a + nx + 1, a + nx]]
    return v, np.array(t, np.int32)


def fuzz_vertices(n, h, w):
    kind = rng.integers(0, 6)
    scale = [1.0, 4.0, 1e3, 1e6, 1e9, 1e30][rng.integers(0, 6)]
    v = rng.normal(0, 1, (n, 3)).astype(np.float64) * scale
    v[:, 0] += rng.uniform(-w, 2 * w)
    v[:, 1] += rng.uniform(-h, 2 * h)
    if kind == 1:  # sprinkle special values
        idx = rng.integers(0, n, n // 4 + 1)
        v[idx, rng.integers(0, 3, len(idx))] = rng.choice(SPECIAL, len(idx))
    elif kind == 2:  # degenerate: collinear or coincident
        v[:, 1] = v[:, 0] * 0.5 + 1
        v[: n // 2] = v[0]
    elif kind == 3:  # half-pixel grid: exact edge hits
        v = np.round(v * 2) / 2
    elif kind == 4:  # far off-screen
        v[:, 0] += 1e5
    v = v.astype(np.float32)  # may overflow to inf on purpose
    return v


cases = 0
with np.errstate(all="ignore"):
    for it in range(120):
        h, w = [(1, 1), (0, 0), (1, 7), (3, 2), (17, 23), (64, 48), (5, 300)][it % 7]
        if it % 3 == 0:
            verts, tris = grid(int(rng.integers(2, 9)), int(rng.integers(2, 9)))
            verts = verts * rng.uniform(0.1, 40) + rng.uniform(-20, 60, 3).astype(np.float32)
            verts = verts.astype(np.float32)
            if it % 2:
                verts[rng.integers(0, len(verts), 3)] = rng.choice(SPECIAL, (3, 3))
        else:
            n = int(rng.integers(3, 60))
            verts = fuzz_vertices(n, max(h, 1), max(w, 1))
            tris = rng.integers(0, n, (int(rng.integers(1, 200)), 3)).astype(np.int32)
        n = len(verts)
        uv = rng.uniform(-0.2, 1.2, (n, 2)).astype(np.float32)
        if it % 5 == 0:
            uv[rng.integers(0, n)] = np.nan
        ncc = rng.random((n, 3)).astype(np.float32)
        r = MeshRenderer(tris, uv=uv, ncc=ncc)
        frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        k = int(rng.integers(1, 4))
        faces = np.stack([verts + rng.normal(0, 2, (1, 3)).astype(np.float32) for _ in range(k)])
        colour = rng.random((n, 3)).astype(np.float32) if it % 2 else (0.8, 0.8, 0.8)
        light = Light(direction=tuple(rng.normal(0, 1, 3)), specular=float(rng.random()),
                      shininess=float(rng.choice([0.0, 1.0, 7.5, 24.0, 200.0])))
        r.shaded(frame, faces, alpha=float(rng.random()), color=colour, light=light)
        r.depth(frame.shape, faces)
        r.depth(frame.shape, faces, normalize=True)
        r.pncc(frame, faces)
        r.textured(frame.shape, faces, rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
        if h and w:
            r.uv_texture(frame, faces[0], size=int(rng.choice([1, 2, 16])), fill=bool(it % 2))
        gb = r.rasterize(frame.shape, faces)

        # Damaged G-buffers: ids and barycentrics no rasteriser would produce.
        if gb.depth.size:
            topo = R.Topology(tris)
            gb.tri_id[...] = rng.integers(-5, len(tris) * k + 5, gb.tri_id.shape)
            gb.bary[...] = rng.choice(np.array([0.3, -1e30, np.nan, np.inf, 5.0], np.float32), gb.bary.shape)
            cols = rng.random((k, n, 3)).astype(np.float32)
            R.blend_colors(topo, gb.depth, gb.tri_id, gb.bary, gb.x0, gb.y0, cols, 0.5, frame)
            out = np.zeros(gb.depth.shape + (4,), np.float32)
            R.interpolate(topo, gb.depth, gb.tri_id, gb.bary, rng.random((k, n, 4)).astype(np.float32), out)
            s = 8
            uvd = np.zeros((s, s), np.float32)
            uvi = rng.integers(-3, len(tris) + 3, (s, s)).astype(np.int32)
            uvb = rng.choice(np.array([0.5, np.nan, -1e30, 1e30], np.float32), (s, s, 2))
            R.sample_texture(topo, uvd, uvi, uvb, gb.depth, gb.tri_id, gb.bary, gb.x0, gb.y0,
                             faces[0], frame, 1.0, float(rng.choice([0.0, 0.25, np.nan])),
                             np.zeros((s, s, 3), np.uint8), np.zeros((s, s), np.uint8))
        cases += 1

    # Large coordinates exactly at the guard band over a bigger frame (edge functions near 2^59).
    big = np.array([[-R.MAX_COORD, -R.MAX_COORD, 0], [R.MAX_COORD, -R.MAX_COORD, 1],
                    [0, R.MAX_COORD, 2], [R.MAX_COORD, R.MAX_COORD, 3]], np.float32)
    MeshRenderer(np.array([[0, 1, 2], [1, 3, 2]], np.int32)).shaded(np.zeros((300, 400, 3), np.uint8), big)
    cases += 1

    # Bad input must raise, not crash.
    r = MeshRenderer(np.array([[0, 1, 2]], np.int32))
    for bad in (np.zeros((2, 3), np.float32), np.zeros((3, 3), np.float64)[::2]):
        try:
            r.shaded(np.zeros((4, 4, 3), np.uint8), bad)
        except ValueError:
            cases += 1
print(f"fuzz ok: {cases} cases")
'''


def _gcc_lib(name: str) -> str:
    try:
        out = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True, text=True,
                             check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.fail(f"gcc is needed for the sanitizer build: {e}")
    if not os.path.isabs(out) or not Path(out).exists():
        pytest.fail(f"{name} not found (gcc says {out!r}); install gcc's runtime libraries")
    return out


@pytest.mark.slow
def test_fuzzed_meshes_are_clean_under_asan_and_ubsan(tmp_path: Path) -> None:
    pkg = tmp_path / "render_c"
    pkg.mkdir()
    for name in ("__init__.py", "extensions.py", "_raster.pyx", "rasterize.c", "rasterize.h"):
        shutil.copy(REPO_ROOT / "render_c" / name, pkg / name)
    (tmp_path / "build.py").write_text(textwrap.dedent(BUILD_SCRIPT))
    build = subprocess.run([sys.executable, "build.py", str(tmp_path)], cwd=tmp_path,
                           env={**os.environ, "PYTHONPATH": str(tmp_path)},
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, f"sanitizer build failed:\n{build.stdout}\n{build.stderr}"

    (tmp_path / "fuzz.py").write_text(FUZZ_SCRIPT)
    env = dict(os.environ)
    env.update({
        # libasan must come first. libstdc++ is preloaded too: OpenCV throws and
        # catches C++ exceptions internally, and ASan's __cxa_throw interceptor
        # aborts if libstdc++ was not loaded when ASan started.
        "LD_PRELOAD": " ".join([_gcc_lib("libasan.so"), _gcc_lib("libstdc++.so")]),
        "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1",
        "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
        # The sanitized copy first, then the repository for engine/.
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT)]),
        "OPENBLAS_NUM_THREADS": "1",
    })
    run = subprocess.run([sys.executable, "fuzz.py", str(tmp_path)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    report = f"exit {run.returncode}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr[-6000:]}"
    assert run.returncode == 0, report
    assert "fuzz ok" in run.stdout, report
    for marker in ("AddressSanitizer", "runtime error", "UndefinedBehaviorSanitizer", "LeakSanitizer"):
        assert marker not in run.stderr, report
