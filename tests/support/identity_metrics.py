"""Identity figures of a `track` run, from its faces.csv (and run.json), without the engine.

    rows = read_faces(out / "faces.csv")              # seen faces only (success 1)
    figures = identity_figures(rows, cuts=read_cuts(out / "run.json") or [41, 96])
    figures.ids, figures.short_tracks, len(figures.switches), figures.face_frames
    ids_of_truth(rows, {"A": {0: (x1, y1, x2, y2), ...}})   # per ground-truth person, the IDs it got

The definitions are issue 19's, so the bench and the tests print the same numbers:

* **IDs**: distinct ``person_id`` (the column the tracker rewrite adds); a table
  without that column is scored on ``track_id``, which is today's person.
* **tracks shorter than 5 frames**: ``track_id`` values with rows on fewer than
  ``SHORT_TRACK`` frames. Rows, not the span from first to last row: a track that
  coasts has no row on the frames it was not seen, and a track kept alive over a
  long gap is not short.
* **switches inside shots**: a face whose box overlaps a face of the previous frame
  with IoU in ``SWITCH_IOU`` but carries another ID (``person_id``, else
  ``track_id``). A face on a cut frame (the first frame of a shot) is not compared
  with the frame before. The IoU range is the issue's, kept as is so the figures
  compare with the ones it quotes; one switch per face however many it overlaps.
* **face-frames**: rows with ``success`` 1.

Reads with ``csv`` and ``json`` only, so a table from any build can be scored.
"""
from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

SHORT_TRACK = 5  # frames; a track with fewer rows is "short"
SWITCH_IOU = (0.6, 0.93)  # IoU with a face of the previous frame that makes a changed ID a switch
TRUTH_IOU = 0.4  # a table face belongs to a ground-truth box it overlaps at least this much

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in image pixels


@dataclass(frozen=True)
class FaceRow:
    frame: int
    track_id: int
    person_id: int  # the table's person_id, or track_id when it has none
    box: Box


@dataclass(frozen=True)
class Switch:
    frame: int
    person_id: int  # the face's ID on ``frame``
    previous_id: int  # the ID of the face it overlaps on the frame before
    iou: float


@dataclass
class IdentityFigures:
    ids: int
    short_tracks: int
    switches: list[Switch] = field(default_factory=list)
    face_frames: int = 0

    def line(self) -> str:
        return (f"{self.ids} IDs, {self.short_tracks} tracks < {SHORT_TRACK} frames, "
                f"{len(self.switches)} switches in shots (frames {[s.frame for s in self.switches]}), "
                f"{self.face_frames} face-frames")


def read_faces(path: Path) -> list[FaceRow]:
    """The seen faces (``success`` 1) of a faces.csv, in file order."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        has_person = "person_id" in (reader.fieldnames or ())
        rows = []
        for r in reader:
            if r["success"] != "1":
                continue
            track = int(r["track_id"])
            rows.append(FaceRow(frame=int(r["frame"]), track_id=track,
                                person_id=int(r["person_id"]) if has_person else track,
                                box=(float(r["box_x1"]), float(r["box_y1"]), float(r["box_x2"]), float(r["box_y2"]))))
    return rows


def read_run(path: Path) -> dict:
    with open(path) as f:
        return json.load(f)


def read_cuts(path: Path) -> list[int]:
    """The frames run.json's summary says start a new shot (``summary.cut_frames``)."""
    return [int(c) for c in read_run(path)["summary"]["cut_frames"]]


@dataclass(frozen=True)
class EmbeddingCost:
    calls: int
    ms: float


def read_embedding_cost(path: Path) -> EmbeddingCost:
    """Faces embedded for re-identification and the model time they took (run.json's summary)."""
    summary = read_run(path)["summary"]
    return EmbeddingCost(calls=int(summary["embeddings"]), ms=float(summary["embedding_ms"]))


def iou(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, w) * max(0.0, h)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def by_frame(rows: Iterable[FaceRow]) -> dict[int, list[FaceRow]]:
    out: dict[int, list[FaceRow]] = defaultdict(list)
    for r in rows:
        out[r.frame].append(r)
    return out


def find_switches(rows: list[FaceRow], cuts: Iterable[int] = ()) -> list[Switch]:
    """Faces that overlap a face of the previous frame (IoU in SWITCH_IOU) under another ID."""
    frames = by_frame(rows)
    cut_set = set(cuts)
    lo, hi = SWITCH_IOU
    switches = []
    for frame in sorted(frames):
        if frame in cut_set:
            continue
        for face in frames[frame]:
            for before in frames.get(frame - 1, ()):
                overlap = iou(face.box, before.box)
                if lo <= overlap <= hi and before.person_id != face.person_id:
                    switches.append(Switch(frame, face.person_id, before.person_id, overlap))
                    break  # one switch per face, however many faces it overlaps
    return switches


def identity_figures(rows: list[FaceRow], cuts: Iterable[int] = ()) -> IdentityFigures:
    track_rows = Counter(r.track_id for r in rows)
    return IdentityFigures(ids=len({r.person_id for r in rows}),
                           short_tracks=sum(1 for n in track_rows.values() if n < SHORT_TRACK),
                           switches=find_switches(rows, cuts), face_frames=len(rows))


def match_truth(rows: list[FaceRow], truth: Mapping[int, Box]) -> dict[int, FaceRow | None]:
    """Per frame of one ground-truth person (frame -> box), the table face on it (best IoU >= TRUTH_IOU)."""
    frames = by_frame(rows)
    out: dict[int, FaceRow | None] = {}
    for frame, box in truth.items():
        best = max(frames.get(frame, ()), key=lambda r: iou(r.box, box), default=None)
        out[frame] = best if best is not None and iou(best.box, box) >= TRUTH_IOU else None
    return out


def ids_of_truth(rows: list[FaceRow], truth: Mapping[str, Mapping[int, Box]]) -> dict[str, list[int]]:
    """Per ground-truth person, the IDs its faces got, in order of first use."""
    out: dict[str, list[int]] = {}
    for name, boxes in truth.items():
        ids: list[int] = []
        matched = match_truth(rows, boxes)
        for frame in sorted(matched):
            face = matched[frame]
            if face is not None and face.person_id not in ids:
                ids.append(face.person_id)
        out[name] = ids
    return out
