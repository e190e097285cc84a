"""Arrays derived from the face model (the packed dense basis, the mesh levels), cached
beside it: the same numbers as computing them, and a bad entry is never used."""
from __future__ import annotations

import os
import pathlib
import shutil

import numpy as np
import pytest

from engine.config import FACE_MODEL_NPZ
from engine.derived_cache import CACHE_DIR
from engine.face_model import DenseBasis, FaceModel
from tracker_app.mesh_lod import mesh_lods, model_mesh_lods

ROI = np.array([10.0, 20.0, 130.0, 140.0], np.float32)


class TouchesWhenUnpickled:
    """Unpickling this creates ``marker``: the proof that a file ran code."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


@pytest.fixture
def model_path(weights_dir, tmp_path):
    path = tmp_path / FACE_MODEL_NPZ
    shutil.copy2(weights_dir / FACE_MODEL_NPZ, path)
    return path


def vertices(path) -> np.ndarray:
    model = FaceModel.load(path)
    params = model.param_mean.copy()
    params[-10:] += 0.5 * model.param_std[-10:]  # an expression, so the basis takes part
    return model.dense_vertices(params, ROI)


def test_packed_basis_is_cached_and_gives_the_same_mesh(model_path) -> None:
    uncached = FaceModel(dict(np.load(model_path)))  # no cache: packed in memory
    params = uncached.param_mean.copy()
    params[-10:] += 0.5 * uncached.param_std[-10:]
    expected = uncached.dense_vertices(params, ROI)
    first = vertices(model_path)
    entries = list((model_path.parent / CACHE_DIR).glob("*.dense_basis.*.npz"))
    assert len(entries) == 1
    np.testing.assert_array_equal(first, expected)
    np.testing.assert_array_equal(vertices(model_path), expected)  # read back from the entry
    # A rebuilt model file gets a new entry, and the old one goes.
    os.utime(model_path, ns=(0, 0))
    np.testing.assert_array_equal(vertices(model_path), expected)
    assert [p.name for p in (model_path.parent / CACHE_DIR).glob("*.dense_basis.*.npz")] != [entries[0].name]
    assert len(list((model_path.parent / CACHE_DIR).glob("*.dense_basis.*.npz"))) == 1


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong shape", "pickled objects"])
def test_a_bad_entry_is_packed_again_not_used(model_path, damage) -> None:
    expected = vertices(model_path)
    entry = next((model_path.parent / CACHE_DIR).glob("*.dense_basis.*.npz"))
    good = dict(np.load(entry))
    if damage == "garbage":
        entry.write_bytes(b"PK\x03\x04 not a zip")
    elif damage == "truncated":
        entry.write_bytes(entry.read_bytes()[:5000])
    elif damage == "wrong shape":  # the C kernel would read past this buffer
        np.savez(entry, packed=good["packed"][:10], mean=good["mean"], scales=good["scales"])
    else:  # reading it must not run code
        hostile = np.empty(1, dtype=object)
        hostile[0] = TouchesWhenUnpickled(model_path.parent / "ran")
        with open(entry, "wb") as f:
            np.savez(f, packed=hostile, mean=good["mean"], scales=good["scales"])
    assert not DenseBasis.fits(_read_any(entry), FaceModel.load(model_path).n_vertices)
    np.testing.assert_array_equal(vertices(model_path), expected)
    assert DenseBasis.fits(dict(np.load(entry)), FaceModel.load(model_path).n_vertices)  # replaced
    assert not (model_path.parent / "ran").exists()


def _read_any(path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except Exception:
        return {}


def test_a_cache_that_cannot_be_written_still_gives_the_mesh(model_path) -> None:
    """A read-only weights folder, or a file where the folder should be: no cache, same mesh."""
    expected = vertices(model_path)
    shutil.rmtree(model_path.parent / CACHE_DIR)
    (model_path.parent / CACHE_DIR).write_text("in the way")  # mkdir fails, even as root
    np.testing.assert_array_equal(vertices(model_path), expected)
    assert (model_path.parent / CACHE_DIR).read_text() == "in the way"


def test_mesh_levels_are_cached_and_checked(model_path) -> None:
    model = FaceModel.load(model_path)
    expected = mesh_lods(model.ncc, model.triangles)
    for _ in range(2):  # computed, then read back
        got = model_mesh_lods(FaceModel.load(model_path))
        assert len(got) == len(expected) and all(np.array_equal(a, b) for a, b in zip(got, expected))
    entry = next((model_path.parent / CACHE_DIR).glob("*.mesh_lods_*.npz"))
    levels = dict(np.load(entry))
    levels[next(iter(levels))][0, 0] = model.n_vertices  # an index OpenGL would read out of bounds
    np.savez(entry, **levels)
    got = model_mesh_lods(FaceModel.load(model_path))
    assert all(np.array_equal(a, b) for a, b in zip(got, expected))
