"""Read .npy, .npz and MATLAB v5 .mat arrays at a cost known before any data is read.

``np.load`` allocates what a header declares, and a zip member or a MATLAB element
decompresses to whatever it holds: a 128-byte .npy header asking for 10^12 floats, a
4 MB zip that inflates to 4 GB, a 52 MB .mat declaring 12 GB. Every array file the
project reads goes through this module instead, which checks, in this order and before
reading data:

* the declared dtype (plain numbers or text, never Python objects) and shape against an
  ``ArraySpec`` when the caller knows what it expects;
* the declared size against a byte budget for the whole file;
* that the declared size matches the bytes actually there (a .npy holds its data raw;
  a zip member's uncompressed size must be that of its .npy), and that compressed data
  inflates at most ``MAX_INFLATION`` times (real arrays of floats compress 1-3x).

Decompression is then bounded by the checked size. Every failure is an ``ArrayFileError``
(a ``ValueError``) with one line naming the file.
"""
from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from engine.errors import TrackerError

# Uncompressed / compressed for a compressed member or element: float arrays compress
# 1-3x, integer index arrays up to ~10x; zip bombs 1000x.
MAX_INFLATION = 50
# Below this many uncompressed bytes a member may compress as well as it likes (a block of zeros).
INFLATION_SLACK = 1 << 20
_NPY_HEADER_LIMIT = 10_000  # numpy's own default for a header's length


class ArrayFileError(TrackerError, ValueError):
    """An array file is unreadable, or declares more data than it may or does hold."""


@dataclass(frozen=True)
class ArraySpec:
    """What an array may be: its shape (``None`` for an axis of any length; ``shape=None``:
    any shape) and the NumPy dtype kinds accepted (b bool, i/u integers, f floats, U text)."""

    shape: tuple[int | None, ...] | None = None
    kinds: str = "biuf"

    def problem(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> str | None:
        if dtype.kind not in self.kinds:
            return f"has dtype {dtype}, expected one of kinds '{self.kinds}'"
        if self.shape is not None and (len(shape) != len(self.shape) or any(
                want is not None and want != got for want, got in zip(self.shape, shape))):
            wanted = "(" + ", ".join("n" if d is None else str(d) for d in self.shape) + ")"
            return f"has shape {shape}, expected {wanted}"
        return None


@dataclass(frozen=True)
class _NpyHeader:
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    fortran: bool
    data_offset: int  # bytes of magic + header

    @property
    def nbytes(self) -> int:
        count = 1
        for n in self.shape:
            count *= n
        return count * self.dtype.itemsize


def _npy_header(f: IO[bytes], where: str) -> _NpyHeader:
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=_NPY_HEADER_LIMIT)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=_NPY_HEADER_LIMIT)
        else:
            raise ArrayFileError(f"{where}: unsupported .npy format version {version}")
    except ArrayFileError:
        raise
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as e:
        raise ArrayFileError(f"{where}: not a readable .npy array ({str(e).splitlines()[0][:80]})") from None
    if dtype.hasobject:
        raise ArrayFileError(f"{where}: refused, it holds Python objects")
    if any(n < 0 for n in shape):
        raise ArrayFileError(f"{where}: declares a negative shape {shape}")
    return _NpyHeader(tuple(int(n) for n in shape), dtype, bool(fortran), f.tell())


def _check(header: _NpyHeader, spec: ArraySpec | None, max_bytes: int, where: str) -> None:
    problem = spec.problem(header.shape, header.dtype) if spec is not None else None
    if problem is not None:
        raise ArrayFileError(f"{where}: {problem}")
    if header.nbytes > max_bytes:
        raise ArrayFileError(f"{where}: declares {header.nbytes:,} bytes of data ({header.dtype} "
                             f"{header.shape}), over the budget of {max_bytes:,}")


def _array(buffer: bytearray, header: _NpyHeader) -> np.ndarray:
    flat = np.frombuffer(buffer, dtype=header.dtype)
    return flat.reshape(header.shape, order="F" if header.fortran else "C")


def _read_exactly(f: IO[bytes], nbytes: int, where: str) -> bytearray:
    buffer = bytearray(nbytes)
    view = memoryview(buffer)
    done = 0
    while done < nbytes:
        got = f.readinto(view[done:])  # type: ignore[attr-defined]
        if not got:
            raise ArrayFileError(f"{where}: truncated ({done:,} of {nbytes:,} bytes of data)")
        done += got
    return buffer


