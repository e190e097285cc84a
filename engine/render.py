"""Mesh rendering on the CPU: shaded overlays, depth, PNCC and UV textures (no Qt).

A thin typed layer over the C rasteriser (render_c/rasterize.c through the
Cython binding render_c._raster). Conventions:

* Meshes are in IMAGE space: (n, 3) float32 with x to the right and y down in
  pixels and z a depth where a LARGER z is NEARER the camera (3DDFA: z is shifted
  so its minimum is 0 and the face points towards +z). Pixel (px, py) is centred
  on the integer point (px, py), as in OpenCV.
* A pixel is covered when its centre is inside a triangle (top-left rule on
  edges); the nearest triangle wins; on equal depth the earlier one (lower face
  index, then lower triangle index) keeps the pixel. Several faces given
  together share one z-buffer. See render_c/rasterize.h for the exact rules,
  which tests/raster_reference.py reproduces in NumPy.
* Colours are BGR like OpenCV frames; float colours are in [0, 1].
* UV coordinates follow the OBJ/OpenGL convention of the face model: u runs to
  the right and v UP (v = 0 at the bottom of the texture image: the chin has
  v ~ 0.24, the brows v ~ 0.85). Texel (col, row) of an S x S texture covers
  u in [col, col + 1] / S and v in [S - row - 1, S - row] / S.
* Broken input never raises from the C side: triangles with NaN/inf vertices or
  vertices beyond render_c._raster.MAX_COORD pixels are skipped, zero-area
  triangles are skipped, and everything is clipped to the frame. Triangle
  indices out of range raise ValueError.

The renderer is stateless apart from the topology (triangles, uv, ncc) and a
cache of the texture-space rasterisation, which depends only on the topology.
All C calls release the GIL.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import cv2
import numpy as np


try:
    from render_c import _raster
except ImportError as e:  # pragma: no cover - depends on the build
    raise ImportError(f"render_c._raster is not built ({e}); run: python build_ext.py") from None

VerticesLike = Union[np.ndarray, Sequence[np.ndarray]]
ShapeLike = Union[np.ndarray, tuple[int, ...]]

# Light warm grey, BGR in [0, 1]: reads as "mesh" over any skin tone.
DEFAULT_COLOR_BGR: tuple[float, float, float] = (0.80, 0.84, 0.90)
# UV texture sampling skips triangles seen more obliquely than acos(0.25) ~ 75 degrees.
DEFAULT_MIN_FACING = 0.25


@dataclass(frozen=True)
class Light:
    """Fixed directional light of the Phong model, evaluated per vertex.

    direction points from the surface towards the light in image space (x right,
    y down, z towards the camera); the default comes from the upper left, in
    front. specular = 0 gives pure Lambert shading.
    """

    direction: tuple[float, float, float] = (-0.35, -0.45, 1.0)
    ambient: float = 0.35
    diffuse: float = 0.65
    specular: float = 0.12
    shininess: float = 24.0

    def unit_direction(self) -> np.ndarray:
        d = np.asarray(self.direction, dtype=np.float64)
        n = float(np.linalg.norm(d))
        if d.shape != (3,) or not np.isfinite(n) or n == 0.0:
            raise ValueError(f"light direction must be a non-zero 3-vector, got {self.direction}")
        return d / n


@dataclass(frozen=True)
class GBuffer:
    """Visibility of a rasterised frame, over a window of it.

    depth: (h, w) float32 nearest z, -inf where no triangle; tri_id: (h, w) int32
    face * n_tris + triangle, -1 where none; bary: (h, w, 2) float32 barycentric
    weights (b1, b2) of the winning triangle (b0 = 1 - b1 - b2). The window
    starts at frame pixel (x0, y0).
    """

    x0: int
    y0: int
    frame_shape: tuple[int, int]
    n_tris: int
    depth: np.ndarray
    tri_id: np.ndarray
    bary: np.ndarray

    @property
    def window(self) -> tuple[slice, slice]:
        """Row and column slices of the frame that the buffers cover."""
        h, w = self.depth.shape
        return slice(self.y0, self.y0 + h), slice(self.x0, self.x0 + w)

    @property
    def covered(self) -> np.ndarray:
        return self.tri_id >= 0

    def full(self, name: str, fill: float | int) -> np.ndarray:
        """One of depth / tri_id as a frame-sized array, `fill` outside the window."""
        src = getattr(self, name)
        out = np.full(self.frame_shape, fill, dtype=src.dtype)
        out[self.window] = src
        return out


@dataclass
class MeshRenderer:
    """Renders meshes that share one topology (e.g. the dense face model).

    triangles: (m, 3) int indices; uv: (n, 2) texture coordinates in [0, 1]
    (needed by uv_texture and textured); ncc: (n, 3) NCC code in [0, 1] (needed
    by pncc).
    """

    triangles: np.ndarray
    uv: np.ndarray | None = None
    ncc: np.ndarray | None = None
    _topo: _raster.Topology = field(init=False, repr=False)
    _uv_cache: dict[int, GBuffer] = field(init=False, repr=False, default_factory=dict)
    _scratch: list[Any] = field(init=False, repr=False, default_factory=list)

    def __post_init__(self) -> None:
        self._topo = _raster.Topology(self.triangles)
        self.triangles = self._topo.triangles  # validated read-only int32 copy
        n_min = self._topo.max_index + 1
        if self.uv is not None:
            self.uv = _float_table(self.uv, 2, "uv", n_min)
        if self.ncc is not None:
            self.ncc = _float_table(self.ncc, 3, "ncc", n_min)

    @property
    def n_tris(self) -> int:
        return int(self._topo.n_tris)

    def vertex_normals(self, vertices: np.ndarray) -> np.ndarray:
        """Area-weighted unit vertex normals (n, 3) float32 of one mesh (C kernel, GIL released)."""
        verts = np.ascontiguousarray(vertices, dtype=np.float32)
        return _raster.vertex_normals(self._topo, verts[None])[0]

    # ------------------------------------------------------------------ core
    def rasterize(self, shape: ShapeLike, vertices: VerticesLike, whole_frame: bool = False) -> GBuffer:
        """G-buffer of one or several faces in a frame of the given shape.

        The buffers cover only the window around the meshes (clearing a whole
        720p buffer would cost more than drawing a face) unless whole_frame=True.
        """
        h, w = _frame_size(shape)
        verts = self._faces(vertices)
        if whole_frame:
            x0, y0, x1, y1 = 0, 0, w, h
        elif verts.shape[0]:
            x0, y0, x1, y1 = _raster.mesh_window(verts, h, w)
        else:
            x0, y0, x1, y1 = 0, 0, 0, 0
        gh, gw = max(0, y1 - y0), max(0, x1 - x0)
        gb = GBuffer(x0, y0, (h, w), self.n_tris, np.empty((gh, gw), np.float32),
                     np.empty((gh, gw), np.int32), np.empty((gh, gw, 2), np.float32))
        if not (gh and gw):
            return gb
        if verts.shape[0]:  # C clears the buffers first (clear=True)
            _raster.rasterize(self._topo, verts, gb.depth, gb.tri_id, gb.bary, x0, y0, True)
        else:  # whole_frame with no faces: an empty G-buffer
            gb.depth.fill(-np.inf)
            gb.tri_id.fill(-1)
            gb.bary.fill(0)
        return gb

    # ----------------------------------------------------------------- modes
    def shaded(self, frame: np.ndarray, vertices: VerticesLike, alpha: float = 0.6,
               color: tuple[float, float, float] | np.ndarray = DEFAULT_COLOR_BGR,
               light: Light = Light(), inplace: bool = False) -> np.ndarray:
        """Shaded mesh alpha-blended over a BGR uint8 frame.

        color: one BGR colour in [0, 1] or per-vertex colours (n, 3) (float in
        [0, 1] or uint8). With inplace=True the frame (C-contiguous uint8) is
        modified and returned; otherwise a copy is.
        """
        out = _output_frame(frame, inplace)
        verts = self._faces(vertices)
        if verts.shape[0] == 0:
            return out
        albedo = _albedo(color, verts.shape[1])
        # One C call (rasterise, normals, lighting, blend) on reused working
        # memory: per-frame buffers would cost page faults and Python overhead.
        # The pool hands each concurrent caller its own scratch (pop and append
        # are atomic under the GIL; the C code runs without it).
        try:
            scratch = self._scratch.pop()
        except IndexError:
            scratch = _raster.Scratch()
        try:
            _raster.shaded(self._topo, verts, albedo, light.unit_direction(), light.ambient, light.diffuse,
                           light.specular, light.shininess, float(alpha), out, scratch)
        finally:
            self._scratch.append(scratch)
        return out

    def depth(self, shape: ShapeLike, vertices: VerticesLike, normalize: bool = False,
              background: float = 0.0) -> np.ndarray:
        """Depth image of the nearest surface.

        float32 z (larger = nearer) with `background` where no triangle, or with
        normalize=True a uint8 image for viewing: the nearest covered pixel 255,
        the farthest 1, background 0.
        """
        gb = self.rasterize(shape, vertices)
        if not normalize:
            out = np.full(gb.frame_shape, background, np.float32)
            cov = gb.covered
            out[gb.window][cov] = gb.depth[cov]
            return out
        out8 = np.zeros(gb.frame_shape, np.uint8)
        cov = gb.covered
        if cov.any():
            z = gb.depth[cov].astype(np.float64)
            lo, hi = float(z.min()), float(z.max())
            scale = 254.0 / (hi - lo) if hi > lo else 0.0
            out8[gb.window][cov] = np.clip(np.rint(1.0 + (z - lo) * scale), 1, 255).astype(np.uint8)
        return out8

    def pncc(self, frame_or_shape: ShapeLike, vertices: VerticesLike) -> np.ndarray:
        """PNCC image: the NCC code (n, 3) in [0, 1] interpolated and written as
        uint8 with image channel c = ncc[:, c] (as upstream 3DDFA). Over a copy of
        the frame when one is given, else over black."""
        if self.ncc is None:
            raise ValueError("this renderer has no ncc code")
        out = _canvas(frame_or_shape)
        gb = self.rasterize(out.shape, vertices)
        if gb.depth.size:
            _raster.blend_colors(self._topo, gb.depth, gb.tri_id, gb.bary, gb.x0, gb.y0,
                                 self.ncc[None], 1.0, out)
        return out

    def textured(self, frame_or_shape: ShapeLike, vertices: VerticesLike, texture: np.ndarray,
                 alpha: float = 1.0) -> np.ndarray:
        """Mesh rendered with a UV texture (S, S, 3) uint8, sampled bilinearly per
        pixel through the interpolated uv, blended over a copy of the frame (or black)."""
        if self.uv is None:
            raise ValueError("this renderer has no uv coordinates")
        tex = np.ascontiguousarray(texture)
        if tex.ndim != 3 or tex.shape[2] != 3 or tex.dtype != np.uint8:
            raise ValueError("texture must be (S, S, 3) uint8")
        out = _canvas(frame_or_shape)
        gb = self.rasterize(out.shape, vertices)
        cov = gb.covered
        if not cov.any():
            return out
        uv_px = np.zeros(gb.depth.shape + (2,), np.float32)
        _raster.interpolate(self._topo, gb.depth, gb.tri_id, gb.bary, self.uv[None], uv_px)
        th, tw = tex.shape[:2]
        map_x = uv_px[..., 0] * tw - 0.5          # u to texel column (centres on integers)
        map_y = (1.0 - uv_px[..., 1]) * th - 0.5  # v runs up, rows run down
        sampled = cv2.remap(tex, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        win = out[gb.window]
        blend = win[cov].astype(np.float32) * (1.0 - alpha) + sampled[cov].astype(np.float32) * alpha
        win[cov] = np.clip(np.rint(blend), 0, 255).astype(np.uint8)
        return out

    def uv_texture(self, frame: np.ndarray, vertices: np.ndarray, size: int = 256,
                   depth_eps: float | None = None, fill: bool = True,
                   min_facing: float = DEFAULT_MIN_FACING) -> np.ndarray:
        """UV texture (size, size, 3) uint8 of one face sampled from the frame.

        Only texels whose surface point is visible are sampled: not behind the
        face itself (by the rendered depth with tolerance depth_eps pixels;
        default 1 % of the face width, at least 1 px), and on a triangle facing
        the camera by at least min_facing (|z| of its unit normal; the default
        0.25 drops views more grazing than ~75 degrees, which would smear the
        silhouette across the texture). With fill=True the other texels get a
        smooth blend of the nearest sampled ones (push-pull fill), else stay black.
        """
        return self.uv_texture_and_mask(frame, vertices, size, depth_eps, fill, min_facing)[0]

    def uv_texture_and_mask(self, frame: np.ndarray, vertices: np.ndarray, size: int = 256,
                            depth_eps: float | None = None, fill: bool = True,
                            min_facing: float = DEFAULT_MIN_FACING) -> tuple[np.ndarray, np.ndarray]:
        """uv_texture plus its (size, size) uint8 mask: 255 where a texel was seen."""
        if self.uv is None:
            raise ValueError("this renderer has no uv coordinates")
        if not (isinstance(size, (int, np.integer)) and 1 <= size <= 8192):
            raise ValueError(f"texture size must be an int in [1, 8192], got {size!r}")
        img = _bgr_frame(frame)
        verts = self._faces(vertices)
        if verts.shape[0] != 1:
            raise ValueError("uv_texture takes the vertices of one face (n, 3)")
        v = verts[0]
        if depth_eps is None:
            xs = v[:, 0][np.isfinite(v[:, 0])]
            depth_eps = max(1.0, 0.01 * float(xs.max() - xs.min())) if xs.size else 1.0
        gb = self.rasterize(img.shape, verts)
        uv_gb = self._uv_gbuffer(int(size))
        texture = np.zeros((size, size, 3), np.uint8)
        mask = np.zeros((size, size), np.uint8)
        _raster.sample_texture(self._topo, uv_gb.depth, uv_gb.tri_id, uv_gb.bary, gb.depth, gb.tri_id,
                               gb.bary, gb.x0, gb.y0, v, img, float(depth_eps), float(min_facing), texture, mask)
        if fill:
            texture = push_pull_fill(texture, mask > 0)
        return texture, mask

    def _faces(self, vertices: VerticesLike) -> np.ndarray:
        """(k, n, 3) float32 faces, checked against the triangle indices up front
        (so an empty window cannot hide a wrong vertex count)."""
        verts = _faces(vertices)
        if verts.shape[0] and verts.shape[1] <= self._topo.max_index:
            raise ValueError(f"triangle index {self._topo.max_index} out of range for "
                             f"{verts.shape[1]} vertices")
        return verts

    def _uv_gbuffer(self, size: int) -> GBuffer:
        """The mesh rasterised in texture space (flat, depth 0), cached per size."""
        gb = self._uv_cache.get(size)
        if gb is None:
            assert self.uv is not None
            tex_verts = np.zeros((self.uv.shape[0], 3), np.float32)
            tex_verts[:, 0] = self.uv[:, 0] * size - 0.5
            tex_verts[:, 1] = (1.0 - self.uv[:, 1]) * size - 0.5
            gb = self.rasterize((size, size), tex_verts, whole_frame=True)
            self._uv_cache[size] = gb
        return gb


# ---------------------------------------------------------------- helpers
def push_pull_fill(image: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Fills invalid pixels from valid ones by a push-pull pyramid (each hole gets
    a smooth blend of the nearest valid colours); valid pixels are kept as is."""
    img = image.astype(np.float32)
    weight = valid.astype(np.float32)
    if not weight.any():
        return image.copy()
    filled = _push_pull(img * weight[..., None], weight)
    out = np.where(valid[..., None], img, filled)
    return np.clip(np.rint(out), 0, 255).astype(image.dtype)


