"""Read pickles that can hold only data: NumPy arrays, dicts, lists and plain values.

``pickle.load`` calls whatever global a file names (``os.system``, ``builtins.eval``),
so a hostile file runs code the moment it is read. Every pickle this project reads
goes through ``RestrictedUnpickler``: a global is resolved only when it is on the
unpickler's allow-list, anything else is refused before it can be called. The base
list holds the three globals a NumPy array needs (``numpy.core.multiarray._reconstruct``,
``numpy.ndarray``, ``numpy.dtype``), ``numpy...scalar`` for NumPy scalars,
``numpy...numeric._frombuffer`` (protocol 5 arrays) and ``_codecs.encode``
(protocol 2 writes bytes that way), each wrapped so that it can
only build plain numeric arrays and bytes:

* ``numpy.ndarray`` resolves to a marker, not the class, so it cannot be called;
* ``_reconstruct`` only makes the empty array that ``BUILD`` then fills from bytes,
  checked by NumPy against the declared shape (no allocation beyond the file's data);
* dtypes holding Python objects are refused (their ``BUILD`` would take pickled objects).

Subclasses (the legacy PyTorch reader) extend the allow-list with their own globals.
Containers nested deeper than ``MAX_DEPTH``, or sharing one another so that the data
stands for more than ``MAX_VALUES`` values, are refused too: walking them would
otherwise end in a ``RecursionError`` traceback or take minutes and gigabytes.
"""
from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from engine.brief import brief

# Nesting beyond this is not data any of our files hold (they are 1-3 levels deep).
MAX_DEPTH = 100
# Values (containers and what they hold, arrays counting one) a pickle may stand for when
# read as a tree; upstream's largest, a checkpoint's state dict, holds a few hundred.
MAX_VALUES = 1_000_000


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global that is not on the allow-list, or holds objects."""


class _NdarrayMarker:
    """Stands for ``numpy.ndarray`` inside a pickle; only ``_reconstruct`` accepts it."""


_NDARRAY = _NdarrayMarker()


def _plain_dtype(obj: Any, align: bool = False, copy: bool = False) -> np.dtype[Any]:
    dtype: np.dtype[Any] = np.dtype(obj, align=bool(align), copy=bool(copy))
    if dtype.hasobject:
        raise UnsafePickleError(f"refused dtype {dtype} (holds Python objects)")
    return dtype


def _reconstruct(cls: Any, shape: Any, dtype: Any) -> np.ndarray[Any, Any]:
    """numpy's ``_reconstruct``, for the empty plain ndarray that ``BUILD`` fills."""
    if cls is not _NDARRAY:
        raise UnsafePickleError("refused array subclass")
    if not isinstance(dtype, (bytes, str, np.dtype)):
        raise UnsafePickleError("refused array of a non-plain dtype")
    dims = shape if isinstance(shape, tuple) else (shape,)
    if not all(isinstance(d, int) for d in dims) or int(np.prod(dims)) != 0:
        raise UnsafePickleError(f"refused array placeholder of shape {brief(shape)}")  # numpy writes (0,)
    return np.ndarray.__new__(np.ndarray, dims, _plain_dtype(dtype))


def _scalar(dtype: Any, data: Any = None) -> Any:
    """A NumPy scalar from its dtype and raw bytes."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, bytes):
        raise UnsafePickleError("refused NumPy scalar that is not plain bytes")
    if len(data) != dtype.itemsize:
        raise UnsafePickleError("NumPy scalar of the wrong size")
    return np.frombuffer(data, dtype=dtype)[0]


def _frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray[Any, Any]:
    """numpy's ``_frombuffer``: protocol 5 pickles arrays as (bytes, dtype, shape, order)."""
    if not isinstance(buffer, (bytes, bytearray)) or order not in ("C", "F"):
        raise UnsafePickleError("refused _frombuffer of a non-bytes buffer")
    array = np.frombuffer(buffer, dtype=_plain_dtype(dtype))
    try:
        return array.reshape(shape, order=order)
    except (TypeError, ValueError):
        raise UnsafePickleError(f"_frombuffer shape {brief(shape)} does not fit its bytes") from None


