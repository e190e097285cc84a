"""Hostile data and model files (issue 21): each is built here, small or sparse, and fed to
the real command line (`setup` for the upstream data, `detect` for the model folder). Every
one must end in one line on stderr, no traceback, a truthful exit code, and a peak memory
under the stated limit, measured on the child process."""
from __future__ import annotations

import io
import pickle
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from engine.array_files import ArrayFileError, read_npz
from engine.assets import DETECTOR_INPUTS, FACE_MODEL_INPUTS, REGRESSOR_INPUTS, read_checksums
from engine.convert.torch_legacy import MAGIC_NUMBER, PROTOCOL_VERSION
from engine.derived_cache import DerivedCache
from engine.face_model import DenseBasis
from engine.safe_pickle import MAX_VALUES
from tests.support.hostile import report_runs, run_cli  # noqa: F401 (report_runs: a fixture)

# `setup` that fails on its inputs: 35-195 MB measured (the two networks converted first).
SETUP_RSS_LIMIT_MB = 250
# `detect` loads both networks and the face model: ~150 MB for a good run, 200 with --dense.
DETECT_RSS_LIMIT_MB = 300
NEEDED = sorted(set(REGRESSOR_INPUTS + DETECTOR_INPUTS + FACE_MODEL_INPUTS))


# -- builders -----------------------------------------------------------------------------


def _laughs(levels: int = 12, fan: int = 9) -> list:
    """9^12 values (2.8e11) that pickle into ~300 bytes: each level repeats the one below."""
    value: list = ["lol"]
    for _ in range(levels):
        value = [value] * fan
    return value


def _npy_header(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": descr, "fortran_order": False, "shape": shape})
    return out.getvalue()


def _zeros_member(archive: zipfile.ZipFile, name: str, shape: tuple[int, ...], descr: str = "<f4") -> None:
    """A deflated .npy of zeros, written in 1 MB pieces: a few KB on disk per 100 MB declared."""
    nbytes = int(np.prod(shape)) * np.dtype(descr).itemsize
    with archive.open(name, "w", force_zip64=True) as f:
        f.write(_npy_header(shape, descr))
        chunk = bytes(1 << 20)
        for start in range(0, nbytes, len(chunk)):
            f.write(chunk[:min(len(chunk), nbytes - start)])


def _mat_bomb(path: Path, rows: int) -> None:
    """A MATLAB v5 file whose compressed 'UV' (rows x 2 doubles, all zero) inflates ~1000x."""
    order = "<"

    def element(kind: int, body: bytes) -> bytes:
        return struct.pack(order + "II", kind, len(body)) + body + bytes(-len(body) % 8)

    data_bytes = rows * 2 * 8
    head = (element(6, struct.pack(order + "II", 6, 0))          # miUINT32 flags: mxDOUBLE_CLASS
            + element(5, struct.pack(order + "ii", rows, 2))     # miINT32 dimensions
            + element(1, b"UV"))                                  # miINT8 name
    matrix_tag = struct.pack(order + "II", 14, len(head) + 8 + data_bytes)
    compressor = zlib.compressobj(9)
    stream = [compressor.compress(matrix_tag + head + struct.pack(order + "II", 9, data_bytes))]
    chunk = bytes(1 << 20)
    for start in range(0, data_bytes, len(chunk)):
        stream.append(compressor.compress(chunk[:min(len(chunk), data_bytes - start)]))
    stream.append(compressor.flush())
    body = b"".join(stream)
    header = b"MATLAB 5.0 MAT-file, hostile".ljust(116) + bytes(8) + struct.pack("<H", 0x0100) + b"IM"
    path.write_bytes(header + struct.pack(order + "II", 15, len(body)) + body)


# -- the data folder ------------------------------------------------------------------------


class DataFolder:
    """The upstream inputs of `setup` as links to the shared data, with their SHA256SUMS;
    ``replace`` puts a hostile file in one's place and lists its true checksum."""

    def __init__(self, root: Path, shared: Path) -> None:
        self.root = root
        self.sums = read_checksums(shared / "SHA256SUMS", shared)
        for name in NEEDED:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).symlink_to(shared / name)
        self._write_sums()

    def _write_sums(self, extra: str = "") -> None:
        lines = [f"{self.sums[name]}  ./{name}" for name in NEEDED]
        (self.root / "SHA256SUMS").write_text("\n".join(lines) + "\n" + extra)

    def replace(self, name: str, data: bytes | None = None) -> Path:
        import hashlib

        path = self.root / name
        path.unlink()
        if data is not None:
            path.write_bytes(data)
        self.sums[name] = hashlib.sha256(path.read_bytes()).hexdigest()
        self._write_sums()
        return path

    def setup(self, tmp_path: Path):
        return run_cli("setup", "--data", self.root, "--weights", tmp_path / "weights")


