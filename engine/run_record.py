"""``run.json``: what a run was and how it ended (format "tracker-app run 2").

Written when the run starts (``finished`` null, ``complete`` false, no summary) and
rewritten when it ends, whole (temp name + rename), by every front end alike:

    {"format": "tracker-app run 2", "app": "tracker-app track", "started": ..., "finished": ...,
     "source": {"description", "fps", "frame_size", "live", "frame_count"},
     "options": {"dense", "smoother", "smoother_delay_frames", "max_frames", "exports": {...}},
     "config": {"tracker": {...}, "smoother": {...}},
     "table": engine.table.table_schema(),
     "files": {...}, "complete": bool, "interrupted": bool, "error": str | null,
     "summary": engine.session.SessionSummary.to_dict()}

When the run ends, "source" also says how reading it ended (engine.video_source.SourceEnding):
``frames_announced`` and ``ended_early`` (a video whose header announced more frames than
it held: a wrong header or a file cut short, with the note in ``summary.warning``),
``skipped_inputs`` (an image folder's unreadable images, each with its reason) and, for an
image folder, ``frame_files`` (the file of every frame, by frame number).

A run killed before its end leaves the first version: ``complete`` false. A disk that
fills up during the run must not keep the final version out: ``start`` sets aside
``RESERVE_BYTES`` (plus twice the first version) in a hidden file that ``finish`` frees
just before it writes. Also: the check that refuses an output folder holding an earlier run.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from engine.atomic_files import write_atomic

RUN_FORMAT = "tracker-app run 2"
RUN_NAME = "run.json"
# Everything a run may write into its folder (files and sub-folders), for --overwrite.
RUN_FILES = (RUN_NAME, "faces.csv", "faces.npz", "overlay.avi", "depth.avi", "pncc.avi")
RUN_FOLDERS = ("frames", "meshes", "animation")
# Room set aside for the final run.json (summary, file list) on a disk that fills up.
# Named like a temporary file, so the next command's lock reclaims it after a kill
# (engine.out_lock.remove_stale_partials).
RESERVE_NAME = ".run.json.reserve.partial"
RESERVE_BYTES = 256 * 1024


class EarlierRunError(OSError):
    """The output folder holds an earlier run's files (one-line message)."""


def earlier_run_files(out_dir: Path) -> list[Path]:
    """The files and folders of an earlier run in ``out_dir``."""
    out_dir = Path(out_dir)
    return [out_dir / n for n in RUN_FILES + RUN_FOLDERS if (out_dir / n).exists()]


def prepare_out_dir(out_dir: Path, overwrite: bool) -> None:
    """Create ``out_dir``; refuse one holding an earlier run unless ``overwrite`` (then remove
    exactly those files and folders, nothing else)."""
    out_dir = Path(out_dir)
    earlier = earlier_run_files(out_dir) if out_dir.is_dir() else []
    if earlier and not overwrite:
        names = ", ".join(p.name for p in earlier[:4]) + (", ..." if len(earlier) > 4 else "")
        raise EarlierRunError(f"{out_dir} holds an earlier run ({names}); "
                              "use --overwrite to replace it, or another --out folder")
    try:
        for p in earlier:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OSError(f"cannot prepare {out_dir}: {e.strerror or e}") from None


class RunRecord:
    """run.json of one run: ``start`` once, ``finish`` once."""

    def __init__(self, out_dir: Path, description: dict[str, Any]) -> None:
        self.path = Path(out_dir) / RUN_NAME
        self._started = time.time()
        self._doc: dict[str, Any] = {"format": RUN_FORMAT, "started": _stamp(self._started), "finished": None,
                                     **description, "complete": False, "interrupted": False, "error": None,
                                     "summary": None}

    def start(self) -> None:
        size = self._write()
        self._reserve(RESERVE_BYTES + 2 * size)

    def finish(self, summary: dict[str, Any], files: list[str], source: dict[str, Any] | None = None) -> None:
        """The final version; ``source``: how reading the source ended (SourceEnding.to_dict)."""
        self._doc.update(finished=_stamp(time.time()), files=files, complete=bool(summary["complete"]),
                         interrupted=bool(summary["interrupted"]), error=summary["error"], summary=summary)
        if source:
            self._doc["source"] = {**self._doc.get("source", {}), **source}
        self._release_reserve()
        self._write()

    def _write(self) -> int:
        data = json.dumps(self._doc, indent=1, default=_json_default).encode("utf-8")
        write_atomic(self.path, data)
        return len(data)

    def _reserve(self, size: int) -> None:
        try:
            fd = os.open(self.path.with_name(RESERVE_NAME), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC,
                         0o644)
        except OSError:
            return  # no room even now: the run's first write will say so
        try:
            os.posix_fallocate(fd, 0, size)
        except OSError:
            pass
        finally:
            os.close(fd)

    def _release_reserve(self) -> None:
        try:
            os.unlink(self.path.with_name(RESERVE_NAME))
        except OSError:
            pass


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(t))


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"run.json cannot hold {type(o).__name__}")