def read_npy(path: str | os.PathLike[str], spec: ArraySpec | None = None, *, max_bytes: int) -> np.ndarray:
    """The array in the .npy file ``path``; its header is checked against ``spec``, ``max_bytes``
    and the file's own size before any data is read."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            header = _npy_header(f, str(path))
            _check(header, spec, max_bytes, str(path))
            available = os.fstat(f.fileno()).st_size - header.data_offset
            if header.nbytes > available:
                raise ArrayFileError(f"{path}: truncated (its header declares {header.nbytes:,} bytes of data, "
                                     f"the file holds {available:,})")
            return _array(_read_exactly(f, header.nbytes, str(path)), header)
    except OSError as e:
        raise ArrayFileError(f"cannot read {path}: {e.strerror or e}") from None


def read_npz(path: str | os.PathLike[str], specs: Mapping[str, ArraySpec] | None = None, *, max_bytes: int,
             keys: Collection[str] | None = None, required: Collection[str] = ()) -> dict[str, np.ndarray]:
    """The arrays of the .npz file ``path`` (only ``keys`` when given), each checked before it is read.

    ``specs``: what the arrays of these names may be (others: numbers or text of any shape);
    ``required``: names the file must hold. ``max_bytes`` bounds the whole file's
    uncompressed data, checked on the zip directory before the first member is inflated.
    """
    path = Path(path)
    specs = specs or {}
    try:
        with zipfile.ZipFile(path) as archive:
            members = _npz_members(archive, path, max_bytes)
            missing = [name for name in required if name not in members]
            if missing:
                raise ArrayFileError(f"{path}: has no array '{missing[0]}'")
            arrays: dict[str, np.ndarray] = {}
            for name, info in members.items():
                if keys is not None and name not in keys:
                    continue
                where = f"{path} [{name}]"
                with archive.open(info) as f:
                    header = _npy_header(f, where)
                    _check(header, specs.get(name, _ANY), max_bytes, where)
                    if header.data_offset + header.nbytes != info.file_size:
                        raise ArrayFileError(f"{where}: its header declares {header.nbytes:,} bytes of data, "
                                             f"the member holds {info.file_size - header.data_offset:,}")
                    arrays[name] = _array(_read_exactly(f, header.nbytes, where), header)
            return arrays
    except ArrayFileError:
        raise
    except OSError as e:
        raise ArrayFileError(f"cannot read {path}: {e.strerror or e}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, ValueError, NotImplementedError) as e:
        raise ArrayFileError(f"{path}: not a readable .npz archive ({str(e).splitlines()[0][:80]})") from None


_ANY = ArraySpec(kinds="biufU")


def _npz_members(archive: zipfile.ZipFile, path: Path, max_bytes: int) -> dict[str, zipfile.ZipInfo]:
    """Array name -> zip entry, after checking declared sizes and compression ratios."""
    members: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in archive.infolist():
        name = info.filename.removesuffix(".npy")
        if name in members:
            raise ArrayFileError(f"{path}: holds the array '{name[:60]}' twice")
        total += info.file_size
        if total > max_bytes:
            raise ArrayFileError(f"{path}: its arrays declare more than {max_bytes:,} bytes (at '{name[:60]}')")
        if info.compress_type != zipfile.ZIP_STORED and \
                info.file_size > MAX_INFLATION * info.compress_size + INFLATION_SLACK:
            raise ArrayFileError(f"{path}: '{name[:60]}' inflates {info.compress_size:,} bytes to "
                                 f"{info.file_size:,} (a zip bomb?)")
        members[name] = info
    return members


# -- MATLAB v5 ---------------------------------------------------------------------------------

_MAT_HEADER = 128
_MI_MATRIX, _MI_COMPRESSED = 14, 15
_MX_SPARSE = 5


def read_mat_variable(path: str | os.PathLike[str], name: str, spec: ArraySpec | None = None, *,
                      max_bytes: int) -> np.ndarray:
    """Variable ``name`` of the MATLAB v5 file ``path`` (needs scipy).

    The file's top-level elements are walked first: every declared size must fit the file,
    a compressed element is inflated to at most ``max_bytes`` (more is refused), and the
    sub-elements inside must fit what was inflated. Only then does scipy parse the
    checked, uncompressed bytes, so nothing it allocates can exceed them."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(max_bytes + _MAT_HEADER + 1)
    except OSError as e:
        raise ArrayFileError(f"cannot read {path}: {e.strerror or e}") from None
    if len(raw) > max_bytes + _MAT_HEADER:
        raise ArrayFileError(f"{path}: larger than the budget of {max_bytes:,} bytes")
    if len(raw) < _MAT_HEADER or raw[126:128] not in (b"IM", b"MI"):
        raise ArrayFileError(f"{path}: not a MATLAB v5 .mat file")
    order = "<" if raw[126:128] == b"IM" else ">"
    if struct.unpack_from(order + "H", raw, 124)[0] != 0x0100:
        raise ArrayFileError(f"{path}: not a MATLAB v5 .mat file (v7.3 files are HDF5: save with -v7)")
    plain = bytearray(raw[:_MAT_HEADER])
    for kind, body in _mat_elements(raw, _MAT_HEADER, order, str(path)):
        if kind == _MI_COMPRESSED:
            body = _inflate(body, max_bytes - (len(plain) - _MAT_HEADER), str(path))
            inner = list(_mat_elements(body, 0, order, str(path)))
            for inner_kind, inner_body in inner:
                if inner_kind == _MI_MATRIX:
                    _check_matrix(inner_body, order, str(path))
            plain += body
        else:
            if kind == _MI_MATRIX:
                _check_matrix(body, order, str(path))
            plain += struct.pack(order + "II", kind, len(body)) + body + bytes(-len(body) % 8)
    return _scipy_variable(bytes(plain), name, spec, max_bytes, path)


