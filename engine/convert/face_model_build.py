"""Rebuild the dense 3DMM face model (weights/face_model.npz) from the sparse upstream files.

The 62-d parameters of 3DDFA_V2 drive a 38,365-vertex neck-less mesh through dense
identity (40-d) and expression (10-d) bases that upstream ships as
``bfm_noneck_v3.pkl``. That file is not part of the shared data, so we rebuild the
bases as smooth fields on the mesh that reproduce what *is* known exactly:

* identity: the basis sampled at ~3,300 on-surface PAF anchors (``Model_PAF.pkl``)
  and at the 68 landmarks (``keypoint_basis/w_shp_base.npy``);
* expression: the basis at the 68 landmarks only (``w_exp_base.npy``).

Each x, y or z component of each basis column is one scalar field ``d`` on the
mesh. We minimise a biharmonic (thin-plate) energy ``d' K M^-1 K d`` (K: cotangent
stiffness matrix, M: lumped vertex areas), plus a little membrane energy ``d' K d``
so that fields level off far from the data, plus ``lambda * |B d - f|^2`` over the
anchors (B: barycentric rows), with the 68 landmark vertices as hard Dirichlet
constraints, so the dense rows there equal the sparse model exactly. The
operator only uses mesh edges, so nothing couples the upper and lower lip across
the mouth slit. One sparse LU factorisation per basis serves all its right-hand
sides (120 for identity, 30 for expression).

When the user has the official ``bfm_noneck_v3.pkl`` it wins over the rebuild.
Everything here reads upstream data and writes only ``out_path``: the result is
BFM-derived and for academic use only, and it must never be committed.
"""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree
from scipy.sparse import linalg as sparse_linalg

from engine.array_files import ArraySpec, read_mat_variable, read_npy
from engine.cpus import usable_cpu_count
from engine.safe_pickle import load_pickle_file

# --- named constants --------------------------------------------------------------
# An upstream array file declaring more is refused before it is read (the largest holds 1 MB).
UPSTREAM_MAX_BYTES = 256 << 20
N_SHP = 40                    # identity coefficients of the 62-d parameters
N_EXP = 10                    # expression coefficients
N_LANDMARKS = 68
ANCHOR_MAX_DIST = 1500.0      # model units (1 unit = 1 um): anchors farther than 1.5 mm from
                              # the mean surface are PAF filler points, not surface samples
ANCHOR_ON_SURFACE = 10.0      # an anchor this close (10 um) counts as lying exactly on the mesh
MIN_ANCHORS = 2500            # fewer usable anchors means the inputs do not belong together
ANCHOR_MAP_MEDIAN_MAX = 1.0   # median |u(barycentric point) - mu_filter| must be ~0 (units)
ANCHOR_CANDIDATE_VERTS = 12   # nearest vertices whose incident triangles we test per anchor
ANCHOR_WEIGHT = 100.0         # lambda / mean diagonal of the smoothness matrix: the anchors are
                              # exact samples, so we nearly interpolate them (fit error ~3e-5);
                              # held-out anchors are predicted equally well for weights 1..1e4
MEMBRANE_WEIGHT = 0.03        # membrane (K) share of the smoothness energy, see smoothness_matrix
COT_CLAMP = 1e3               # cap |cot| of near-degenerate angles (a 0.06 deg angle already)
EDGE_CHECK_SIGMA = 3.0        # coefficients of the spike check: +-3 param_std, random signs
EDGE_CHECK_SEED = 0

UV_KEY = "UV"
TRI_FILE = "3ddfa_v2/tri.pkl"
INDICES_FILE = "3ddfa_v2/indices.npy"
NCC_FILE = "3ddfa_v2/ncc_code.npy"
UV_FILE = "3ddfa_v2/BFM_UV.mat"
PARAM_FILE = "3ddfa_v2/param_mean_std_62d_120x120.pkl"
U_SHP_FILE = "3ddfa_v1/u_shp.npy"
U_EXP_FILE = "3ddfa_v1/u_exp.npy"
KEYPOINTS_FILE = "3ddfa_v1/keypoints_sim.npy"
PAF_FILE = "3ddfa_v1/Model_PAF.pkl"
W_SHP_BASE_FILE = "keypoint_basis/w_shp_base.npy"
W_EXP_BASE_FILE = "keypoint_basis/w_exp_base.npy"


