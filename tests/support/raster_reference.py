"""Pure-NumPy reference of the C rasteriser (render_c/rasterize.c).

Readable rather than fast, and written from the rules in render_c/rasterize.h,
not from the C code:

* x, y are snapped to 1/256 pixel (numpy.rint: half to even); edge functions are
  exact int64, so coverage is decided without any rounding;
* pixel (px, py) is covered when its centre (px, py) is inside the triangle, or on
  a top or left edge (top-left rule); both windings are accepted;
* depth z = b0*z0 + b1*z1 + b2*z2 in float64, bi = wi * (1 / area), rounded to
  float32; the nearest (largest z) wins, and on equal depth the lowest id
  (face * m + triangle) wins, which is what the C code's sequential strict
  "z > stored" test produces;
* triangles are skipped when a vertex is not finite or beyond 2**20 px in x or y,
  or when the snapped area is zero, or (cost bound) when, taken in index order,
  the pixel centres of their clipped box exceed what is left of the face's budget
  of 16 per window pixel plus 4 per triangle.

Instead of walking triangles one at a time, every (triangle, pixel-in-its-box)
candidate is enumerated with NumPy, the covered ones kept, and the winner per
pixel chosen by sorting. The shading helpers below mirror the C formulas in
float64; they agree with C to within one grey level.
"""
from __future__ import annotations

import numpy as np

SUBPIXEL = 256
MAX_COORD = 2**20
CHUNK_CANDIDATES = 2_000_000  # bounds the memory of one vectorised step
WORK_PER_WINDOW_PIXEL = 16
WORK_PER_TRIANGLE = 4


def usable(verts: np.ndarray) -> np.ndarray:
    """Vertices whose triangles are drawn: finite, inside the guard band."""
    with np.errstate(invalid="ignore"):
        return (np.isfinite(verts).all(axis=1) & (np.abs(verts[:, 0]) <= MAX_COORD)
                & (np.abs(verts[:, 1]) <= MAX_COORD))


