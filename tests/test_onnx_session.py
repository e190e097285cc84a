"""onnxruntime sessions: the optimised-graph cache next to the models."""
from __future__ import annotations

import shutil

import numpy as np

from engine.config import REGRESSOR_ONNX
from engine.onnx_session import create_session, optimised_graph_path


def run(session, x: np.ndarray) -> np.ndarray:
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def test_optimised_graph_is_cached_and_gives_the_same_numbers(weights_dir, tmp_path) -> None:
    model = tmp_path / REGRESSOR_ONNX
    shutil.copy2(weights_dir / REGRESSOR_ONNX, model)
    cached = optimised_graph_path(model)
    assert not cached.exists()
    x = np.random.default_rng(0).uniform(0, 255, (2, 3, 120, 120)).astype(np.float32)
    first = run(create_session(model, 1), x)
    assert cached.is_file() and cached.parent == tmp_path / "ort_cache"
    assert not list(cached.parent.glob("*.tmp"))
    np.testing.assert_array_equal(run(create_session(model, 1), x), first)  # loaded from the cache
    # A damaged cache entry (a killed writer, a copied folder) is replaced, not fatal.
    cached.write_bytes(b"not an onnx graph")
    np.testing.assert_array_equal(run(create_session(model, 1), x), first)
    assert cached.stat().st_size > 1000
    # A changed model file gets its own entry.
    model.touch()
    assert optimised_graph_path(model) != cached
