"""engine/array_files.py reads what NumPy and SciPy write, exactly, and refuses what would
cost more than declared budgets before reading data."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from engine.array_files import ArrayFileError, ArraySpec, read_mat_variable, read_npy, read_npz

MB = 1 << 20


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("version", [(1, 0), (2, 0)])
def test_npy_round_trip(tmp_path: Path, order: str, version: tuple[int, int]) -> None:
    array = np.asfortranarray(np.arange(24, dtype=">f8").reshape(2, 3, 4)) if order == "F" else \
        np.arange(24, dtype=np.int16).reshape(4, 6)
    path = tmp_path / "a.npy"
    with open(path, "wb") as f:
        np.lib.format.write_array(f, array, version=version)
    got = read_npy(path, max_bytes=MB)
    assert got.dtype == array.dtype and np.array_equal(got, array) and got.flags.writeable


def test_npz_round_trip_with_specs(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    arrays = {"tri": np.arange(30, dtype=np.int32).reshape(10, 3), "name": np.array("bfm"),
              "uv": np.random.default_rng(0).random((7, 2)).astype(np.float32)}
    np.savez_compressed(path, **arrays)
    specs = {"tri": ArraySpec((None, 3), "iu"), "name": ArraySpec((), "U"), "uv": ArraySpec((None, 2), "f")}
    got = read_npz(path, specs, max_bytes=MB, required=("tri", "uv"))
    assert got.keys() == arrays.keys() and all(np.array_equal(got[k], v) for k, v in arrays.items())
    assert read_npz(path, specs, max_bytes=MB, keys=("uv",)).keys() == {"uv"}
    with pytest.raises(ArrayFileError, match=r"\[tri\]: has shape \(10, 3\), expected \(n, 4\)"):
        read_npz(path, {"tri": ArraySpec((None, 4))}, max_bytes=MB)
    with pytest.raises(ArrayFileError, match=r"\[uv\]: has dtype float32, expected one of kinds 'iu'"):
        read_npz(path, {"uv": ArraySpec(kinds="iu")}, max_bytes=MB)
    with pytest.raises(ArrayFileError, match="has no array 'w_shp'"):
        read_npz(path, specs, max_bytes=MB, required=("w_shp",))
    with pytest.raises(ArrayFileError, match="its arrays declare more than 100 bytes"):
        read_npz(path, max_bytes=100)


def test_objects_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "o.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ArrayFileError, match="refused, it holds Python objects"):
        read_npy(path, max_bytes=MB)


def test_a_member_whose_header_disagrees_with_its_size(tmp_path: Path) -> None:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (1000,)})
    path = tmp_path / "lie.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", header.getvalue() + bytes(40))  # 10 floats, not 1000
    with pytest.raises(ArrayFileError, match=r"\[x\]: its header declares 4,000 bytes of data, the member holds 40"):
        read_npz(path, max_bytes=MB)


def test_a_truncated_npy(tmp_path: Path) -> None:
    path = tmp_path / "t.npy"
    np.save(path, np.zeros(100, np.float64))
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(ArrayFileError, match="truncated .* declares 800 bytes of data, the file holds 792"):
        read_npy(path, max_bytes=MB)


@pytest.mark.parametrize("compress", [False, True])
def test_mat_round_trip(tmp_path: Path, compress: bool) -> None:
    uv = np.random.default_rng(1).random((500, 2))
    path = tmp_path / "uv.mat"
    scipy.io.savemat(path, {"UV": uv, "other": np.arange(5)}, do_compression=compress)
    got = read_mat_variable(path, "UV", ArraySpec((None, 2), "f"), max_bytes=MB)
    assert np.array_equal(got, uv)
    with pytest.raises(ArrayFileError, match="has no variable 'VU'"):
        read_mat_variable(path, "VU", max_bytes=MB)
    with pytest.raises(ArrayFileError, match=r"\[UV\]: has shape \(500, 2\), expected \(n, 3\)"):
        read_mat_variable(path, "UV", ArraySpec((None, 3), "f"), max_bytes=MB)