def rasterize(verts: np.ndarray, tris: np.ndarray, shape: tuple[int, int]
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """depth (H, W) float32 (-inf empty), tri_id (H, W) int32 (-1 empty),
    bary (H, W, 2) float32 for faces verts (k, n, 3) sharing tris (m, 3)."""
    verts = np.asarray(verts, np.float32)
    if verts.ndim == 2:
        verts = verts[None]
    tris = np.asarray(tris, np.int64)
    h, w = shape
    depth = np.full(h * w, -np.inf, np.float32)
    tri_id = np.full(h * w, -1, np.int32)
    bary = np.zeros((h * w, 2), np.float32)
    if h == 0 or w == 0:
        return depth.reshape(h, w), tri_id.reshape(h, w), bary.reshape(h, w, 2)
    m = len(tris)
    for f, v in enumerate(verts):
        ok = usable(v)
        xy = np.zeros((len(v), 2), np.int64)
        with np.errstate(invalid="ignore"):
            xy[ok] = np.rint(v[ok, :2].astype(np.float64) * SUBPIXEL).astype(np.int64)
        z = np.where(ok, v[:, 2], 0).astype(np.float64)
        t_ok = ok[tris].all(axis=1)
        X, Y, Z = xy[tris, 0], xy[tris, 1], z[tris]  # (m, 3) each

        # Pixel centres inside each bounding box, clipped to the frame.
        px_lo = np.maximum(-((-X.min(1)) // SUBPIXEL), 0)  # ceil
        px_hi = np.minimum(X.max(1) // SUBPIXEL, w - 1)    # floor
        py_lo = np.maximum(-((-Y.min(1)) // SUBPIXEL), 0)
        py_hi = np.minimum(Y.max(1) // SUBPIXEL, h - 1)
        area = (X[:, 1] - X[:, 0]) * (Y[:, 2] - Y[:, 0]) - (Y[:, 1] - Y[:, 0]) * (X[:, 2] - X[:, 0])
        keep = t_ok & (area != 0) & (px_lo <= px_hi) & (py_lo <= py_hi)
        keep[keep] = within_budget(((px_hi - px_lo + 1) * (py_hi - py_lo + 1))[keep],
                                   WORK_PER_WINDOW_PIXEL * h * w + WORK_PER_TRIANGLE * m)
        idx = np.flatnonzero(keep)
        bw = (px_hi - px_lo + 1)[idx]
        count = bw * (py_hi - py_lo + 1)[idx]
        # Split the triangles so each step enumerates a bounded number of candidates.
        ends = np.searchsorted(np.cumsum(count), np.arange(1, 1 + count.sum() // CHUNK_CANDIDATES)
                               * CHUNK_CANDIDATES)
        for part in np.split(np.arange(len(idx)), np.unique(ends)):
            if part.size == 0:
                continue
            t = idx[part]
            _draw(t, bw[part], count[part], px_lo[t], py_lo[t], X[t], Y[t], Z[t], area[t],
                  f * m + t, w, depth, tri_id, bary)
    return depth.reshape(h, w), tri_id.reshape(h, w), bary.reshape(h, w, 2)


def within_budget(costs: np.ndarray, budget: int) -> np.ndarray:
    """Which triangles (in order, with these box costs) fit in what is left of the budget."""
    fits = np.zeros(len(costs), bool)
    if costs.sum() <= budget:  # every real face mesh
        fits[:] = True
        return fits
    left = int(budget)
    for i, cost in enumerate(costs.tolist()):
        if cost <= left:
            fits[i] = True
            left -= cost
    return fits


def _draw(t, bw, count, px_lo, py_lo, X, Y, Z, area, ids, w, depth, tri_id, bary) -> None:
    """Draws triangles (all arrays per triangle) into the flat buffers."""
    # One row per candidate pixel: which triangle, and where in its box.
    rep = np.repeat(np.arange(len(t)), count)
    k = np.arange(len(rep)) - np.repeat(np.cumsum(count) - count, count)
    px = px_lo[rep] + k % bw[rep]
    py = py_lo[rep] + k // bw[rep]
    sign = np.where(area > 0, 1, -1)[rep]
    xs, ys = px * SUBPIXEL, py * SUBPIXEL

    def edge(a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Edge a -> b, interior positive: w = dx*(y - ay) - dy*(x - ax); top-left bias."""
        ax, ay = X[rep, a], Y[rep, a]
        dx, dy = sign * (X[rep, b] - ax), sign * (Y[rep, b] - ay)
        top_left = (dy < 0) | ((dy == 0) & (dx > 0))
        return dx * (ys - ay) - dy * (xs - ax), np.where(top_left, 0, -1)

    (w0, c0), (w1, c1), (w2, c2) = edge(1, 2), edge(2, 0), edge(0, 1)  # edge i opposite vertex i
    inside = (w0 + c0 >= 0) & (w1 + c1 >= 0) & (w2 + c2 >= 0)
    inv_area = 1.0 / np.abs(area).astype(np.float64)[rep]
    b0 = w0.astype(np.float64) * inv_area
    b1 = w1.astype(np.float64) * inv_area
    b2 = w2.astype(np.float64) * inv_area
    z = (b0 * Z[rep, 0] + b1 * Z[rep, 1] + b2 * Z[rep, 2]).astype(np.float32)

    pix = (py * w + px)[inside]
    z, cid = z[inside], ids[rep][inside]
    b1, b2 = b1[inside].astype(np.float32), b2[inside].astype(np.float32)
    # Per pixel: largest z first, then lowest id; keep the first of each pixel.
    order = np.lexsort((cid, -z, pix))
    first = np.ones(len(order), bool)
    first[1:] = pix[order][1:] != pix[order][:-1]
    best = order[first]
    # Earlier chunks hold lower ids, so they keep the pixel on equal depth.
    win = z[best] > depth[pix[best]]
    best = best[win]
    depth[pix[best]] = z[best]
    tri_id[pix[best]] = cid[best]
    bary[pix[best], 0] = b1[best]
    bary[pix[best], 1] = b2[best]


# ----------------------------------------------------------------- shading
def vertex_normals(verts: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals; (0, 0, 1) where undefined."""
    v = np.asarray(verts, np.float64)
    ok = np.isfinite(v).all(axis=1)[tris].all(axis=1)
    t = tris[ok]
    n = np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])
    acc = np.zeros_like(v)
    for k in range(3):
        np.add.at(acc, t[:, k], n)
    length = np.linalg.norm(acc, axis=1, keepdims=True)
    good = (length[:, 0] > 0) & np.isfinite(length[:, 0])
    out = np.tile([0.0, 0.0, 1.0], (len(v), 1))
    out[good] = acc[good] / length[good]
    return out


def shade_vertices(normals: np.ndarray, albedo: np.ndarray, light_dir: np.ndarray, ambient: float,
                   diffuse: float, specular: float, shininess: float) -> np.ndarray:
    """Two-sided Phong (Blinn half vector) per vertex, clamped to [0, 1]."""
    n = normals * np.where(normals[:, 2:3] < 0, -1.0, 1.0)
    light = np.asarray(light_dir, np.float64)
    h = light + [0.0, 0.0, 1.0]
    h = h / np.linalg.norm(h)
    shade = ambient + diffuse * np.maximum(n @ light, 0.0)
    nh = n @ h
    with np.errstate(divide="ignore", invalid="ignore"):
        spec = specular * np.where(nh > 0, np.power(np.maximum(nh, 0), shininess), 0.0 if shininess else 1.0)
    return np.clip(np.asarray(albedo, np.float64) * shade[:, None] + spec[:, None], 0.0, 1.0)


def interpolate(tri_id: np.ndarray, bary: np.ndarray, tris: np.ndarray, attrs: np.ndarray) -> np.ndarray:
    """Per-pixel attributes (H, W, c) from per-vertex attrs (k, n, c), or (1, n, c)
    shared by all faces; NaN where empty."""
    m = len(tris)
    out = np.full(tri_id.shape + (attrs.shape[2],), np.nan)
    cov = tri_id >= 0
    face, t = tri_id[cov] // m, tri_id[cov] % m
    if len(attrs) == 1:
        face = np.zeros_like(face)
    b1, b2 = bary[cov, 0].astype(np.float64), bary[cov, 1].astype(np.float64)
    b0 = 1.0 - b1 - b2
    vi = tris[t]
    a = attrs.astype(np.float64)
    out[cov] = (b0[:, None] * a[face, vi[:, 0]] + b1[:, None] * a[face, vi[:, 1]]
                + b2[:, None] * a[face, vi[:, 2]])
    return out


def blend(frame: np.ndarray, colors: np.ndarray, alpha: float) -> np.ndarray:
    """Alpha-blend colours (H, W, 3) in [0, 1] (NaN = leave the pixel) over a copy of frame."""
    out = frame.copy()
    cov = ~np.isnan(colors[..., 0])
    f = frame[cov].astype(np.float64)
    out[cov] = np.clip(np.floor(f + alpha * (255.0 * colors[cov] - f) + 0.5), 0, 255).astype(np.uint8)
    return out


def shaded(frame: np.ndarray, verts: np.ndarray, tris: np.ndarray, color, light, alpha: float) -> np.ndarray:
    """Reference of MeshRenderer.shaded (light: engine.render.Light)."""
    verts = np.asarray(verts, np.float32).reshape(-1, verts.shape[-2], 3)
    _, tri_id, bary = rasterize(verts, tris, frame.shape[:2])
    albedo = np.broadcast_to(np.asarray(color, np.float64), (verts.shape[1], 3))
    d = light.unit_direction()
    colors = np.stack([shade_vertices(vertex_normals(v, tris), albedo, d, light.ambient, light.diffuse,
                                      light.specular, light.shininess) for v in verts])
    return blend(frame, interpolate(tri_id, bary, tris, colors), alpha)


def depth(verts: np.ndarray, tris: np.ndarray, shape: tuple[int, int], background: float = 0.0) -> np.ndarray:
    z, tri_id, _ = rasterize(verts, tris, shape)
    return np.where(tri_id >= 0, z, np.float32(background)).astype(np.float32)


def pncc(verts: np.ndarray, tris: np.ndarray, ncc: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    _, tri_id, bary = rasterize(verts, tris, shape)
    return blend(np.zeros(tuple(shape) + (3,), np.uint8), interpolate(tri_id, bary, tris, ncc[None]), 1.0)


def bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Samples img (H, W, 3) at float positions, pixel centres on integers, edges repeated."""
    h, w = img.shape[:2]
    x = np.clip(x, 0, w - 1)
    y = np.clip(y, 0, h - 1)
    xa, ya = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    xb, yb = np.minimum(xa + 1, w - 1), np.minimum(ya + 1, h - 1)
    fx, fy = (x - xa)[:, None], (y - ya)[:, None]
    im = img.astype(np.float64)
    top = im[ya, xa] + fx * (im[ya, xb] - im[ya, xa])
    bottom = im[yb, xa] + fx * (im[yb, xb] - im[yb, xa])
    return np.clip(np.floor(top + fy * (bottom - top) + 0.5), 0, 255).astype(np.uint8)


def uv_texture(frame: np.ndarray, verts: np.ndarray, tris: np.ndarray, uv: np.ndarray, size: int,
               depth_eps: float, min_facing: float) -> tuple[np.ndarray, np.ndarray]:
    """Unfilled UV texture and mask of one face (see MeshRenderer.uv_texture)."""
    tex_verts = np.zeros((len(uv), 3), np.float32)
    tex_verts[:, 0] = uv[:, 0] * size - 0.5
    tex_verts[:, 1] = (1.0 - uv[:, 1]) * size - 0.5
    _, uv_id, uv_bary = rasterize(tex_verts, tris, (size, size))
    zbuf, frame_id, _ = rasterize(verts, tris, frame.shape[:2])
    p = interpolate(uv_id, uv_bary, tris, np.asarray(verts, np.float64)[None])  # (s, s, 3) image-space points
    v = np.asarray(verts, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        n = np.cross(v[tris[:, 1]] - v[tris[:, 0]], v[tris[:, 2]] - v[tris[:, 0]])
        facing_ok = np.abs(n[:, 2]) >= min_facing * np.linalg.norm(n, axis=1)  # per triangle
    p[uv_id >= 0] = np.where(facing_ok[uv_id[uv_id >= 0]][:, None], p[uv_id >= 0], np.nan)
    texture = np.zeros((size, size, 3), np.uint8)
    mask = np.zeros((size, size), np.uint8)
    with np.errstate(invalid="ignore"):
        cand = np.isfinite(p).all(axis=2)
        cx = np.floor(p[..., 0] + 0.5)
        cy = np.floor(p[..., 1] + 0.5)
        h, w = frame.shape[:2]
        cand &= (cx >= 0) & (cx < w) & (cy >= 0) & (cy < h)
    ix, iy = cx[cand].astype(np.int64), cy[cand].astype(np.int64)
    seen = (frame_id[iy, ix] >= 0) & (p[cand][:, 2] >= zbuf[iy, ix].astype(np.float64) - depth_eps)
    rows, cols = np.nonzero(cand)
    rows, cols = rows[seen], cols[seen]
    texture[rows, cols] = bilinear(frame, p[rows, cols, 0], p[rows, cols, 1])
    mask[rows, cols] = 255
    return texture, mask
