"""One command at a time in an output folder.

Every command that writes into a folder (``track`` / a recording through
``engine.session.Session``, the coordinator of ``batch`` on its dataset folder, a batch
task on its input's folder) holds an exclusive ``flock`` on ``DIR/.tracker-app.lock``
for as long as it writes there. A second command on the same folder refuses in one
line (``OutDirBusyError``), or waits for the first when asked to (``wait=True``). The
kernel drops the lock when the holder ends, however it ends (SIGKILL included), so a
stale lock never blocks anyone; the lock file itself stays (removing it would let a
waiter lock a file nobody else sees).

Taking the lock is also the moment to reclaim what a killed holder left: temporary
``.NAME.XXXX.partial`` files (atomic writes, the animation's point caches) in the
folder and in its export sub-folders are removed, since nobody else can be writing them.

Within one process the lock is re-entrant (a batch task holds its input's folder while
the session inside it opens the same folder): nested holds share one file descriptor.
"""
from __future__ import annotations

import errno
import fcntl
import os
import threading
from pathlib import Path

from engine.errors import TrackerError

LOCK_NAME = ".tracker-app.lock"
PARTIAL_SUFFIX = ".partial"
# Sub-folders where a run writes through temporary files (engine.run_record.RUN_FOLDERS).
_PARTIAL_FOLDERS = ("", "frames", "meshes", "animation")


class OutDirBusyError(TrackerError, OSError):
    """Another command writes into the output folder (one-line message)."""


_held: dict[str, list[int]] = {}  # real path -> [fd, holds] of the locks this process holds
_held_lock = threading.Lock()


class OutDirLock:
    """A hold on one folder's lock; ``release`` once (also as a context manager)."""

    def __init__(self, key: str) -> None:
        self._key: str | None = key

    def release(self) -> None:
        key, self._key = self._key, None
        if key is None:
            return
        with _held_lock:
            entry = _held[key]
            entry[1] -= 1
            if entry[1] == 0:
                del _held[key]
                os.close(entry[0])  # closing the descriptor drops the flock

    def __enter__(self) -> OutDirLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_out_dir(out_dir: str | os.PathLike[str], *, wait: bool = False) -> OutDirLock:
    """Create ``out_dir`` if needed and hold its lock; ``OutDirBusyError`` when another
    command holds it (or, with ``wait``, block until it is free)."""
    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OSError(f"cannot prepare {folder}: {e.strerror or e}") from None
    key = os.path.realpath(folder)
    with _held_lock:
        if key in _held:
            _held[key][1] += 1
            return OutDirLock(key)
    path = folder / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise OSError(f"cannot lock {folder}: {e.strerror or e}") from None
    try:
        _flock(fd, folder, wait)
        os.ftruncate(fd, 0)  # who holds it, for the message of a command that finds it busy
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    except BaseException:
        os.close(fd)
        raise
    with _held_lock:
        _held[key] = [fd, 1]
    remove_stale_partials(folder)
    return OutDirLock(key)


def _flock(fd: int, folder: Path, wait: bool) -> None:
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            return
        except InterruptedError:
            continue
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise OSError(f"cannot lock {folder}: {e.strerror or e}") from None
            holder = _holder(fd)
            raise OutDirBusyError(f"{folder} is in use by another tracker-app command{holder}; "
                                  "wait for it to end (or pass --wait), or use another --out folder") from None


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f" (process {text})" if text.isdigit() else ""


def remove_stale_partials(folder: Path) -> list[Path]:
    """Remove the temporary files a killed run left in ``folder`` and its export sub-folders."""
    removed = []
    for sub in _PARTIAL_FOLDERS:
        try:
            entries = list(os.scandir(folder / sub))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(".") and entry.name.endswith(PARTIAL_SUFFIX) and entry.is_file(
                    follow_symlinks=False):
                try:
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
                except OSError:
                    pass
    return removed
