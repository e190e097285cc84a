"""Read legacy (pre-1.6, non-zip) PyTorch checkpoints into NumPy arrays, without torch.

The upstream 3DDFA_V2 weights are stored in the old ``torch.save`` format. Torch
is deliberately not a dependency of this project, so this module re-implements
just enough of ``torch.serialization._legacy_load`` to get the tensors out:

1. five pickles in a row: the magic number, the protocol version, a sys-info
   dict, the checkpoint object itself, and the list of storage keys;
2. inside the object pickle, tensors are ``torch._utils._rebuild_tensor_v2``
   calls whose first argument is a *persistent id*
   ``('storage', storage_type, key, location, numel, view_metadata)``;
3. after the key list, for each key: an 8-byte little-endian element count
   followed by the raw storage bytes.

Tensors are only views into storages that are read *after* the object pickle,
so unpickling builds placeholders that are materialised once all storages are in.
The unpickler only resolves a short allow-list of globals (the shared mechanism of
``engine.safe_pickle``), which also means a hostile file cannot run code at set-up
time. What a file may cost is bounded too: storages must be as long as the file
says (their bytes are in it), a tensor may not hold more elements than its storage
(a stride-0 tensor cannot expand 200 bytes into 37 GiB), all tensors together at
most ``MAX_TENSOR_BYTES_PER_FILE_BYTE`` times the file size, and nesting deeper than
``engine.safe_pickle.MAX_DEPTH`` is refused in one line instead of a RecursionError.
"""
from __future__ import annotations

import collections
import io
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterator

import numpy as np

from engine.brief import brief
from engine.safe_pickle import DataOnlyUnpickler, RestrictedUnpickler, check_depth

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
ZIP_SIGNATURE = b"PK\x03\x04"
_MAGIC_PICKLE = pickle.dumps(MAGIC_NUMBER, protocol=2)  # how torch.save wrote it
STORAGE_COUNT_BYTES = 8  # int64 element count written before each storage's data

# torch.<Name>Storage -> element type of its raw data.
STORAGE_DTYPES: dict[str, np.dtype] = {
    "DoubleStorage": np.dtype(np.float64),
    "FloatStorage": np.dtype(np.float32),
    "HalfStorage": np.dtype(np.float16),
    "LongStorage": np.dtype(np.int64),
    "IntStorage": np.dtype(np.int32),
    "ShortStorage": np.dtype(np.int16),
    "CharStorage": np.dtype(np.int8),
    "ByteStorage": np.dtype(np.uint8),
    "BoolStorage": np.dtype(np.bool_),
}

# Tensors share storages (views), so their copies may exceed the file a little; 2x the
# file plus 1 MiB covers any real checkpoint and keeps a hostile one near its own size.
MAX_TENSOR_BYTES_PER_FILE_BYTE = 2
MAX_TENSOR_BYTES_SLACK = 1 << 20
MAX_TENSOR_DIMS = 32  # NumPy's own limit is 64; checkpoints use <= 4

DROPPED_KEY_SUFFIXES = ("num_batches_tracked",)
DATA_PARALLEL_PREFIX = "module."


@dataclass(frozen=True)
class _StorageType:
    """Stand-in for a ``torch.*Storage`` class named in the pickle."""

    name: str
    dtype: np.dtype


@dataclass(frozen=True)
class _StorageRef:
    """A persistent-id storage reference; its data arrives after the object pickle."""

    root_key: str
    dtype: np.dtype
    numel: int
    view_offset: int = 0  # elements; only non-zero for old-style storage views
    view_numel: int | None = None


@dataclass(frozen=True)
class _TensorRef:
    """A tensor waiting for its storage: ``storage[offset]`` with the given size/stride."""

    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage: _StorageRef, storage_offset: int, size: tuple[int, ...],
                    stride: tuple[int, ...]) -> _TensorRef:
    if not isinstance(storage, _StorageRef):
        raise pickle.UnpicklingError("tensor without a storage")
    return _TensorRef(storage, int(storage_offset), tuple(int(s) for s in size), tuple(int(s) for s in stride))


def _rebuild_tensor_v2(storage: _StorageRef, storage_offset: int, size: tuple[int, ...], stride: tuple[int, ...],
                       requires_grad: bool = False, backward_hooks: Any = None,
                       metadata: Any = None) -> _TensorRef:
    return _rebuild_tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data: _TensorRef, requires_grad: bool = False, backward_hooks: Any = None) -> _TensorRef:
    return data


_PlainUnpickler = DataOnlyUnpickler  # the header and key-list pickles: no globals at all