def _mat_elements(data: bytes | bytearray, pos: int, order: str, where: str) -> Any:
    """(type, body) of each tagged element from ``pos``; each declared size must fit ``data``."""
    while pos < len(data):
        if pos + 8 > len(data):
            raise ArrayFileError(f"{where}: truncated (an element tag is cut short)")
        kind, nbytes = struct.unpack_from(order + "II", data, pos)
        if kind >> 16:  # small data element: size and type packed in 4 bytes, data in the next 4
            yield kind & 0xFFFF, bytes(data[pos + 4:pos + 4 + (kind >> 16)])
            pos += 8
            continue
        end = pos + 8 + nbytes
        if end > len(data):
            raise ArrayFileError(f"{where}: an element declares {nbytes:,} bytes, only {len(data) - pos - 8:,} "
                                 "follow")
        yield kind, bytes(data[pos + 8:end])
        pos = end + (-nbytes % 8 if kind != _MI_COMPRESSED else 0)


def _check_matrix(body: bytes, order: str, where: str) -> None:
    """A matrix's sub-elements (flags, dimensions, name, data) must fit inside it, and so must
    its declared element count: scipy allocates cell and struct arrays from the dimensions."""
    parts = list(_mat_elements(body, 0, order, where))
    if len(parts) < 2 or len(parts[0][1]) < 4 or len(parts[1][1]) % 4:
        raise ArrayFileError(f"{where}: a matrix without flags or dimensions")
    mx_class = struct.unpack_from(order + "I", parts[0][1])[0] & 0xFF
    if mx_class == _MX_SPARSE:
        raise ArrayFileError(f"{where}: refused, it holds a sparse matrix")
    count = 1
    for n in struct.unpack(order + f"{len(parts[1][1]) // 4}i", parts[1][1]):
        if n < 0:
            raise ArrayFileError(f"{where}: a matrix with negative dimensions")
        count *= n
    if count > len(body):
        raise ArrayFileError(f"{where}: a matrix declares {count:,} elements in {len(body):,} bytes")


def _inflate(body: bytes, budget: int, where: str) -> bytes:
    """``body`` inflated, never to more than the budget nor MAX_INFLATION times its size."""
    limit = max(0, min(budget, MAX_INFLATION * len(body) + INFLATION_SLACK))
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as e:
        raise ArrayFileError(f"{where}: a compressed element is damaged ({e})") from None
    if len(out) > limit:
        raise ArrayFileError(f"{where}: a compressed element of {len(body):,} bytes inflates to more than "
                             f"{limit:,} (over the budget of {budget:,} bytes, or a zip bomb)")
    return out


def _scipy_variable(plain: bytes, name: str, spec: ArraySpec | None, max_bytes: int, path: Path) -> np.ndarray:
    import scipy.io

    try:
        variables = scipy.io.loadmat(io.BytesIO(plain), variable_names=[name])
    except Exception as e:  # scipy.io raises ValueError, TypeError, MatReadError...
        reason = str(e).splitlines()[0][:80] if str(e) else type(e).__name__
        raise ArrayFileError(f"cannot read {path}: {reason}") from None
    if name not in variables:
        raise ArrayFileError(f"{path}: has no variable '{name}'")
    value = np.asarray(variables[name])
    header = _NpyHeader(tuple(value.shape), value.dtype, False, 0)
    if value.dtype.hasobject:
        raise ArrayFileError(f"{path} [{name}]: refused, it holds MATLAB cells or structs")
    _check(header, spec, max_bytes, f"{path} [{name}]")
    return value