@pytest.fixture
def data(tmp_path: Path, data_dir: Path) -> DataFolder:
    return DataFolder(tmp_path / "data", data_dir)


def _one_setup_error(run, data: DataFolder) -> str:
    assert run.returncode == 1, run.stdout + run.stderr
    line = run.error_line()
    assert line.startswith("tracker-app: error: "), line
    assert run.peak_rss_mb < SETUP_RSS_LIMIT_MB, f"{run.peak_rss_mb:.0f} MB"
    return line


# -- SHA256SUMS ------------------------------------------------------------------------------


@pytest.mark.parametrize("extra,expected", [
    ("not a checksum line\n", "line 14 is not 'SHA256  FILE': 'not a checksum line'"),
    ("0" * 64 + "  /etc/passwd\n", "line 14 names a file outside the data folder: '/etc/passwd'"),
    ("0" * 64 + "  ./../../etc/passwd\n", "line 14 names a file outside the data folder: '../../etc/passwd'"),
])
def test_a_bad_checksum_line_is_named(data: DataFolder, tmp_path: Path, extra: str, expected: str) -> None:
    data._write_sums(extra)
    line = _one_setup_error(data.setup(tmp_path), data)
    assert line == f"tracker-app: error: {data.root / 'SHA256SUMS'} {expected}"
    assert not (tmp_path / "weights").exists()  # refused before anything was hashed or written


def test_checksums_that_are_not_utf8_are_one_line(data: DataFolder, tmp_path: Path) -> None:
    (data.root / "SHA256SUMS").write_bytes((data.root / "SHA256SUMS").read_bytes() + b"\xff\xfe  x\n")
    line = _one_setup_error(data.setup(tmp_path), data)
    assert line == f"tracker-app: error: {data.root / 'SHA256SUMS'} is not UTF-8 text (line 14)"


def test_a_listed_data_file_that_is_a_fifo_is_named_not_hashed(data: DataFolder, tmp_path: Path) -> None:
    import os

    path = data.root / "3ddfa_v2" / "indices.npy"
    path.unlink()
    os.mkfifo(path)  # hashing it would wait for a writer for ever
    line = _one_setup_error(data.setup(tmp_path), data)
    assert line == f"tracker-app: error: data file {path}: is a FIFO (named pipe), not a file"


# -- arrays ------------------------------------------------------------------------------------


def test_an_npy_declaring_a_terabyte_is_refused_before_reading(data: DataFolder, tmp_path: Path) -> None:
    path = data.replace("3ddfa_v2/indices.npy", _npy_header((10 ** 12,)) + bytes(64))
    line = _one_setup_error(data.setup(tmp_path), data)
    assert line == (f"tracker-app: error: converting face_model.npz failed: {path}: declares "
                    "4,000,000,000,000 bytes of data (float32 (1000000000000,)), over the budget of 268,435,456")


def test_a_sparse_npy_as_large_as_it_declares_is_refused_too(data: DataFolder, tmp_path: Path) -> None:
    path = data.replace("3ddfa_v2/indices.npy", _npy_header((10 ** 9,), "<i4"))
    with open(path, "r+b") as f:  # 4 GB, all a hole: the data is "there"
        f.truncate(len(_npy_header((10 ** 9,), "<i4")) + 4 * 10 ** 9)
    data.sums["3ddfa_v2/indices.npy"] = "0" * 64  # never hashed: the sums are not what is tested here
    data._write_sums()
    from engine.convert.face_model_build import _load_npy

    with pytest.raises(ArrayFileError, match="declares 4,000,000,000 bytes of data .* over the budget"):
        _load_npy(path)


