"""The state of a batch on disk: one completion marker per input folder, an append-only
journal of finished inputs, and the dataset index compacted from it.

The marker (``DIR/<input>/batch_status.json``) is written last and atomically, once
the input's exports are closed and on disk: an input is done, or failed, exactly when
its marker says so. A folder without a marker is a partial run (killed, interrupted) and
is run again. An input that cannot even start (a missing path, an empty or unreadable
file) gets no folder: it is recorded as failed in the journal and the index only.

``DIR/journal.jsonl`` gets one JSON line per finished input, appended by the one
coordinator that holds the folder's lock (engine.out_lock), so its cost per input is
constant however large the batch; a resumed batch reads it once (a line cut short by
a kill is ignored: its input's marker is read instead). ``DIR/index.csv`` (and
``index.parquet`` when pyarrow is installed) is compacted from the outcomes at most
every few seconds and at the end, atomically, so it is never half written.
"""
from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from enum import Enum
from pathlib import Path
from typing import IO, Any

from engine.atomic_files import atomic_open, write_atomic

MARKER_NAME = "batch_status.json"
JOURNAL_NAME = "journal.jsonl"
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
    output: str  # folder name under the batch's DIR; empty for an input that got none (missing, unreadable)
    status: InputStatus
    frames: int = 0
    faces: int = 0  # faces over all frames (rows of faces.csv)
    tracks: int = 0
    people: int = 0  # distinct people after re-identification (run.json's summary.people)
    seconds: float = 0.0
    error: str = ""

    @property
    def finished(self) -> bool:
        """Done or failed: recorded with a marker and in the index."""
        return self.status is not InputStatus.INTERRUPTED

    def to_row(self) -> dict[str, str | int | float]:
        # By hand, not dataclasses.asdict: that deep-copies every field, the main cost of
        # writing the index of 100,000 inputs.
        return {"input": self.input, "output": self.output, "status": self.status.value, "frames": self.frames,
                "faces": self.faces, "tracks": self.tracks, "people": self.people, "seconds": self.seconds,
                "error": self.error}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> InputOutcome:
        """From an index.csv row (text) or a marker (JSON values); KeyError/ValueError when malformed.
        ``people`` may be missing: markers and journals written before it was a column resume as 0."""
        return cls(input=str(row["input"]), output=str(row["output"]), status=InputStatus(row["status"]),
                   frames=int(row["frames"]), faces=int(row["faces"]), tracks=int(row["tracks"]),
                   people=int(row.get("people") or 0), seconds=float(row["seconds"]),
                   error=str(row.get("error") or ""))


INDEX_COLUMNS = tuple(f.name for f in fields(InputOutcome))


def marker_path(folder: Path) -> Path:
    return folder / MARKER_NAME


def write_marker(folder: Path, outcome: InputOutcome) -> None:
    """Record a finished input; the last file written for it, on disk when this returns."""
    if not outcome.finished:
        raise ValueError(f"{outcome.input}: an interrupted input gets no marker")
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(marker_path(folder), json.dumps(outcome.to_row(), indent=1).encode("utf-8"))
    _fsync_dir(folder)  # the rename itself, so a power cut cannot undo the marker but keep the files


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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


# The journal is fsync'd at most this often (and when closed): a line per input
# flushed at once, synced in groups, so 100,000 quick failures do not cost 100,000 syncs.
JOURNAL_SYNC_SECONDS = 1.0


class Journal:
    """``DIR/journal.jsonl``, opened for appending by the batch's coordinator (one writer:
    it holds the folder's lock)."""

    def __init__(self, out_dir: Path) -> None:
        self.path = Path(out_dir) / JOURNAL_NAME
        try:
            self._file: IO[bytes] | None = open(self.path, "ab")
            if self._file.tell() and not _ends_with_newline(self.path):
                self._file.write(b"\n")  # a line cut short by a kill stays alone on its line
        except OSError as e:
            raise OSError(f"cannot write {self.path}: {e.strerror or e}") from None
        self._synced = time.monotonic()

    def append(self, outcome: InputOutcome) -> None:
        if not outcome.finished:
            raise ValueError(f"{outcome.input}: an interrupted input is not journaled")
        assert self._file is not None
        try:
            self._file.write(json.dumps(outcome.to_row(), separators=(",", ":")).encode("utf-8") + b"\n")
            self._file.flush()
            if time.monotonic() - self._synced >= JOURNAL_SYNC_SECONDS:
                self.sync()
        except OSError as e:
            raise OSError(f"cannot write {self.path}: {e.strerror or e}") from None

    def sync(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._synced = time.monotonic()

    def close(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            try:
                file.flush()
                os.fsync(file.fileno())
            finally:
                file.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def read_journal(out_dir: Path) -> tuple[dict[str, InputOutcome], int]:
    """The finished inputs the journal records, by input path (the last line of an input
    wins), in the order they were first recorded; and the number of lines read. One pass."""
    outcomes: dict[str, InputOutcome] = {}
    lines = 0
    try:
        f = open(Path(out_dir) / JOURNAL_NAME, "rb")
    except FileNotFoundError:
        return outcomes, 0
    except OSError as e:
        raise OSError(f"cannot read {Path(out_dir) / JOURNAL_NAME}: {e.strerror or e}") from None
    with f:
        for line in f:
            lines += 1
            try:
                outcome = InputOutcome.from_row(json.loads(line))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # cut short by a kill: that input's marker tells
            if outcome.finished:
                outcomes[outcome.input] = outcome
    return outcomes, lines


def rewrite_journal(out_dir: Path, outcomes: Sequence[InputOutcome]) -> None:
    """The journal with one line per input (atomically), after reruns added lines."""
    text = b"".join(json.dumps(o.to_row(), separators=(",", ":")).encode("utf-8") + b"\n" for o in outcomes)
    write_atomic(Path(out_dir) / JOURNAL_NAME, text)


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
    del rows
    try:
        with atomic_open(path, "wb") as f:
            pq.write_table(table, f)
    except OSError as e:
        raise OSError(f"cannot write {path}: {e.strerror or e}") from None
    return path
