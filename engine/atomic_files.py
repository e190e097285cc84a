"""Files written whole or not at all: a temporary name next to the target, then a rename.

A crash, a full disk or an exception mid-write leaves the previous file (or none),
never half a file. Every exporter of the project writes through here.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

import numpy as np


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path``; on success it replaces ``path``, on an
    exception it is deleted and ``path`` is left as it was."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; exports are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` whole; OSError with a one-line message on failure."""
    try:
        with atomic_open(path, "wb") as f:
            f.write(data)
    except OSError as e:
        raise OSError(f"cannot write {path}: {e.strerror or e}") from None


def write_image(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Encode ``image`` in the format its suffix names (.png, .jpg) and write it whole."""
    import cv2

    ok, data = cv2.imencode(Path(path).suffix, image)
    if not ok:
        raise OSError(f"cannot encode {path} as {Path(path).suffix}")
    write_atomic(path, data.tobytes())