class _LegacyUnpickler(RestrictedUnpickler):
    """Resolves only the globals a state-dict checkpoint needs; everything else is refused."""

    allowed: ClassVar[Mapping[tuple[str, str], Any]] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        **{("torch", name): _StorageType(name, dtype) for name, dtype in STORAGE_DTYPES.items()},
    }

    def persistent_load(self, pid: Any) -> _StorageRef:
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {brief(pid, 80)}")
        _, storage_type, root_key, _location, numel, view_metadata = pid
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError("persistent id without a storage type")
        if not isinstance(root_key, (str, int)):  # str() of anything else may cost any amount
            raise pickle.UnpicklingError(f"persistent id with a storage key of type {type(root_key).__name__}")
        if view_metadata is None:
            return _StorageRef(str(root_key), storage_type.dtype, int(numel))
        _view_key, view_offset, view_numel = view_metadata
        return _StorageRef(str(root_key), storage_type.dtype, int(numel), int(view_offset), int(view_numel))


def load_legacy_state_dict(path: Path) -> dict[str, np.ndarray]:
    """Return the state dict of a legacy ``torch.save`` file as contiguous NumPy arrays.

    Accepts a checkpoint dict holding ``state_dict`` or a plain state dict. Strips
    the ``module.`` prefix that ``nn.DataParallel`` adds and drops the BN
    ``num_batches_tracked`` counters (they carry no inference information).
    Raises ValueError with a one-line message naming ``path`` for anything else.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror}") from None
    if data.startswith(ZIP_SIGNATURE):
        raise ValueError(f"{path} is a zip-format (PyTorch >= 1.6) checkpoint, not a legacy one")
    if not data:
        raise ValueError(f"{path} is empty")
    stream = io.BytesIO(data)
    little_endian = _read_header(stream, path)
    obj = _unpickle(stream, path, "the pickled object", _LegacyUnpickler)
    check_depth(obj, str(path))  # the walks below recurse
    keys = _unpickle(stream, path, "the storage key list", _PlainUnpickler)
    if not isinstance(keys, list) or not all(isinstance(k, (str, int)) for k in keys):
        raise ValueError(f"{path} is not a legacy PyTorch checkpoint (no storage key list)")
    storages = _read_storages(data, stream.tell(), keys, _collect_storage_refs(obj), little_endian, path)
    _check_tensor_bytes(obj, len(data), path)
    return _to_state_dict(_materialise(obj, storages, path), path)


def _read_header(stream: io.BytesIO, path: Path) -> bool:
    """Check magic number and protocol version; return whether the data is little-endian."""
    try:
        magic = _PlainUnpickler(stream).load()
    except Exception:  # pickle raises many unrelated types on garbage
        magic = None
    if magic != MAGIC_NUMBER:
        if _MAGIC_PICKLE.startswith(stream.getvalue()):
            raise ValueError(f"{path} is truncated (ends inside the header)")
        raise ValueError(f"{path} is not a legacy PyTorch checkpoint (no torch.save magic number)")
    version = _unpickle(stream, path, "the header", _PlainUnpickler)
    sys_info = _unpickle(stream, path, "the header", _PlainUnpickler)
    if version != PROTOCOL_VERSION:
        raise ValueError(f"{path} has unsupported legacy protocol version {brief(version)}")
    if not isinstance(sys_info, dict):
        raise ValueError(f"{path} is not a legacy PyTorch checkpoint (no sys info)")
    return bool(sys_info.get("little_endian", True))


def _unpickle(stream: io.BytesIO, path: Path, what: str, unpickler: type[pickle.Unpickler]) -> Any:
    """Load the next pickle; a failure that consumed the whole file means it was cut short."""
    try:
        return unpickler(stream).load()
    except Exception as e:  # pickle raises many unrelated types on garbage
        if isinstance(e, EOFError) or stream.tell() >= stream.seek(0, io.SEEK_END):
            raise ValueError(f"{path} is truncated (ends inside {what})") from None
        raise ValueError(f"{path} is corrupt or not a legacy PyTorch checkpoint "
                         f"({what} is unreadable: {type(e).__name__}: {e})") from None


def _check_tensor_bytes(obj: Any, file_bytes: int, path: Path) -> None:
    """Refuse tensors whose copies would cost far more memory than the file holds."""
    budget = MAX_TENSOR_BYTES_PER_FILE_BYTE * file_bytes + MAX_TENSOR_BYTES_SLACK
    total = 0
    for t in _iter_tensor_refs(obj):
        if len(t.size) > MAX_TENSOR_DIMS:
            raise ValueError(f"{path} is corrupt (tensor with {len(t.size)} dimensions)")
        numel = 1
        for n in t.size:
            numel *= max(n, 0)
        ref = t.storage
        view_numel = ref.numel - ref.view_offset if ref.view_numel is None else ref.view_numel
        if numel > max(view_numel, 0):
            raise ValueError(f"{path} is corrupt (a tensor of {numel} elements on a storage of {view_numel})")
        total += numel * ref.dtype.itemsize
        if total > budget:
            raise ValueError(f"{path} is corrupt (its tensors would take {total} bytes, "
                             f"more than {MAX_TENSOR_BYTES_PER_FILE_BYTE}x the file)")


def _collect_storage_refs(obj: Any) -> dict[str, _StorageRef]:
    """Map root key -> storage reference for every tensor found in ``obj``."""
    refs: dict[str, _StorageRef] = {}
    for tensor in _iter_tensor_refs(obj):
        refs.setdefault(tensor.storage.root_key, tensor.storage)
    return refs


def _iter_tensor_refs(obj: Any) -> Iterator[_TensorRef]:
    if isinstance(obj, _TensorRef):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _iter_tensor_refs(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _iter_tensor_refs(v)


def _read_storages(buffer: bytes, pos: int, keys: list[str], refs: dict[str, _StorageRef],
                   little_endian: bool, path: Path) -> dict[str, np.ndarray]:
    """Read each storage's count + raw bytes (from ``buffer[pos:]``), in key-list order."""
    storages: dict[str, np.ndarray] = {}
    for key in keys:
        key = str(key)
        if key not in refs:
            raise ValueError(f"{path} is corrupt (storage {key} is listed but never used)")
        ref = refs[key]
        if pos + STORAGE_COUNT_BYTES > len(buffer):
            raise ValueError(f"{path} is truncated (storage {key} missing)")
        count = int.from_bytes(buffer[pos:pos + STORAGE_COUNT_BYTES], "little" if little_endian else "big")
        pos += STORAGE_COUNT_BYTES
        if count != ref.numel:
            raise ValueError(f"{path} is corrupt (storage {key} has {count} elements, expected {ref.numel})")
        dtype = ref.dtype.newbyteorder("<" if little_endian else ">")
        nbytes = count * dtype.itemsize
        if pos + nbytes > len(buffer):
            raise ValueError(f"{path} is truncated (storage {key} is incomplete)")
        storages[key] = np.frombuffer(buffer, dtype=dtype, count=count, offset=pos).astype(ref.dtype)
        pos += nbytes
    missing = refs.keys() - storages.keys()
    if missing:
        raise ValueError(f"{path} is corrupt (no data for storage {sorted(missing)[0]})")
    return storages