def test_a_mat_bomb_is_refused_within_its_budget(data: DataFolder, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.mat"
    _mat_bomb(bomb, rows=20_000_000)  # 320 MB of doubles in ~330 KB
    assert bomb.stat().st_size < 1 << 20
    path = data.replace("3ddfa_v2/BFM_UV.mat", bomb.read_bytes())
    line = _one_setup_error(data.setup(tmp_path), data)
    assert line.startswith(f"tracker-app: error: converting face_model.npz failed: {path}: a compressed "
                           "element of ") and "(over the budget of 268,435,456 bytes, or a zip bomb)" in line


def test_a_mat_element_declaring_more_than_the_file_holds(data: DataFolder, tmp_path: Path) -> None:
    header = b"MATLAB 5.0 MAT-file".ljust(116) + bytes(8) + struct.pack("<H", 0x0100) + b"IM"
    path = data.replace("3ddfa_v2/BFM_UV.mat", header + struct.pack("<II", 14, 0xFFFFFF00) + bytes(256))
    line = _one_setup_error(data.setup(tmp_path), data)
    assert line == (f"tracker-app: error: converting face_model.npz failed: {path}: an element declares "
                    "4,294,967,040 bytes, only 256 follow")


# -- pickles ---------------------------------------------------------------------------------


def test_pickle_laughs_as_a_protocol_version(data: DataFolder, tmp_path: Path) -> None:
    laughs = pickle.dumps(_laughs(), protocol=2)
    assert len(laughs) < 400
    path = data.replace(REGRESSOR_INPUTS[0], pickle.dumps(MAGIC_NUMBER, protocol=2) + laughs + laughs)
    line = _one_setup_error(data.setup(tmp_path), data)
    assert line == (f"tracker-app: error: converting mb05_120x120.onnx failed: {path} has unsupported legacy "
                    "protocol version [[[[[[[[[[[[['lol'], ['lol'], ['lol']...")


def test_pickle_laughs_as_a_persistent_id(data: DataFolder, tmp_path: Path) -> None:
    marker, laughs = object(), _laughs()

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return laughs if obj is marker else None

    out = io.BytesIO()
    for part in (MAGIC_NUMBER, PROTOCOL_VERSION, {"little_endian": True, "protocol_version": PROTOCOL_VERSION}):
        pickle.dump(part, out, protocol=2)
    Pickler(out, protocol=2).dump({"weight": marker})
    path = data.replace(REGRESSOR_INPUTS[0], out.getvalue())
    line = _one_setup_error(data.setup(tmp_path), data)
    assert line.startswith(f"tracker-app: error: converting mb05_120x120.onnx failed: {path} is corrupt ")
    assert "unsupported persistent id [[[[[[[[[[[[['lol'], ['lol']" in line and len(line) < 400


def test_pickle_laughs_as_data(data: DataFolder, tmp_path: Path) -> None:
    path = data.replace(REGRESSOR_INPUTS[1], pickle.dumps({"mean": _laughs(20)}, protocol=2))
    run = data.setup(tmp_path)
    line = _one_setup_error(run, data)
    assert line == (f"tracker-app: error: converting mb05_120x120.onnx failed: {path} stands for more than "
                    f"{MAX_VALUES} values (shared containers repeated)")
    assert run.cpu_s < 30  # 20 levels walked as a tree would be 12e18 steps; not a timing figure


def test_a_pickle_that_contains_itself(tmp_path: Path) -> None:
    from engine.safe_pickle import load_pickle_file

    loop: list = []
    loop.append({"again": loop})
    path = tmp_path / "loop.pkl"
    path.write_bytes(pickle.dumps(loop, protocol=2))
    with pytest.raises(ValueError, match="loop.pkl holds a container that contains itself"):
        load_pickle_file(path)


# -- the model folder ----------------------------------------------------------------------------


@pytest.fixture
def weights(tmp_path: Path, weights_dir: Path) -> Path:
    """A model folder of links to the real networks; face_model.npz is the test's to write."""
    folder = tmp_path / "weights"
    folder.mkdir()
    for name in ("faceboxes.onnx", "mb05_120x120.onnx"):
        (folder / name).symlink_to(weights_dir / name)
    (tmp_path / "config.yaml").write_text(f"weights_dir: {folder}\n")
    return folder


def _detect(tmp_path: Path, media_dir: Path, *flags: str):
    return run_cli("--config", tmp_path / "config.yaml", "detect", *flags, media_dir / "emma.jpg",
                   "--out", tmp_path / "out")


def _real_model_members(weights_dir: Path) -> dict[str, np.ndarray]:
    with np.load(weights_dir / "face_model.npz") as npz:
        return {k: npz[k] for k in npz.files}


def test_a_face_model_declaring_a_terabyte(weights: Path, tmp_path: Path, media_dir: Path,
                                           weights_dir: Path) -> None:
    model = weights / "face_model.npz"
    with zipfile.ZipFile(model, "w") as archive:
        for name, array in _real_model_members(weights_dir).items():
            if name != "tri":
                with archive.open(f"{name}.npy", "w") as f:
                    np.lib.format.write_array(f, array)
        archive.writestr("tri.npy", _npy_header((10 ** 12, 3), "<i4") + bytes(64))
    run = _detect(tmp_path, media_dir)
    assert run.returncode == 1 and run.peak_rss_mb < DETECT_RSS_LIMIT_MB, run
    assert run.error_line() == (
        f"tracker-app: error: {model} [tri]: declares 12,000,000,000,000 bytes of data (int32 (1000000000000, 3)), "
        "over the budget of 209,715,200; re-run `tracker-app setup --force --data DIR`")


@pytest.mark.parametrize("rows,expected", [
    (30_000_000, "its arrays declare more than 209,715,200 bytes (at 'tri')"),  # 360 MB: over the budget
    (2_000_000, "'tri' inflates"),  # 24 MB of zeros in 24 KB: under the budget, a bomb by its ratio
])
def test_a_face_model_zip_bomb(weights: Path, tmp_path: Path, media_dir: Path, rows: int, expected: str) -> None:
    model = weights / "face_model.npz"
    with zipfile.ZipFile(model, "w", zipfile.ZIP_DEFLATED) as archive:
        _zeros_member(archive, "tri.npy", (rows, 3), "<i4")
    assert model.stat().st_size < 1 << 20
    run = _detect(tmp_path, media_dir)
    assert run.returncode == 1 and run.peak_rss_mb < DETECT_RSS_LIMIT_MB, run
    line = run.error_line()
    assert line.startswith(f"tracker-app: error: {model}: ") and expected in line, line


def test_a_derived_cache_bomb_is_computed_again(weights: Path, tmp_path: Path, media_dir: Path,
                                                 weights_dir: Path) -> None:
    """The cache is only a cache: a bomb under an entry's name is replaced, and the run succeeds."""
    model = weights / "face_model.npz"
    model.symlink_to(weights_dir / "face_model.npz")
    entry = DerivedCache(model).path("dense_basis", DenseBasis.LAYOUT_VERSION)
    entry.parent.mkdir()
    with zipfile.ZipFile(entry, "w", zipfile.ZIP_DEFLATED) as archive:
        _zeros_member(archive, "packed.npy", (100_000_000,))  # 400 MB in 400 KB
    run = _detect(tmp_path, media_dir, "--dense")
    assert run.returncode == 0 and run.stderr == "", run
    assert run.stdout.count(": face ") == 3
    assert run.peak_rss_mb < DETECT_RSS_LIMIT_MB, f"{run.peak_rss_mb:.0f} MB"
    good = read_npz(entry, max_bytes=DerivedCache(model).max_entry_bytes())  # replaced by a real entry
    assert DenseBasis.fits(good, len(_real_model_members(weights_dir)["ncc"]))