def _push_pull(premult: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Colours (not premultiplied) everywhere, from premultiplied colours and
    weights in [0, 1]: recursively average 2x2 blocks (push), then let every
    pixel blend in the coarser level by its missing weight (pull)."""
    h, w = weight.shape
    here = premult / np.maximum(weight, 1e-12)[..., None]
    if h <= 1 and w <= 1:
        return here
    ph, pw = h + h % 2, w + w % 2  # odd sizes: pad with zero weight
    p = np.zeros((ph, pw, premult.shape[2]), np.float32)
    q = np.zeros((ph, pw), np.float32)
    p[:h, :w] = premult
    q[:h, :w] = weight
    # 2x2 block sums by strided slices (several times faster than reshape + sum).
    p2 = p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2]
    q2 = q[0::2, 0::2] + q[1::2, 0::2] + q[0::2, 1::2] + q[1::2, 1::2]
    w2 = np.minimum(q2, 1.0)
    coarse = _push_pull(p2 / np.maximum(q2, 1e-12)[..., None] * w2[..., None], w2)
    # Bilinear rather than nearest upsampling: filled holes get smooth gradients
    # instead of visible blocks.
    up = cv2.resize(coarse, (2 * coarse.shape[1], 2 * coarse.shape[0]), interpolation=cv2.INTER_LINEAR)
    up = up.reshape(up.shape[0], up.shape[1], -1)[:h, :w]
    wn = weight[..., None]
    return here * wn + up * (1.0 - wn)


def _faces(vertices: VerticesLike) -> np.ndarray:
    """(k, n, 3) C-contiguous float32 from one (n, 3) mesh, a (k, n, 3) stack or a list."""
    if isinstance(vertices, np.ndarray):
        arr = vertices
    else:
        seq = list(vertices)
        if not seq:
            return np.zeros((0, 1, 3), np.float32)
        arr = np.stack([np.asarray(v) for v in seq])
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"vertices must be (n, 3), (k, n, 3) or a list of (n, 3), got {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _frame_size(shape: ShapeLike) -> tuple[int, int]:
    dims = shape.shape if isinstance(shape, np.ndarray) else tuple(shape)
    if len(dims) < 2:
        raise ValueError(f"need a frame or a (height, width) shape, got {dims}")
    h, w = int(dims[0]), int(dims[1])
    if h < 0 or w < 0:
        raise ValueError(f"negative frame size {dims}")
    return h, w


def _bgr_frame(frame: np.ndarray) -> np.ndarray:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError("frame must be a BGR uint8 array (H, W, 3)")
    return np.ascontiguousarray(frame)


def _output_frame(frame: np.ndarray, inplace: bool) -> np.ndarray:
    img = _bgr_frame(frame)
    if inplace:
        if img is not frame:
            raise ValueError("inplace rendering needs a C-contiguous frame")
        return frame
    return img.copy() if img is frame else img


def _canvas(frame_or_shape: ShapeLike) -> np.ndarray:
    if isinstance(frame_or_shape, np.ndarray) and frame_or_shape.ndim == 3:
        return _bgr_frame(frame_or_shape).copy()
    h, w = _frame_size(frame_or_shape)
    return np.zeros((h, w, 3), np.uint8)


def _albedo(color: tuple[float, float, float] | np.ndarray, n_verts: int) -> np.ndarray:
    c = np.asarray(color)
    scale = 1.0 / 255.0 if c.dtype == np.uint8 else 1.0
    c = np.ascontiguousarray(c, dtype=np.float32) * np.float32(scale)
    if c.shape == (3,):
        return c[None]
    if c.shape == (n_verts, 3):
        return c
    raise ValueError(f"color must be a BGR triple or (n, 3) per-vertex colours, got {c.shape}")


def _float_table(a: np.ndarray, cols: int, name: str, n_min: int) -> np.ndarray:
    arr = np.ascontiguousarray(a, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != cols:
        raise ValueError(f"{name} must have shape (n, {cols}), got {arr.shape}")
    if arr.shape[0] < n_min:
        raise ValueError(f"{name} has {arr.shape[0]} rows but the triangles use {n_min} vertices")
    arr.setflags(write=False)
    return arr
