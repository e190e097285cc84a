"""Arrays derived from a model file, kept beside it so later starts read them instead of
computing them again (``ort_cache/`` does the same for onnxruntime's optimised graphs).

An entry is keyed by the source file (size, modification time), a name and the version
of the derivation, so a rebuilt model or a changed layout gets a new entry. Entries are
``.npz`` files read without pickle and within a byte budget (engine/array_files.py); one
that is damaged, declares more than the budget, or fails the caller's check of its
shapes, is computed again and replaced. A read-only weights folder means no cache,
nothing else.
"""
from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from engine.array_files import ArrayFileError, read_npz
from engine.atomic_files import atomic_open

CACHE_DIR = "derived_cache"  # next to the source file
# An entry declaring more than this is damaged (the packed basis is half its 25 MB source),
# and is computed again without being inflated.
ENTRY_BYTES_PER_SOURCE_BYTE = 2
ENTRY_BYTES_SLACK = 16 << 20

Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class DerivedCache:
    """Cached derivations of one ``source`` file."""

    source: Path

    def path(self, name: str, version: int) -> Path:
        stat = self.source.stat()
        identity = f"{name}|{version}|{stat.st_size}|{stat.st_mtime_ns}"
        key = hashlib.sha256(identity.encode()).hexdigest()[:16]
        return self.source.parent / CACHE_DIR / f"{self.source.stem}.{name}.{key}.npz"

    def max_entry_bytes(self) -> int:
        """What an entry may declare: arrays derived from a model are of its order of size."""
        try:
            return ENTRY_BYTES_PER_SOURCE_BYTE * self.source.stat().st_size + ENTRY_BYTES_SLACK
        except OSError:
            return ENTRY_BYTES_SLACK

    def get(self, name: str, version: int, compute: Callable[[], Arrays],
            valid: Callable[[Arrays], bool]) -> Arrays:
        """The arrays ``compute()`` returns: read from the cache when an entry passes ``valid``."""
        try:
            path = self.path(name, version)
        except OSError:  # the source vanished: nothing to key an entry on
            return compute()
        arrays = _read(path, self.max_entry_bytes())
        if arrays is not None and valid(arrays):
            return arrays
        arrays = compute()
        with contextlib.suppress(OSError):
            path.parent.mkdir(exist_ok=True)
            with atomic_open(path) as f:
                np.savez(f, allow_pickle=False, **arrays)
            for stale in path.parent.glob(f"{self.source.stem}.{name}.*.npz"):
                if stale != path:
                    stale.unlink(missing_ok=True)
        return arrays


def _read(path: Path, max_bytes: int) -> Arrays | None:
    try:
        return read_npz(path, max_bytes=max_bytes)
    except ArrayFileError:  # missing, damaged, holding objects, or declaring more than it may
        return None
