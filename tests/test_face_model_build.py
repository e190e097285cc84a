"""The rebuilt dense face model: exact at the landmarks, faithful at the PAF anchors, smooth,
with lips that part; and an official bfm_noneck_v3.pkl wins when given.

The model is built once per module from the shared upstream data into a temporary folder.
"""
from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from engine.convert import face_model_build as fmb

N = 38365
M = 76073
UPPER_INNER_LIP, LOWER_INNER_LIP = 62, 66     # iBUG 68-point order, 0-based
PLAUSIBLE_SIGMA_CLIP = 3.0                    # random faces: N(0, param_std), clipped at 3 sigma
MAX_EDGE_STRETCH = 3.0                        # a spike would stretch single edges far more
MIN_EDGE_RATIO = 0.2                          # closing eyes squashes the (hole-free) eyeball region
MOUTH_CENTRE_HALF_WIDTH = 8000.0              # units: slit vertices within 8 mm of the lip centre

FLOAT_KEYS = {"u": (3 * N,), "w_shp": (3 * N, 40), "w_exp": (3 * N, 10), "u_base": (204,),
              "w_shp_base": (204, 40), "w_exp_base": (204, 10), "uv": (N, 2), "ncc": (N, 3),
              "param_mean": (62,), "param_std": (62,)}
INT_KEYS = {"tri": (M, 3), "keypoints": (68,)}