def _materialise(obj: Any, storages: dict[str, np.ndarray], path: Path) -> Any:
    """Replace every tensor placeholder in ``obj`` by a contiguous array."""
    if isinstance(obj, _TensorRef):
        return _tensor_array(obj, storages[obj.storage.root_key], path)
    if isinstance(obj, dict):
        return type(obj)((k, _materialise(v, storages, path)) for k, v in obj.items())
    if isinstance(obj, list):
        return [_materialise(v, storages, path) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_materialise(v, storages, path) for v in obj)
    return obj


def _tensor_array(t: _TensorRef, storage: np.ndarray, path: Path) -> np.ndarray:
    """``storage`` viewed with the tensor's offset, size and stride, copied to contiguous."""
    ref = t.storage
    view_numel = ref.numel - ref.view_offset if ref.view_numel is None else ref.view_numel
    base = storage[ref.view_offset:ref.view_offset + view_numel]
    if len(t.size) != len(t.stride) or any(s < 0 for s in t.size + t.stride) or t.offset < 0:
        raise ValueError(f"{path} is corrupt (bad tensor geometry {t.size}/{t.stride})")
    if 0 in t.size:
        return np.zeros(t.size, dtype=storage.dtype)
    last = t.offset + sum((n - 1) * s for n, s in zip(t.size, t.stride))
    if last >= len(base):
        raise ValueError(f"{path} is corrupt (tensor reaches past the end of its storage)")
    view = np.lib.stride_tricks.as_strided(
        base[t.offset:], shape=t.size, strides=[s * base.itemsize for s in t.stride], writeable=False)
    return np.array(view, order="C")  # a fresh contiguous copy that owns its data


def _to_state_dict(obj: Any, path: Path) -> dict[str, np.ndarray]:
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj:
        raise ValueError(f"{path} holds no state dict")
    state: dict[str, np.ndarray] = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, np.ndarray):
            raise ValueError(f"{path} holds no state dict (entry {brief(key, 60)} is not a tensor)")
        if key.endswith(DROPPED_KEY_SUFFIXES):
            continue
        state[key.removeprefix(DATA_PARALLEL_PREFIX)] = value
    return state
