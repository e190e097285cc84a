"""The compiled float16 dense reconstruction against a float64 NumPy reference."""
from __future__ import annotations

import numpy as np
import pytest

from engine.config import FACE_MODEL_NPZ
from engine.face_model import N_POSE, FaceModel


@pytest.fixture(scope="module")
def model_and_reference(weights_dir):
    with np.load(weights_dir / FACE_MODEL_NPZ, allow_pickle=False) as z:
        mean = z["u"].astype(np.float64)
        basis = np.concatenate([z["w_shp"], z["w_exp"]], axis=1).astype(np.float64)
    return FaceModel.load(weights_dir / FACE_MODEL_NPZ), mean, basis


def reference_vertices(mean, basis, params, roi) -> np.ndarray:
    camera = FaceModel.image_camera(params, roi)
    v = (mean + basis @ params[N_POSE:].astype(np.float64)).reshape(-1, 3) @ camera[:, :3].T + camera[:, 3]
    v[:, 2] -= v[:, 2].min()
    return v


@pytest.mark.parametrize("seed", range(4))
def test_kernel_matches_float64_reference(model_and_reference, seed) -> None:
    model, mean, basis = model_and_reference
    rng = np.random.default_rng(seed)
    coef = model.param_mean[N_POSE:] + 2 * model.param_std[N_POSE:] * rng.standard_normal(50)
    params = np.concatenate([model.param_mean[:N_POSE], coef]).astype(np.float32)
    x, y, side = rng.uniform(-100, 900), rng.uniform(-100, 500), rng.uniform(60, 700)
    roi = np.array([x, y, x + side, y + side], np.float32)
    want = reference_vertices(mean, basis, params, roi)
    got = model.dense_vertices(params, roi)
    assert got.shape == (38365, 3) and got.dtype == np.float32
    error = np.abs(got - want).max()
    # float16 keeps ~1e-4 relative precision: a 700 px face is off by hundredths of a pixel
    assert error < 1e-4 * side, f"max error {error:.4f} px on a {side:.0f} px ROI"
    # the portable C path computes the very same numbers as the SIMD one
    simd = model._dense.use_simd
    try:
        model._dense.use_simd = False
        np.testing.assert_array_equal(model.dense_vertices(params, roi), got)
    finally:
        model._dense.use_simd = simd


def test_kernel_rejects_wrong_sizes(model_and_reference) -> None:
    model = model_and_reference[0]
    with pytest.raises(ValueError, match="50 coefficients"):
        model.dense_from_camera(np.eye(3, 4), np.zeros(49))
    with pytest.raises(ValueError, match="62 parameters"):
        model.dense_vertices(np.zeros(61), np.array([0, 0, 120, 120]))