@pytest.fixture(scope="module")
def built(data_dir: Path, tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[dict[str, np.ndarray], list[str]]:
    out = tmp_path_factory.mktemp("face_model") / "face_model.partial.npz"
    report = fmb.build_face_model(data_dir, out)
    print("\n" + "\n".join(report))
    assert out.is_file(), "the npz must be written at exactly out_path"
    with np.load(out, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}, report


@pytest.fixture(scope="module")
def model(built: tuple[dict[str, np.ndarray], list[str]]) -> dict[str, np.ndarray]:
    return built[0]


@pytest.fixture(scope="module")
def figures(model: dict[str, np.ndarray]) -> dict:
    return json.loads(str(model["fit_report"]))


def _rows(v: np.ndarray) -> np.ndarray:
    return (3 * v[:, None] + np.arange(3)).ravel()


def _face(model: dict[str, np.ndarray], alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    w_shp, w_exp = model["w_shp"].astype(np.float64), model["w_exp"].astype(np.float64)
    return (model["u"] + w_shp @ alpha + w_exp @ beta).reshape(-1, 3)


def _edge_stretch(model: dict[str, np.ndarray], face: np.ndarray) -> np.ndarray:
    tri = model["tri"]
    e = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
    mean = model["u"].reshape(-1, 3)
    return (np.linalg.norm(face[e[:, 0]] - face[e[:, 1]], axis=1)
            / np.linalg.norm(mean[e[:, 0]] - mean[e[:, 1]], axis=1))


# --- format -------------------------------------------------------------------------------

def test_keys_shapes_dtypes(model: dict[str, np.ndarray]) -> None:
    assert set(model) == set(FLOAT_KEYS) | set(INT_KEYS) | {"source", "fit_report"}
    for key, shape in FLOAT_KEYS.items():
        assert model[key].shape == shape and model[key].dtype == np.float32, key
        assert np.all(np.isfinite(model[key])), key
    for key, shape in INT_KEYS.items():
        assert model[key].shape == shape and model[key].dtype == np.int32, key
    assert model["source"].shape == () and model["source"].dtype.kind == "U"
    assert str(model["source"]) == "rebuilt"
    assert model["tri"].min() == 0 and model["tri"].max() == N - 1
    assert 0.0 <= model["uv"].min() and model["uv"].max() <= 1.0


def test_topology_and_statistics_come_from_the_data(model: dict[str, np.ndarray], data_dir: Path) -> None:
    with open(data_dir / "3ddfa_v2/tri.pkl", "rb") as f:
        np.testing.assert_array_equal(model["tri"], pickle.load(f).T)  # upstream corner order kept
    np.testing.assert_array_equal(model["ncc"], np.load(data_dir / "3ddfa_v2/ncc_code.npy", allow_pickle=False).T)
    with open(data_dir / "3ddfa_v2/param_mean_std_62d_120x120.pkl", "rb") as f:
        stats = pickle.load(f)
    np.testing.assert_array_equal(model["param_std"], stats["std"])
    indices = np.load(data_dir / "3ddfa_v2/indices.npy", allow_pickle=False)
    u_v1 = np.load(data_dir / "3ddfa_v1/u_shp.npy", allow_pickle=False) + np.load(data_dir / "3ddfa_v1/u_exp.npy")
    np.testing.assert_allclose(model["u"], u_v1.reshape(-1, 3)[indices].ravel(), rtol=1e-6)


# --- the sparse 68-point model is reproduced exactly -------------------------------------------

def test_keypoints_map_through_indices(model: dict[str, np.ndarray], data_dir: Path) -> None:
    flat = np.load(data_dir / "3ddfa_v1/keypoints_sim.npy", allow_pickle=False)
    indices = np.load(data_dir / "3ddfa_v2/indices.npy", allow_pickle=False)
    np.testing.assert_array_equal(indices[model["keypoints"]], flat[0::3] // 3)
    assert len(np.unique(model["keypoints"])) == 68


def test_keypoint_rows_equal_sparse_bases(model: dict[str, np.ndarray], data_dir: Path) -> None:
    rows = _rows(model["keypoints"].astype(np.int64))
    for name in ("w_shp_base", "w_exp_base"):
        np.testing.assert_array_equal(model[name], np.load(data_dir / f"keypoint_basis/{name}.npy", allow_pickle=False))
    np.testing.assert_array_equal(model["u_base"], model["u"][rows])
    for dense, sparse_ in (("w_shp", "w_shp_base"), ("w_exp", "w_exp_base")):
        err = np.linalg.norm(model[dense][rows] - model[sparse_]) / np.linalg.norm(model[sparse_])
        print(f"\n{dense} relative error at the 68 keypoints: {err:.2e}")
        assert err < 1e-5


def test_dense_landmarks_equal_sparse_for_random_parameters(model: dict[str, np.ndarray]) -> None:
    rng = np.random.default_rng(7)
    std = model["param_std"].astype(np.float64)
    alpha, beta = rng.normal(size=40) * std[12:52], rng.normal(size=10) * std[52:62]
    dense = _face(model, alpha, beta)[model["keypoints"]]
    sparse_ = (model["u_base"] + model["w_shp_base"].astype(np.float64) @ alpha
               + model["w_exp_base"].astype(np.float64) @ beta).reshape(-1, 3)
    assert np.abs(dense - sparse_).max() < 1.0  # units (1 um); the face is ~150,000 units wide


# --- identity basis at the PAF anchors -------------------------------------------------------

def test_closest_point_on_triangle_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    a, b, c, p = (rng.normal(size=(500, 3)) for _ in range(4))
    c = a + 0.05 * (c - a) + (b - a) * rng.uniform(-2, 2, (500, 1))  # include slivers
    bary = fmb._closest_barycentric(p, a, b, c)
    assert np.all(bary >= -1e-9) and np.allclose(bary.sum(1), 1.0)
    got = np.linalg.norm(bary[:, :1] * a + bary[:, 1:2] * b + bary[:, 2:] * c - p, axis=1)
    s, t = np.meshgrid(np.linspace(0, 1, 201), np.linspace(0, 1, 201))
    s, t = s[s + t <= 1], t[s + t <= 1]
    grid = a[:, None] + s[None, :, None] * (b - a)[:, None] + t[None, :, None] * (c - a)[:, None]
    brute = np.linalg.norm(grid - p[:, None], axis=2).min(1)
    assert np.all(got <= brute + 1e-9)


def test_identity_basis_matches_paf_anchors(model: dict[str, np.ndarray], figures: dict,
                                            data_dir: Path) -> None:
    with open(data_dir / "3ddfa_v1/Model_PAF.pkl", "rb") as f:
        paf = pickle.load(f)
    mu = paf["mu_filter"].reshape(-1, 3).astype(np.float64)
    verts = model["u"].reshape(-1, 3).astype(np.float64)
    tri_idx, bary, dist = fmb.map_to_surface(mu, verts, model["tri"].astype(np.int64))
    used = dist <= fmb.ANCHOR_MAX_DIST
    corners = model["tri"][tri_idx[used]]
    # the mapping is right: the mean face at the barycentric point reproduces mu_filter
    at_point = np.einsum("ak,akd->ad", bary[used], verts[corners])
    miss = np.linalg.norm(at_point - mu[used], axis=1)
    w = model["w_shp"].astype(np.float64).reshape(N, 3, 40)
    fitted = np.einsum("ak,akdc->adc", bary[used], w[corners])
    want = paf["w_filter"].astype(np.float64).reshape(-1, 3, 40)[used]
    err = np.linalg.norm(fitted - want) / np.linalg.norm(want)
    worst = np.max(np.linalg.norm(fitted - want, axis=(0, 1)) / np.linalg.norm(want, axis=(0, 1)))
    print(f"\nanchors used {used.sum()}/{len(mu)}, mapping miss median {np.median(miss):.3g} "
          f"max {miss.max():.0f} units; identity rel. error at anchors {100 * err:.3g} % "
          f"(worst column {100 * worst:.3g} %); solve {figures['solve_s']} s")
    assert used.sum() == figures["anchors_used"] > 3000
    assert np.median(miss) < 1.0 and miss.max() <= fmb.ANCHOR_MAX_DIST
    assert err < 0.01 and worst < 0.01
    assert abs(err - figures["shp_anchor_rel_err"]) < 1e-4


# --- plausibility ---------------------------------------------------------------------------------

def test_random_plausible_faces_have_no_spikes(model: dict[str, np.ndarray], figures: dict) -> None:
    std, mean = model["param_std"].astype(np.float64), model["param_mean"].astype(np.float64)
    rng = np.random.default_rng(1)
    worst = []
    for _ in range(5):
        z = np.clip(rng.normal(size=50), -PLAUSIBLE_SIGMA_CLIP, PLAUSIBLE_SIGMA_CLIP)
        coef = mean[12:62] + z * std[12:62]
        stretch = _edge_stretch(model, _face(model, coef[:40], coef[40:]))
        worst.append((stretch.max(), 1.0 / stretch.min()))
    print(f"\nrandom faces: max edge stretch {max(w[0] for w in worst):.2f}, "
          f"max shrink {max(w[1] for w in worst):.2f}; "
          f"+-3 sigma face: {figures['max_edge_ratio_3sigma']:.2f}")
    assert max(w[0] for w in worst) < MAX_EDGE_STRETCH
    assert max(w[1] for w in worst) < 1.0 / MIN_EDGE_RATIO
    assert figures["max_edge_ratio_3sigma"] < MAX_EDGE_STRETCH


def _mouth_slit(model: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Upper-lip and lower-lip vertices on the mouth slit (the smaller boundary loop)."""
    tri = model["tri"].astype(np.int64)
    e = np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]]), axis=1)
    edges, count = np.unique(e, axis=0, return_counts=True)
    boundary = edges[count == 1]
    nbrs: dict[int, list[int]] = {}
    for i, j in boundary:
        nbrs.setdefault(int(i), []).append(int(j))
        nbrs.setdefault(int(j), []).append(int(i))
    assert all(len(v) == 2 for v in nbrs.values()), "boundary must be simple loops"
    loops, seen = [], set()
    for start in nbrs:
        if start in seen:
            continue
        loop, prev, cur = [start], -1, start
        while True:
            nxt = nbrs[cur][0] if nbrs[cur][0] != prev else nbrs[cur][1]
            if nxt == start:
                break
            loop.append(nxt)
            prev, cur = cur, nxt
        seen.update(loop)
        loops.append(np.array(loop))
    assert len(loops) == 2, "expected the outer rim and the mouth slit"
    slit = min(loops, key=len)
    x = model["u"].reshape(-1, 3)[slit, 0]
    i, j = sorted((int(np.argmin(x)), int(np.argmax(x))))  # the mouth corners split the loop
    half_a, half_b = slit[i:j + 1], np.concatenate([slit[j:], slit[:i + 1]])
    y = model["u"].reshape(-1, 3)[:, 1]
    return (half_a, half_b) if y[half_a].mean() > y[half_b].mean() else (half_b, half_a)


def test_opening_the_mouth_parts_the_lips(model: dict[str, np.ndarray]) -> None:
    std = model["param_std"].astype(np.float64)[52:62]
    web = model["w_exp_base"].astype(np.float64)
    # lip gap (upper minus lower inner-lip y) change per standard deviation of each component
    gap = (web[3 * UPPER_INNER_LIP + 1] - web[3 * LOWER_INNER_LIP + 1]) * std
    j = int(np.argmax(np.abs(gap)))
    beta = np.zeros(10)
    beta[j] = 3.0 * std[j] * np.sign(gap[j])  # 3 sigma towards "open"
    mean = model["u"].reshape(-1, 3)
    move = _face(model, np.zeros(40), beta) - mean
    kp = model["keypoints"]
    dy_up, dy_low = move[kp[UPPER_INNER_LIP], 1], move[kp[LOWER_INNER_LIP], 1]
    print(f"\nexpression component {j} opens the mouth: inner lips part by {dy_up - dy_low:.0f} units "
          f"at 3 sigma (upper {dy_up:+.0f}, lower {dy_low:+.0f})")
    assert dy_up - dy_low > 5000  # > 5 mm

    upper, lower = _mouth_slit(model)
    centre_x = mean[kp[UPPER_INNER_LIP], 0]
    upper = upper[np.abs(mean[upper, 0] - centre_x) < MOUTH_CENTRE_HALF_WIDTH]
    lower = lower[np.abs(mean[lower, 0] - centre_x) < MOUTH_CENTRE_HALF_WIDTH]
    assert len(upper) >= 3 and len(lower) >= 3
    up_mean, low_mean = move[upper, 1].mean(), move[lower, 1].mean()
    print(f"slit vertices near the centre: upper lip moves {up_mean:+.0f}, lower lip {low_mean:+.0f}")
    spread = dy_up - dy_low
    assert abs(up_mean - dy_up) < 0.25 * spread and abs(low_mean - dy_low) < 0.25 * spread
    # the slit really opens: every central upper-edge vertex ends above every lower-edge one
    opened = mean + move
    gap_before = mean[upper, 1].min() - mean[lower, 1].max()
    assert opened[upper, 1].min() - opened[lower, 1].max() > gap_before + 3000


# --- the official model wins ------------------------------------------------------------------

def _synthetic_bfm(model: dict[str, np.ndarray], path: Path, w_shp_cols: int = 40) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    flat = _rows(model["keypoints"].astype(np.int64))
    bfm = {
        "u": (model["u"] + rng.normal(0, 100, 3 * N)).astype(np.float32)[:, None],
        "w_shp": (model["w_shp"][:, :w_shp_cols] * 1.1).astype(np.float32),
        "w_exp": (model["w_exp"] * 0.9).astype(np.float32),
        "keypoints": flat,
        "tri": model["tri"].T.copy(),
    }
    with open(path, "wb") as f:
        pickle.dump(bfm, f, protocol=pickle.HIGHEST_PROTOCOL)
    return bfm


def test_official_bfm_wins(model: dict[str, np.ndarray], data_dir: Path, tmp_path: Path) -> None:
    bfm = _synthetic_bfm(model, tmp_path / "bfm_noneck_v3.pkl")
    out = tmp_path / "face_model.partial.npz"
    report = fmb.build_face_model(data_dir, out, bfm_path=tmp_path / "bfm_noneck_v3.pkl")
    assert any("bfm_noneck_v3" in line for line in report)
    with np.load(out, allow_pickle=False) as z:
        got = {k: z[k] for k in z.files}
    assert str(got["source"]) == "bfm_noneck_v3"
    np.testing.assert_array_equal(got["u"], bfm["u"].ravel())
    np.testing.assert_array_equal(got["w_shp"], bfm["w_shp"])
    np.testing.assert_array_equal(got["w_exp"], bfm["w_exp"])
    np.testing.assert_array_equal(got["keypoints"], model["keypoints"])
    rows = bfm["keypoints"]
    np.testing.assert_array_equal(got["u_base"], bfm["u"].ravel()[rows])
    np.testing.assert_array_equal(got["w_shp_base"], bfm["w_shp"][rows])
    np.testing.assert_array_equal(got["w_exp_base"], bfm["w_exp"][rows])
    for key in ("tri", "uv", "ncc", "param_mean", "param_std"):
        np.testing.assert_array_equal(got[key], model[key])
    assert json.loads(str(got["fit_report"]))["source"] == "bfm_noneck_v3"


def test_bfm_with_wrong_shape_is_rejected(model: dict[str, np.ndarray], data_dir: Path,
                                          tmp_path: Path) -> None:
    _synthetic_bfm(model, tmp_path / "bad.pkl", w_shp_cols=39)
    with pytest.raises(ValueError, match=r"w_shp.*\(115095, 39\)"):
        fmb.build_face_model(data_dir, tmp_path / "out.npz", bfm_path=tmp_path / "bad.pkl")
    assert not (tmp_path / "out.npz").exists()


def test_damaged_bfm_names_the_file(data_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bfm_noneck_v3.pkl"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="bfm_noneck_v3.pkl"):
        fmb.build_face_model(data_dir, tmp_path / "out.npz", bfm_path=bad)


# --- input errors -------------------------------------------------------------------------------

def test_missing_input_names_the_file(data_dir: Path, tmp_path: Path) -> None:
    # a data folder of symlinks to the shared files, minus one (nothing is copied)
    for sub in ("3ddfa_v1", "3ddfa_v2", "keypoint_basis"):
        (tmp_path / sub).mkdir()
        for f in (data_dir / sub).iterdir():
            if f.name != "ncc_code.npy":
                os.symlink(f, tmp_path / sub / f.name)
    with pytest.raises(OSError, match="ncc_code.npy"):
        fmb.build_face_model(tmp_path, tmp_path / "out.npz")


def test_keypoints_must_be_xyz_triplets() -> None:
    good = _rows(np.arange(68) * 5)
    np.testing.assert_array_equal(fmb.landmark_vertices(good, 3 * 400, "kp"), np.arange(68) * 5)
    bad = good.copy()
    bad[4] += 1
    with pytest.raises(ValueError, match="interleaved"):
        fmb.landmark_vertices(bad, 3 * 400, "kp")
    with pytest.raises(ValueError, match="outside"):
        fmb.landmark_vertices(good, 3 * 100, "kp")
