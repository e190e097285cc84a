"""``people.csv``: which person each track of a run is, written beside the per-frame table.

    track_id,person_id,first_frame,last_frame,rows,person_ids_in_table

One row per track that reached the outputs. ``person_id`` is the person the run ended
up giving the track (``engine.reid``), after every later merge: a face first seen in
profile and recognised a second later as someone seen before gets that person from
then on, but the table's rows already written keep the provisional ID. Such a track's
``person_ids_in_table`` lists every ID its rows carry, and ``person_id`` is the one to
use: this file is the run's final word on who is who.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.atomic_files import write_atomic
from engine.frames import FrameResult

PEOPLE_CSV = "people.csv"
COLUMNS = ("track_id", "person_id", "first_frame", "last_frame", "rows", "person_ids_in_table")


@dataclass
class _TrackRecord:
    person_id: int
    first_frame: int
    last_frame: int
    rows: int = 0
    persons: list[int] = field(default_factory=list)


class PeopleWriter:
    """ResultSink collecting the track -> person mapping; writes people.csv at ``close``."""

    def __init__(self, out_dir: Path, resolve_person: Callable[[int], int]) -> None:
        self.path = Path(out_dir) / PEOPLE_CSV
        self.resolve_person = resolve_person  # the tracker's final word on merged people
        self.paths: list[Path] = []
        self._tracks: dict[int, _TrackRecord] = {}
        self._closed = False

    def write(self, result: FrameResult) -> None:
        for tf in result.faces:
            record = self._tracks.get(tf.track_id)
            if record is None:
                record = self._tracks[tf.track_id] = _TrackRecord(tf.person_id, result.index, result.index)
            record.person_id, record.last_frame = tf.person_id, result.index
            record.rows += 1
            if tf.person_id not in record.persons:
                record.persons.append(tf.person_id)

    def mapping(self) -> dict[int, int]:
        """track_id -> person_id."""
        return {t: self.resolve_person(r.person_id) for t, r in self._tracks.items()}

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        lines = [",".join(COLUMNS)]
        final = self.mapping()
        for track_id, r in sorted(self._tracks.items()):
            lines.append(f"{track_id},{final[track_id]},{r.first_frame},{r.last_frame},{r.rows},"
                         + " ".join(str(p) for p in r.persons))
        try:
            write_atomic(self.path, ("\n".join(lines) + "\n").encode())
        except OSError as e:
            raise OSError(f"cannot write {self.path}: {e.strerror or e}") from None
        self.paths.append(self.path)
