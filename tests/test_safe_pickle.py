"""No pickle the project reads can run code: every loader is fed a hostile file whose
``__reduce__`` would create a file, and must refuse it in one line with no file created.

The hostile files are written here; the data folders are symlinks to the shared files
with one file swapped (nothing is copied)."""
from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.convert import face_model_build as fmb
from engine.convert.regressor_onnx import load_param_mean_std
from engine.safe_pickle import MAX_DEPTH, load_pickle_file


class _TouchOnLoad:
    """Unpickling this with plain ``pickle.load`` runs ``os.system('touch MARKER')``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return os.system, (f"touch {self.marker}",)


def _hostile_payloads(marker: Path) -> dict[str, bytes]:
    evil = _TouchOnLoad(marker)
    return {
        "bare": pickle.dumps(evil, protocol=2),
        # where the real files hold dicts of arrays
        "in-dict": pickle.dumps({"mean": evil, "std": np.zeros(62, np.float32)}, protocol=4),
        # smuggled in through numpy: an object array holding it
        "object-array": pickle.dumps({"mu_filter": np.array([evil, 1], dtype=object)}, protocol=2),
        # an allowed global (numpy's _reconstruct) asked to build something else than an ndarray
        "reconstruct-abuse": (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\n"
                              b"cnumpy\ndtype\nK\x00\x85U\x01b\x87R."),
    }


def _swapped_data_dir(data_dir: Path, tmp_path: Path, swapped: str, content: bytes) -> Path:
    root = tmp_path / "data"
    for sub in ("3ddfa_v1", "3ddfa_v2", "keypoint_basis"):
        (root / sub).mkdir(parents=True)
        for f in (data_dir / sub).iterdir():
            if f"{sub}/{f.name}" != swapped:
                os.symlink(f, root / sub / f.name)
    (root / swapped).write_bytes(content)
    return root


def _loaders(data_dir: Path) -> dict[str, tuple[str, Callable[[Path], Any]]]:
    """loader name -> (the file it reads, a call that reads that file from a data folder)."""
    topo = fmb.load_topology(data_dir)
    return {
        "tri.pkl": (fmb.TRI_FILE, fmb.load_topology),
        "param_mean_std (face model)": (fmb.PARAM_FILE, fmb.load_topology),
        "param_mean_std (regressor)": (fmb.PARAM_FILE, lambda d: load_param_mean_std(d / fmb.PARAM_FILE)),
        "Model_PAF.pkl": (fmb.PAF_FILE, lambda d: fmb.load_sparse_inputs(d, topo)),
        "--bfm FILE": (fmb.PARAM_FILE, lambda d: fmb.load_bfm(d / fmb.PARAM_FILE, topo.n_vertices)),
    }


@pytest.fixture(scope="module")
def loaders(data_dir: Path) -> dict[str, tuple[str, Callable[[Path], Any]]]:
    return _loaders(data_dir)


@pytest.mark.parametrize("payload", ["bare", "in-dict", "object-array", "reconstruct-abuse"])
@pytest.mark.parametrize("loader", ["tri.pkl", "param_mean_std (face model)", "param_mean_std (regressor)",
                                    "Model_PAF.pkl", "--bfm FILE"])
def test_every_pickle_loader_refuses_code(data_dir: Path, tmp_path: Path, loaders, loader: str,
                                          payload: str) -> None:
    marker = tmp_path / "pwned"
    content = _hostile_payloads(marker)[payload]
    # The payload really is hostile: plain pickle runs it (on a copy, removed again).
    if payload in ("bare", "in-dict"):
        pickle.loads(content)
        assert marker.exists()
        marker.unlink()
    swapped, load = loaders[loader]
    folder = _swapped_data_dir(data_dir, tmp_path, swapped, content)
    with pytest.raises(ValueError, match="refused") as info:
        load(folder)
    message = str(info.value)
    assert "\n" not in message and str(folder / swapped) in message
    assert not marker.exists()


def test_the_bfm_option_of_the_build_refuses_code(data_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    bfm = tmp_path / "bfm_noneck_v3.pkl"
    bfm.write_bytes(pickle.dumps({"u": _TouchOnLoad(marker)}))
    out = tmp_path / "face_model.npz"
    with pytest.raises(ValueError, match=r"bfm_noneck_v3\.pkl is refused: refused global posix\.system"):
        fmb.build_face_model(data_dir, out, bfm_path=bfm)
    assert not marker.exists() and not out.exists()


def test_the_real_upstream_pickles_load_as_before(data_dir: Path) -> None:
    for name in (fmb.TRI_FILE, fmb.PARAM_FILE, fmb.PAF_FILE):
        path = data_dir / name
        with open(path, "rb") as f:
            want = pickle.load(f, encoding="latin1")  # trusted here: the checksummed shared data
        got = load_pickle_file(path)
        if isinstance(want, dict):
            assert got.keys() == want.keys()
            pairs = [(got[k], want[k]) for k in want]
        else:
            pairs = [(got, want)]
        for a, b in pairs:
            assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), name


def test_plain_data_of_this_numpy_round_trips(tmp_path: Path) -> None:
    data = {"f": np.arange(12, dtype=np.float32).reshape(3, 4).T, "i": np.int64(7), "s": "text",
            "l": [1, 2.5, (3, None)], "fortran": np.asfortranarray(np.eye(3)), "b": b"raw"}
    for protocol in (2, 3, 4, 5):
        path = tmp_path / f"p{protocol}.pkl"
        path.write_bytes(pickle.dumps(data, protocol=protocol))
        got = load_pickle_file(path)
        assert got.keys() == data.keys() and got["s"] == "text" and got["l"] == [1, 2.5, (3, None)]
        assert np.array_equal(got["f"], data["f"]) and got["i"] == 7 and np.array_equal(got["fortran"], np.eye(3))


def test_deep_nesting_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.pkl"
    depth = 100_000
    path.write_bytes(b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b".")
    with pytest.raises(ValueError, match=f"nests containers more than {MAX_DEPTH} levels deep"):
        load_pickle_file(path)


def test_damaged_and_missing_pickles_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps({"a": np.zeros(1000)})[:500])
    with pytest.raises(ValueError, match=r"cannot unpickle .*cut\.pkl") as info:
        load_pickle_file(path)
    assert "\n" not in str(info.value)
    with pytest.raises(FileNotFoundError, match="absent.pkl"):
        load_pickle_file(tmp_path / "absent.pkl")
