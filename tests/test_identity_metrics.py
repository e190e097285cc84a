"""The identity metric (tests/support/identity_metrics.py) on small hand-made tables."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.support.identity_metrics import (
    FaceRow,
    find_switches,
    identity_figures,
    ids_of_truth,
    read_cuts,
    read_embedding_cost,
    read_faces,
)

A = (100.0, 100.0, 200.0, 200.0)
A_MOVED = (110.0, 100.0, 210.0, 200.0)  # IoU with A: 90/110 = 0.82, inside the switch range
A_SAME = (101.0, 100.0, 201.0, 200.0)  # IoU with A: 0.98, above the range
FAR = (500.0, 100.0, 600.0, 200.0)


def face(frame: int, track: int, box, person: int | None = None) -> FaceRow:
    return FaceRow(frame=frame, track_id=track, person_id=track if person is None else person, box=box)


def test_a_changed_id_on_a_moving_face_is_a_switch() -> None:
    rows = [face(0, 1, A), face(0, 2, FAR), face(1, 3, A_MOVED), face(1, 2, FAR)]
    switches = find_switches(rows)
    assert [(s.frame, s.person_id, s.previous_id) for s in switches] == [(1, 3, 1)]
    assert 0.81 < switches[0].iou < 0.83


def test_no_switch_across_a_cut_or_outside_the_iou_range() -> None:
    moving = [face(0, 1, A), face(1, 3, A_MOVED)]
    assert find_switches(moving, cuts=[1]) == []  # frame 1 starts a new shot
    assert len(find_switches(moving, cuts=[0, 2])) == 1  # other cuts do not hide it
    assert find_switches([face(0, 1, A), face(1, 3, A_SAME)]) == []  # IoU 0.98 > 0.93
    assert find_switches([face(0, 1, A), face(1, 3, FAR)]) == []  # no overlap
    assert find_switches([face(0, 1, A), face(2, 3, A_MOVED)]) == []  # not the previous frame


def test_same_id_is_no_switch_and_person_id_wins_over_track_id() -> None:
    assert find_switches([face(0, 1, A), face(1, 1, A_MOVED)]) == []
    # a new segment (track 5) of the same person (7) is not a switch
    assert find_switches([face(0, 1, A, person=7), face(1, 5, A_MOVED, person=7)]) == []


def test_figures_count_ids_short_tracks_and_face_frames() -> None:
    rows = [face(f, 1, A, person=1) for f in range(10)]  # 10 frames: not short
    rows += [face(f, 2, FAR, person=1) for f in range(10, 14)]  # 4 frames, same person
    rows += [face(f, 3, FAR, person=2) for f in (0, 3, 6, 9, 12)]  # 5 rows with gaps: not short
    rows += [face(20, 4, FAR, person=3)]
    figures = identity_figures(rows)
    assert (figures.ids, figures.short_tracks, figures.face_frames) == (3, 2, 20)
    assert figures.switches == []


def test_ids_of_truth() -> None:
    rows = [face(0, 1, A), face(1, 1, A_MOVED), face(2, 4, A), face(2, 2, FAR)]
    truth = {"P": {0: A, 1: A, 2: A, 3: A}, "Q": {2: FAR}, "R": {0: (300.0, 300.0, 340.0, 340.0)}}
    assert ids_of_truth(rows, truth) == {"P": [1, 4], "Q": [2], "R": []}


def write_table(path: Path, rows: list[dict[str, object]], columns: list[str]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def test_reads_a_table_with_and_without_person_id(tmp_path: Path) -> None:
    base = ["frame", "time", "track_id", "success", "box_x1", "box_y1", "box_x2", "box_y2"]
    rows: list[dict[str, object]] = [
        {"frame": 0, "track_id": 3, "person_id": 9, "success": 1, "box_x1": 1, "box_y1": 2, "box_x2": 3, "box_y2": 4},
        {"frame": 1, "track_id": "", "person_id": "", "success": 0, "box_x1": "", "box_y1": "", "box_x2": "",
         "box_y2": ""},
    ]
    write_table(tmp_path / "old.csv", rows, base)
    write_table(tmp_path / "new.csv", rows, base + ["person_id"])
    assert read_faces(tmp_path / "old.csv") == [FaceRow(0, 3, 3, (1.0, 2.0, 3.0, 4.0))]
    assert read_faces(tmp_path / "new.csv") == [FaceRow(0, 3, 9, (1.0, 2.0, 3.0, 4.0))]


def test_reads_cuts_and_embedding_cost_from_run_json(tmp_path: Path) -> None:
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"summary": {"cut_frames": [41, 96], "embeddings": 12, "embedding_ms": 900.5}}))
    assert read_cuts(run) == [41, 96]
    cost = read_embedding_cost(run)
    assert (cost.calls, cost.ms) == (12, 900.5)