@dataclass(frozen=True)
class Topology:
    """What every face model shares, whatever the source of the bases."""

    tri: np.ndarray          # (m, 3) int64, upstream vertex order within each triangle
    indices: np.ndarray      # (n,) neck-less vertex -> v1 vertex
    uv: np.ndarray           # (n, 2) float32 in [0, 1]
    ncc: np.ndarray          # (n, 3) float32 in [0, 1]
    param_mean: np.ndarray   # (62,) float32
    param_std: np.ndarray    # (62,) float32

    @property
    def n_vertices(self) -> int:
        return len(self.indices)


@dataclass(frozen=True)
class DenseModel:
    """Mean shape and bases, xyz interleaved, plus the 68 landmark vertices."""

    u: np.ndarray            # (3n,)
    w_shp: np.ndarray        # (3n, 40)
    w_exp: np.ndarray        # (3n, 10)
    keypoints: np.ndarray    # (68,) vertex indices in the neck-less mesh


# --- reading the inputs ---------------------------------------------------------------

def _require_file(path: Path) -> None:
    """Fail early with one line naming the file, instead of a deep numpy/pickle error."""
    if not path.is_file():
        raise FileNotFoundError(f"missing face model input: {path}")


def _load_npy(path: Path) -> np.ndarray:
    _require_file(path)
    return read_npy(path, max_bytes=UPSTREAM_MAX_BYTES)


def _load_pickle(path: Path) -> Any:
    """Upstream's pickles (dicts of arrays) through the restricted unpickler: data only, no code."""
    _require_file(path)
    return load_pickle_file(path)


def _load_mat(path: Path, key: str) -> np.ndarray:
    _require_file(path)
    return read_mat_variable(path, key, ArraySpec((None, 2), "f"), max_bytes=UPSTREAM_MAX_BYTES)


def _dict_array(obj: Any, key: str, path: Path) -> np.ndarray:
    if not isinstance(obj, dict) or key not in obj:
        raise ValueError(f"{path} is not a dict with key '{key}'")
    return np.asarray(obj[key])


def _check_shape(arr: np.ndarray, shape: tuple[int, ...], what: str) -> None:
    if arr.shape != shape:
        raise ValueError(f"{what} has shape {arr.shape}, expected {shape}")


def load_topology(data_dir: Path) -> Topology:
    """Triangles, vertex map, UV, NCC colours and parameter whitening from data_dir."""
    tri = _load_pickle(data_dir / TRI_FILE)
    tri = np.asarray(tri)
    if tri.ndim != 2 or tri.shape[0] != 3:
        raise ValueError(f"{data_dir / TRI_FILE} has shape {tri.shape}, expected (3, m)")
    tri = np.ascontiguousarray(tri.T).astype(np.int64)
    indices = _load_npy(data_dir / INDICES_FILE).astype(np.int64).ravel()
    n = len(indices)
    if tri.min() < 0 or tri.max() >= n:
        raise ValueError(f"{data_dir / TRI_FILE} refers to vertices outside 0..{n - 1}")
    if np.any(np.diff(indices) <= 0):
        raise ValueError(f"{data_dir / INDICES_FILE} is not strictly increasing")

    uv_v1 = _load_mat(data_dir / UV_FILE, UV_KEY)
    if uv_v1.ndim != 2 or uv_v1.shape[1] != 2 or uv_v1.shape[0] <= indices.max():
        raise ValueError(f"{data_dir / UV_FILE} '{UV_KEY}' has shape {uv_v1.shape}, expected (53215, 2)")
    # BFM_UV.mat holds normalised texture coordinates: both columns span exactly [0, 1].
    uv = uv_v1[indices].astype(np.float32)

    ncc = _load_npy(data_dir / NCC_FILE)
    _check_shape(ncc, (3, n), str(data_dir / NCC_FILE))
    params = _load_pickle(data_dir / PARAM_FILE)
    mean = _dict_array(params, "mean", data_dir / PARAM_FILE).astype(np.float32).ravel()
    std = _dict_array(params, "std", data_dir / PARAM_FILE).astype(np.float32).ravel()
    _check_shape(mean, (62,), f"{data_dir / PARAM_FILE} 'mean'")
    _check_shape(std, (62,), f"{data_dir / PARAM_FILE} 'std'")
    return Topology(tri=tri, indices=indices, uv=uv, ncc=np.ascontiguousarray(ncc.T, np.float32),
                    param_mean=mean, param_std=std)


