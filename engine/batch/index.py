"""The state of a batch on disk: one completion marker per input folder, and the
dataset index built from them.

The marker (``DIR/<input>/batch_status.json``) is written last and atomically, once
the input's exports are closed: an input is done, or failed, exactly when its marker
says so. A folder without a marker is a partial run (killed, interrupted) and is run
again. ``DIR/index.csv`` (and ``index.parquet`` when pyarrow is installed) is rebuilt
from the outcomes after every input, also atomically, so it is never half written.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from enum import Enum
from pathlib import Path
from typing import Any

from engine.atomic_files import atomic_open, write_atomic

MARKER_NAME = "batch_status.json"
INDEX_CSV = "index.csv"
INDEX_PARQUET = "index.parquet"


class InputStatus(str, Enum):
    DONE = "done"  # read to the end, every export closed
    FAILED = "failed"  # a bad or vanished input, or a task that kept failing; see error
    INTERRUPTED = "interrupted"  # stopped by the user: no marker, run again next time


@dataclass(frozen=True)
class InputOutcome:
    """One row of the index: what running one input gave."""

    input: str
    output: str  # folder name under the batch's DIR
    status: InputStatus
    frames: int = 0
    faces: int = 0  # faces over all frames (rows of faces.csv)
    tracks: int = 0
    seconds: float = 0.0
    error: str = ""

    @property
    def finished(self) -> bool:
        """Done or failed: recorded with a marker and in the index."""
        return self.status is not InputStatus.INTERRUPTED

    def to_row(self) -> dict[str, str | int | float]:
        row = asdict(self)
        row["status"] = self.status.value
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> InputOutcome:
        """From an index.csv row (text) or a marker (JSON values); KeyError/ValueError when malformed."""
        return cls(input=str(row["input"]), output=str(row["output"]), status=InputStatus(row["status"]),
                   frames=int(row["frames"]), faces=int(row["faces"]), tracks=int(row["tracks"]),
                   seconds=float(row["seconds"]), error=str(row.get("error") or ""))


INDEX_COLUMNS = tuple(f.name for f in fields(InputOutcome))


def marker_path(folder: Path) -> Path:
    return folder / MARKER_NAME


def write_marker(folder: Path, outcome: InputOutcome) -> None:
    """Record a finished input; the last file written for it."""
    if not outcome.finished:
        raise ValueError(f"{outcome.input}: an interrupted input gets no marker")
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(marker_path(folder), json.dumps(outcome.to_row(), indent=1).encode("utf-8"))


def read_marker(folder: Path, source: str) -> InputOutcome | None:
    """The recorded outcome for ``source``, or None: no marker (never run, or partial),
    or a marker that is unreadable or belongs to another input."""
    try:
        row = json.loads(marker_path(folder).read_text(encoding="utf-8"))
        outcome = InputOutcome.from_row(row)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if outcome.input != source or not outcome.finished:
        return None
    return outcome


def write_index(out_dir: Path, outcomes: Sequence[InputOutcome]) -> list[Path]:
    """``index.csv`` (and ``index.parquet`` when pyarrow is there), each written whole."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=INDEX_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for outcome in outcomes:
        writer.writerow(outcome.to_row())
    csv_path = out_dir / INDEX_CSV
    write_atomic(csv_path, text.getvalue().encode("utf-8"))
    written = [csv_path]
    parquet = _write_parquet(out_dir / INDEX_PARQUET, outcomes)
    return written + ([parquet] if parquet else [])


def read_index(path: Path) -> list[InputOutcome]:
    """The rows of an ``index.csv``."""
    with open(path, newline="", encoding="utf-8") as f:
        return [InputOutcome.from_row(row) for row in csv.DictReader(f)]


def _write_parquet(path: Path, outcomes: Sequence[InputOutcome]) -> Path | None:
    """The index as Parquet; None without pyarrow (optional: the CSV is always written)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return None
    rows = [o.to_row() for o in outcomes]
    table = pa.table({name: [row[name] for row in rows] for name in INDEX_COLUMNS})
    try:
        with atomic_open(path, "wb") as f:
            pq.write_table(table, f)
    except OSError as e:
        raise OSError(f"cannot write {path}: {e.strerror or e}") from None
    return path