def _latin1_bytes(text: Any, encoding: Any = "latin1") -> bytes:
    """``_codecs.encode(str, 'latin1')``: how protocol-2 pickles of Python 3 spell ``bytes``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError("refused _codecs.encode other than str -> latin1 bytes")
    return text.encode("latin1")


NUMPY_GLOBALS: Mapping[tuple[str, str], Any] = {
    **{(module, "_reconstruct"): _reconstruct for module in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(module, "scalar"): _scalar for module in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(module, "_frombuffer"): _frombuffer for module in ("numpy.core.numeric", "numpy._core.numeric")},
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _plain_dtype,
    ("_codecs", "encode"): _latin1_bytes,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals in ``allowed`` (NumPy arrays by default)."""

    allowed: ClassVar[Mapping[tuple[str, str], Any]] = NUMPY_GLOBALS

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(f"refused global {module}.{name}") from None


class DataOnlyUnpickler(RestrictedUnpickler):
    """Plain values, lists, tuples and dicts only: no global at all."""

    allowed: ClassVar[Mapping[tuple[str, str], Any]] = {}


def check_depth(obj: Any, what: str, limit: int = MAX_DEPTH, max_values: int = MAX_VALUES) -> None:
    """Raise ValueError when dicts/lists/tuples in ``obj`` nest deeper than ``limit``, refer to
    themselves, or stand for more than ``max_values`` values when read as a tree; also refuse
    arrays that hold Python objects.

    A pickle's memo lets one container be referred to many times: 274 bytes can describe
    10^10 values ("pickle laughs") that every later walk of the data would visit one by one.
    This walk visits each container once (memoised by id), computes its height and its size
    as a tree bottom-up, iteratively, so neither deep nor shared data can cost more than
    the file that described it.
    """
    height: dict[int, int] = {}   # id -> levels of containers at and below it
    size: dict[int, int] = {}     # id -> values in it, shared ones counted each time
    keep: list[Any] = []          # keeps every id valid while the walk runs
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(obj, False)]
    while stack:
        item, children_done = stack.pop()
        if isinstance(item, np.ndarray) and item.dtype.hasobject:
            raise ValueError(f"{what} holds an array of Python objects")
        if not isinstance(item, (dict, list, tuple)):
            continue
        key = id(item)
        children = list(item.keys()) + list(item.values()) if isinstance(item, dict) else list(item)
        if children_done:
            on_path.discard(key)
            inner = [c for c in children if isinstance(c, (dict, list, tuple))]
            height[key] = 1 + max((height[id(c)] for c in inner), default=0)
            size[key] = 1 + len(children) - len(inner) + sum(size[id(c)] for c in inner)
            if height[key] > limit:  # a shared container met first nearer the top
                raise ValueError(f"{what} nests containers more than {limit} levels deep")
            if size[key] > max_values:
                raise ValueError(f"{what} stands for more than {max_values} values (shared containers "
                                 "repeated)")
            continue
        if key in height:
            continue
        if key in on_path:
            raise ValueError(f"{what} holds a container that contains itself")
        if len(on_path) >= limit:
            raise ValueError(f"{what} nests containers more than {limit} levels deep")
        on_path.add(key)
        keep.append(item)
        stack.append((item, True))
        stack.extend((child, False) for child in children)


def load_pickle_file(path: Path) -> Any:
    """The data in the pickle file ``path``, read with the restricted NumPy unpickler.

    latin1 also opens Python-2 pickles (upstream's files). Raises ``FileNotFoundError``
    for a missing file and ``ValueError`` with one line naming ``path`` for a refused,
    damaged or too deeply nested pickle.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing pickle file: {path}")
    with open(path, "rb") as f:
        try:
            obj = RestrictedUnpickler(f, encoding="latin1").load()
        except UnsafePickleError as e:
            raise ValueError(f"{path} is refused: {e} (pickles here may hold only data)") from None
        except RecursionError:
            raise ValueError(f"{path} nests data too deeply") from None
        except Exception as e:  # unpickling raises many unrelated types on a damaged file
            raise ValueError(f"cannot unpickle {path}: {type(e).__name__}: {e}") from None
    check_depth(obj, str(path))
    return obj