def landmark_vertices(flat: np.ndarray, n_rows: int, what: str) -> np.ndarray:
    """Vertex index of each landmark from (204,) flat xyz indices [3k, 3k+1, 3k+2, ...]."""
    flat = np.asarray(flat).astype(np.int64).ravel()
    _check_shape(flat, (3 * N_LANDMARKS,), what)
    v = flat[0::3] // 3
    if not (np.all(flat[0::3] % 3 == 0) and np.all(flat[1::3] == flat[0::3] + 1)
            and np.all(flat[2::3] == flat[0::3] + 2)):
        raise ValueError(f"{what} is not xyz-interleaved as [3k, 3k+1, 3k+2] per landmark")
    if v.min() < 0 or 3 * v.max() + 2 >= n_rows:
        raise ValueError(f"{what} points outside the {n_rows // 3}-vertex mesh")
    return v


# --- mesh operators --------------------------------------------------------------------

def cotangent_operators(verts: np.ndarray, tri: np.ndarray) -> tuple[sparse.csr_matrix, np.ndarray]:
    """FEM stiffness matrix K (PSD, rows sum to 0) and lumped vertex areas M.

    The cotangent weights follow the geometry rather than the (very uneven, 0.1 to
    12 mm) triangulation, so the fitted fields do not bunch where the mesh is dense.
    Only mesh edges get weights: the two lips, separated by the slit, stay uncoupled.
    """
    n = len(verts)
    rows, cols, vals = [], [], []
    p = [verts[tri[:, k]] for k in range(3)]
    double_area = np.linalg.norm(np.cross(p[1] - p[0], p[2] - p[0]), axis=1)
    safe = np.maximum(double_area, 1e-12)
    for k in range(3):  # angle at corner k is opposite edge (i, j)
        i, j = tri[:, (k + 1) % 3], tri[:, (k + 2) % 3]
        a, b = p[(k + 1) % 3] - p[k], p[(k + 2) % 3] - p[k]
        cot = np.clip((a * b).sum(1) / safe, -COT_CLAMP, COT_CLAMP)
        w = 0.5 * cot
        rows += [i, j, i, j]
        cols += [j, i, i, j]
        vals += [-w, -w, w, w]
    stiffness = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                  shape=(n, n))
    mass = np.bincount(tri.ravel(), weights=np.repeat(double_area / 6.0, 3), minlength=n)
    return stiffness, mass


def smoothness_matrix(verts: np.ndarray, tri: np.ndarray) -> sparse.csr_matrix:
    """Thin-plate energy K M^-1 K plus a little membrane energy K, made dimensionless.

    M is divided by the mean vertex area, so K M^-1 K has diagonal ~45 whatever the
    unit. The membrane part makes the fields level off, instead of extrapolating
    linearly, far from the data (forehead, ears); MEMBRANE_WEIGHT was chosen by
    rebuilding the identity basis from the 68 landmarks alone and scoring it at
    the PAF anchors (error 73 % pure thin-plate, 61 % with 0.03; 0.01-0.1 all near).
    """
    stiffness, mass = cotangent_operators(verts, tri)
    inv_mass = sparse.diags(mass.mean() / np.maximum(mass, 1e-12 * mass.mean()))
    return (stiffness @ inv_mass @ stiffness + MEMBRANE_WEIGHT * stiffness).tocsr()


# --- anchors -----------------------------------------------------------------------------

def _closest_barycentric(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Barycentric coordinates of the point of triangle abc closest to p (Ericson, vectorised)."""
    ab, ac, ap, bp, cp = b - a, c - a, p - a, p - b, p - c
    d1, d2 = (ab * ap).sum(1), (ac * ap).sum(1)
    d3, d4 = (ab * bp).sum(1), (ac * bp).sum(1)
    d5, d6 = (ab * cp).sum(1), (ac * cp).sum(1)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = va + vb + vc
        v, w = vb / denom, vc / denom
        t_ab = d1 / (d1 - d3)
        t_ac = d2 / (d2 - d6)
        t_bc = (d4 - d3) / ((d4 - d3) + (d5 - d6))
    one, zero = np.ones_like(d1), np.zeros_like(d1)
    regions = [  # first matching region wins, as in the scalar algorithm
        ((d1 <= 0) & (d2 <= 0), (one, zero, zero)),
        ((d3 >= 0) & (d4 <= d3), (zero, one, zero)),
        ((d6 >= 0) & (d5 <= d6), (zero, zero, one)),
        ((vc <= 0) & (d1 >= 0) & (d3 <= 0), (1 - t_ab, t_ab, zero)),
        ((vb <= 0) & (d2 >= 0) & (d6 <= 0), (1 - t_ac, zero, t_ac)),
        ((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0), (zero, 1 - t_bc, t_bc)),
    ]
    out = np.stack([1 - v - w, v, w], axis=1)
    done = np.zeros(len(p), bool)
    for mask, bary in regions:
        m = mask & ~done
        out[m] = np.stack(bary, axis=1)[m]
        done |= m
    return out


def _vertex_triangles(tri: np.ndarray, n: int) -> np.ndarray:
    """(n, max valence) table of incident triangles, padded with -1."""
    order = np.argsort(tri.ravel(), kind="stable")
    verts = tri.ravel()[order]
    tris = order // 3
    counts = np.bincount(verts, minlength=n)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    table = np.full((n, counts.max()), -1, np.int64)
    table[verts, np.arange(len(verts)) - start[verts]] = tris
    return table


def map_to_surface(points: np.ndarray, verts: np.ndarray, tri: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closest triangle, its barycentric weights and the distance for each point."""
    _, near = cKDTree(verts).query(points, k=ANCHOR_CANDIDATE_VERTS)
    cand = _vertex_triangles(tri, len(verts))[near].reshape(len(points), -1)  # (p, k * valence)
    pi, ci = np.nonzero(cand >= 0)
    t = cand[pi, ci]
    corners = verts[tri[t]]                                              # (q, 3, 3)
    bary = _closest_barycentric(points[pi], corners[:, 0], corners[:, 1], corners[:, 2])
    dist = np.linalg.norm(np.einsum("qk,qkd->qd", bary, corners) - points[pi], axis=1)
    best = np.full(len(points), np.inf)
    np.minimum.at(best, pi, dist)
    # first candidate reaching the minimum, per point
    hit = np.nonzero(dist == best[pi])[0]
    first = hit[np.unique(pi[hit], return_index=True)[1]]
    return t[first], bary[first], best


@dataclass(frozen=True)
class Anchors:
    """PAF anchors on the neck-less surface as barycentric rows B (a, n) and their targets."""

    matrix: sparse.csr_matrix   # (a, n): u_xyz(anchor) = B @ verts
    rows: np.ndarray            # (a,) anchor index into the 4,096 PAF points
    distance: np.ndarray        # (a,) |B @ u - mu_filter| in units


def anchors_on_surface(mu: np.ndarray, verts: np.ndarray, tri: np.ndarray) -> Anchors:
    """Keep the PAF anchors within ANCHOR_MAX_DIST of the mean surface; check the mapping."""
    t, bary, dist = map_to_surface(mu, verts, tri)
    keep = np.nonzero(dist <= ANCHOR_MAX_DIST)[0]
    if len(keep) < MIN_ANCHORS:
        raise ValueError(f"only {len(keep)} PAF anchors lie on the mean face (expected > {MIN_ANCHORS}): "
                         f"{PAF_FILE} does not match {U_SHP_FILE}/{INDICES_FILE}")
    a = len(keep)
    matrix = sparse.csr_matrix((bary[keep].ravel(), (np.repeat(np.arange(a), 3), tri[t[keep]].ravel())),
                               shape=(a, len(verts)))
    residual = np.linalg.norm(matrix @ verts - mu[keep], axis=1)  # independent re-check of the map
    if np.median(residual) > ANCHOR_MAP_MEDIAN_MAX:
        raise ValueError(f"PAF anchors do not sit on the mean face (median miss {np.median(residual):.1f}); "
                         f"{PAF_FILE} does not match the mean shape")
    return Anchors(matrix=matrix, rows=keep, distance=residual)


# --- solving -------------------------------------------------------------------------

def solve_dirichlet(system: sparse.csr_matrix, rhs: np.ndarray, fixed: np.ndarray,
                    fixed_values: np.ndarray) -> np.ndarray:
    """Minimiser of 0.5 d'Ad - d'rhs with d[fixed] = fixed_values, for all columns of rhs at once.

    One LU serves every column. SuperLU is much slower per column on a block of
    right-hand sides than on single vectors, and releases the GIL: so we solve
    column by column on all available cores.
    """
    n = system.shape[0]
    free = np.setdiff1d(np.arange(n), fixed)
    a_ff = system[free][:, free].tocsc()
    a_fk = system[free][:, fixed]
    # A is symmetric positive definite: symmetric ordering and no pivoting keep the fill small.
    lu = sparse_linalg.splu(a_ff, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                            options={"SymmetricMode": True})
    reduced = np.asarray(rhs[free] - a_fk @ fixed_values)
    out = np.empty((n, rhs.shape[1]))
    out[fixed] = fixed_values
    with ThreadPoolExecutor(max_workers=usable_cpu_count()) as pool:
        columns = list(pool.map(lu.solve, (np.ascontiguousarray(col) for col in reduced.T)))
    out[free] = np.stack(columns, axis=1) if columns else reduced
    return out



def _as_fields(w: np.ndarray) -> np.ndarray:
    """(3n, c) interleaved basis -> (n, 3c) scalar fields (column 3j+d: coordinate d of column j)."""
    n3, c = w.shape
    return w.reshape(n3 // 3, 3, c).transpose(0, 2, 1).reshape(n3 // 3, 3 * c)


def _from_fields(f: np.ndarray) -> np.ndarray:
    """Inverse of _as_fields."""
    n, c3 = f.shape
    return f.reshape(n, c3 // 3, 3).transpose(0, 2, 1).reshape(3 * n, c3 // 3)


def _rel_err(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.linalg.norm(got - want) / np.linalg.norm(want))


def _worst_column_rel_err(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.max(np.linalg.norm(got - want, axis=0) / np.linalg.norm(want, axis=0)))


def _rows(flat_vertex: np.ndarray) -> np.ndarray:
    """Interleaved row indices 3v, 3v+1, 3v+2 for each vertex v."""
    return (3 * flat_vertex[:, None] + np.arange(3)).ravel()


@dataclass(frozen=True)
class SparseInputs:
    """What the rebuild starts from: the mean face and the exactly known basis samples."""

    verts: np.ndarray        # (n, 3) mean face u_shp + u_exp of v1 at the neck-less vertices
    keypoints: np.ndarray    # (68,) landmark vertices in the neck-less mesh
    w_shp_base: np.ndarray   # (204, 40) identity basis at the landmarks
    w_exp_base: np.ndarray   # (204, 10) expression basis at the landmarks
    mu: np.ndarray           # (4096, 3) PAF anchor positions
    w_filter: np.ndarray     # (12288, 40) identity basis at the PAF anchors


def load_sparse_inputs(data_dir: Path, topo: Topology) -> SparseInputs:
    """Read and cross-check the v1 mean face, landmarks, keypoint bases and PAF anchors."""
    n = topo.n_vertices
    u_shp = _load_npy(data_dir / U_SHP_FILE).astype(np.float64).ravel()
    u_exp = _load_npy(data_dir / U_EXP_FILE).astype(np.float64).ravel()
    if u_shp.shape != u_exp.shape or len(u_shp) % 3 or len(u_shp) // 3 <= topo.indices.max():
        raise ValueError(f"{data_dir / U_SHP_FILE} / {U_EXP_FILE}: shapes {u_shp.shape}, {u_exp.shape} "
                         f"do not fit {INDICES_FILE}")
    kp_path = data_dir / KEYPOINTS_FILE
    v1_landmarks = landmark_vertices(_load_npy(kp_path), len(u_shp), str(kp_path))
    keypoints = np.searchsorted(topo.indices, v1_landmarks)
    if np.any(keypoints >= n) or np.any(topo.indices[np.minimum(keypoints, n - 1)] != v1_landmarks):
        raise ValueError(f"{kp_path}: some landmarks are not in the neck-less mesh")
    if len(np.unique(keypoints)) != N_LANDMARKS:
        raise ValueError(f"{kp_path}: landmarks share vertices")

    w_shp_base = _load_npy(data_dir / W_SHP_BASE_FILE).astype(np.float64)
    w_exp_base = _load_npy(data_dir / W_EXP_BASE_FILE).astype(np.float64)
    _check_shape(w_shp_base, (3 * N_LANDMARKS, N_SHP), str(data_dir / W_SHP_BASE_FILE))
    _check_shape(w_exp_base, (3 * N_LANDMARKS, N_EXP), str(data_dir / W_EXP_BASE_FILE))
    paf = _load_pickle(data_dir / PAF_FILE)
    mu = _dict_array(paf, "mu_filter", data_dir / PAF_FILE).astype(np.float64).reshape(-1, 3)
    w_filter = _dict_array(paf, "w_filter", data_dir / PAF_FILE).astype(np.float64)
    _check_shape(w_filter, (3 * len(mu), N_SHP), f"{data_dir / PAF_FILE} 'w_filter'")
    return SparseInputs(verts=(u_shp + u_exp).reshape(-1, 3)[topo.indices], keypoints=keypoints,
                        w_shp_base=w_shp_base, w_exp_base=w_exp_base, mu=mu, w_filter=w_filter)


def rebuild_dense_model(inputs: SparseInputs, tri: np.ndarray, anchor_weight: float = ANCHOR_WEIGHT
                        ) -> tuple[DenseModel, dict[str, Any]]:
    """Solve the dense identity and expression bases; return the model and the fit figures."""
    verts, keypoints = inputs.verts, inputs.keypoints
    t0 = time.perf_counter()
    anchors = anchors_on_surface(inputs.mu, verts, tri)
    t_anchor = time.perf_counter() - t0
    target_shp = _as_fields(inputs.w_filter)[anchors.rows]                       # (a, 120)

    t0 = time.perf_counter()
    smooth = smoothness_matrix(verts, tri)
    lam = anchor_weight * float(smooth.diagonal().mean())
    b = anchors.matrix
    shp_fields = solve_dirichlet((smooth + lam * (b.T @ b)).tocsr(), lam * (b.T @ target_shp),
                                 keypoints, _as_fields(inputs.w_shp_base))
    exp_fields = solve_dirichlet(smooth, np.zeros((len(verts), 3 * N_EXP)), keypoints,
                                 _as_fields(inputs.w_exp_base))
    t_solve = time.perf_counter() - t0

    model = DenseModel(u=verts.ravel(), w_shp=_from_fields(shp_fields), w_exp=_from_fields(exp_fields),
                       keypoints=keypoints)
    kp_rows = _rows(keypoints)
    fit_anchor = b @ shp_fields
    figures: dict[str, Any] = {
        "anchors_used": int(len(anchors.rows)),
        "anchors_total": int(len(inputs.mu)),
        "anchors_exactly_on_surface": int(np.sum(anchors.distance <= ANCHOR_ON_SURFACE)),
        "anchor_map_median_miss": float(np.median(anchors.distance)),
        "anchor_map_max_miss": float(anchors.distance.max()),
        "anchor_weight": anchor_weight,
        "membrane_weight": MEMBRANE_WEIGHT,
        "right_hand_sides": int(shp_fields.shape[1] + exp_fields.shape[1]),
        "shp_anchor_rel_err": _rel_err(fit_anchor, target_shp),
        "shp_anchor_worst_column_rel_err": _worst_column_rel_err(_from_fields(fit_anchor),
                                                                 _from_fields(target_shp)),
        "shp_keypoint_rel_err": _rel_err(model.w_shp[kp_rows], inputs.w_shp_base),
        "exp_keypoint_rel_err": _rel_err(model.w_exp[kp_rows], inputs.w_exp_base),
        "anchor_mapping_s": round(t_anchor, 3),
        "solve_s": round(t_solve, 3),
    }
    return model, figures


# --- the official model -------------------------------------------------------------

def load_bfm(bfm_path: Path, n: int) -> DenseModel:
    """Read upstream's bfm_noneck_v3.pkl (arrays only: the restricted unpickler runs no code).

    Its own ``tri``, if any, is ignored: upstream also pairs this file with tri.pkl.
    """
    bfm = _load_pickle(bfm_path)
    u, w_shp, w_exp, flat = (_dict_array(bfm, k, bfm_path) for k in ("u", "w_shp", "w_exp", "keypoints"))
    if u.size != 3 * n:
        raise ValueError(f"{bfm_path} 'u' has shape {u.shape}, expected ({3 * n}, 1)")
    _check_shape(w_shp, (3 * n, N_SHP), f"{bfm_path} 'w_shp'")
    _check_shape(w_exp, (3 * n, N_EXP), f"{bfm_path} 'w_exp'")
    keypoints = landmark_vertices(flat, 3 * n, f"{bfm_path} 'keypoints'")
    return DenseModel(u=u.astype(np.float64).ravel(), w_shp=w_shp.astype(np.float64),
                      w_exp=w_exp.astype(np.float64), keypoints=keypoints)


# --- checks and output ------------------------------------------------------------------

def max_edge_ratio(model: DenseModel, tri: np.ndarray, alpha: np.ndarray, beta: np.ndarray) -> float:
    """Largest stretch of any mesh edge of u + W_shp alpha + W_exp beta relative to the mean face.

    A badly conditioned fit shows up as spikes: single edges growing many times longer.
    """
    mean = model.u.reshape(-1, 3)
    face = (model.u + model.w_shp @ alpha + model.w_exp @ beta).reshape(-1, 3)
    edges = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])

    def length(v: np.ndarray) -> np.ndarray:
        return np.linalg.norm(v[edges[:, 0]] - v[edges[:, 1]], axis=1)

    return float(np.max(length(face) / length(mean)))


def extreme_coefficients(param_std: np.ndarray, seed: int = EDGE_CHECK_SEED,
                         sigma: float = EDGE_CHECK_SIGMA) -> tuple[np.ndarray, np.ndarray]:
    """alpha, beta at +-sigma standard deviations with random signs: an implausibly extreme face."""
    sign = np.random.default_rng(seed).choice([-1.0, 1.0], size=N_SHP + N_EXP)
    coef = sigma * sign * param_std[12:62].astype(np.float64)
    return coef[:N_SHP], coef[N_SHP:]


def _save(out_path: Path, model: DenseModel, topo: Topology, w_shp_base: np.ndarray,
          w_exp_base: np.ndarray, source: str, figures: dict[str, Any]) -> None:
    kp_rows = _rows(model.keypoints)

    def f32(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a, dtype=np.float32)

    arrays: dict[str, Any] = {
        "u": f32(model.u), "w_shp": f32(model.w_shp), "w_exp": f32(model.w_exp),
        "tri": topo.tri.astype(np.int32), "keypoints": model.keypoints.astype(np.int32),
        "u_base": f32(model.u[kp_rows]), "w_shp_base": f32(w_shp_base), "w_exp_base": f32(w_exp_base),
        "uv": f32(topo.uv), "ncc": f32(topo.ncc),
        "param_mean": f32(topo.param_mean), "param_std": f32(topo.param_std),
        "source": np.array(source), "fit_report": np.array(json.dumps(figures, sort_keys=True)),
    }
    with open(out_path, "wb") as f:  # a file object: np.savez must not append ".npz"
        np.savez(f, **arrays)


def build_face_model(data_dir: Path, out_path: Path, bfm_path: Path | None = None) -> list[str]:
    """Write the dense face model npz to out_path; return report lines for build_ext.

    With bfm_path (upstream's bfm_noneck_v3.pkl) its mean shape, bases and landmarks
    are used as they are; triangles, UV, NCC and parameter statistics still come
    from data_dir. Without it the dense bases are rebuilt (rebuild_dense_model).
    """
    data_dir, out_path = Path(data_dir), Path(out_path)
    topo = load_topology(data_dir)
    if bfm_path is not None:
        model = load_bfm(Path(bfm_path), topo.n_vertices)
        kp_rows = _rows(model.keypoints)
        w_shp_base, w_exp_base = model.w_shp[kp_rows], model.w_exp[kp_rows]
        source = "bfm_noneck_v3"
        figures: dict[str, Any] = {"source_file": str(bfm_path),
                                   "landmarks_unlike_keypoints_sim": _landmarks_unlike_upstream(
                                       data_dir, topo, model.keypoints)}
    else:
        inputs = load_sparse_inputs(data_dir, topo)
        model, figures = rebuild_dense_model(inputs, topo.tri)
        w_shp_base, w_exp_base = inputs.w_shp_base, inputs.w_exp_base
        source = "rebuilt"
    alpha, beta = extreme_coefficients(topo.param_std)
    figures["max_edge_ratio_3sigma"] = max_edge_ratio(model, topo.tri, alpha, beta)
    figures["source"] = source
    _save(out_path, model, topo, w_shp_base, w_exp_base, source, figures)
    return report_lines(figures, topo)


def _landmarks_unlike_upstream(data_dir: Path, topo: Topology, keypoints: np.ndarray) -> int:
    """How many of a bfm file's landmarks differ from keypoints_sim (informational only)."""
    v1 = landmark_vertices(_load_npy(data_dir / KEYPOINTS_FILE), 3 * (topo.indices.max() + 1),
                           str(data_dir / KEYPOINTS_FILE))
    return int(np.sum(topo.indices[keypoints] != v1))


def report_lines(figures: dict[str, Any], topo: Topology) -> list[str]:
    """Short human-readable summary of the fit figures."""
    lines = [f"source {figures['source']}: {topo.n_vertices} vertices, {len(topo.tri)} triangles"]
    if figures["source"] == "rebuilt":
        lines += [
            f"PAF anchors used {figures['anchors_used']}/{figures['anchors_total']} "
            f"({figures['anchors_exactly_on_surface']} exactly on the surface, "
            f"median miss {figures['anchor_map_median_miss']:.3g} units)",
            f"identity rel. error at the anchors {100 * figures['shp_anchor_rel_err']:.2g} % "
            f"(worst column {100 * figures['shp_anchor_worst_column_rel_err']:.2g} %), "
            f"at the 68 keypoints {figures['shp_keypoint_rel_err']:.1g} (hard constraint)",
            f"expression rel. error at the 68 keypoints {figures['exp_keypoint_rel_err']:.1g} "
            "(hard constraint)",
            f"smoothness: thin-plate + {figures['membrane_weight']:g} membrane; "
            f"anchor weight {figures['anchor_weight']:g} x mean diagonal",
            f"solve {figures['solve_s']:.1f} s for {figures['right_hand_sides']} fields "
            f"(anchor mapping {figures['anchor_mapping_s']:.1f} s)",
        ]
    elif figures["landmarks_unlike_keypoints_sim"]:
        lines.append(f"note: {figures['landmarks_unlike_keypoints_sim']} of the file's 68 landmarks "
                     f"differ from {KEYPOINTS_FILE}")
    lines.append(f"max edge stretch of a +-{EDGE_CHECK_SIGMA:g} sigma face: "
                 f"{figures['max_edge_ratio_3sigma']:.2f}x the mean face")
    return lines
