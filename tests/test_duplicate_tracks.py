"""Two tracks on one face (``engine.duplicate_tracks``): who keeps it, who is hidden.

Exact expectations from the rule: seen last frame beats coming back, confirmed beats
tentative, a clearly better motion prediction beats age, else the older track. The
tracker's use of it on real footage is tested in tests/test_tracker.py.
"""
from __future__ import annotations

import numpy as np

from engine.duplicate_tracks import Candidate, one_track_per_face
from engine.motion import BoxMotion
from engine.tracks import Track, TrackState

FACE = [100.0, 100.0, 200.0, 200.0]
DUPLICATE_IOU = 0.5


def _candidate(track_id: int, state: TrackState, first_frame: int, predicted: list[float],
               found: list[float] = FACE) -> Candidate:
    """Track ``track_id`` whose motion predicted ``predicted`` and whose regression found ``found``."""
    corners = np.array([[found[0], found[1], 0.0], [found[2], found[3], 0.0]], np.float32)
    track = Track(track_id=track_id, segment=track_id, state=state, params=np.zeros(62, np.float32),
                  roi=np.array(found, np.float32), landmarks=corners, score=1.0,
                  motion=BoxMotion(np.array(predicted, np.float32)), first_frame=first_frame, last_seen=9,
                  birth_score=1.0)
    return Candidate(track, track.params, track.roi, corners, 1.0, True)


def _winner(*candidates: Candidate) -> tuple[list[int], list[int]]:
    kept, losers = one_track_per_face(list(candidates), DUPLICATE_IOU)
    return [c.track.track_id for c in kept], [t.track_id for t in losers]


def test_a_track_seen_last_frame_keeps_the_face_from_one_coming_back() -> None:
    coming_back = _candidate(1, TrackState.COASTING, first_frame=0, predicted=FACE)
    seen = _candidate(2, TrackState.CONFIRMED, first_frame=5, predicted=[130.0, 130.0, 230.0, 230.0])
    # The coasting loser was not visible: nothing to hide.
    assert _winner(coming_back, seen) == ([2], [])


def test_a_confirmed_track_keeps_the_face_from_a_tentative_one() -> None:
    tentative = _candidate(1, TrackState.TENTATIVE, first_frame=0, predicted=FACE)
    confirmed = _candidate(2, TrackState.CONFIRMED, first_frame=5, predicted=[130.0, 130.0, 230.0, 230.0])
    assert _winner(tentative, confirmed) == ([2], [1])


def test_the_older_track_keeps_the_face_unless_the_younger_predicted_it_clearly_better() -> None:
    older = _candidate(1, TrackState.CONFIRMED, first_frame=0, predicted=[104.0, 104.0, 204.0, 204.0])
    younger = _candidate(2, TrackState.CONFIRMED, first_frame=5, predicted=FACE)
    assert _winner(older, younger) == ([1], [2])  # IoU 0.85 against 1.0: not 0.2 better
    far_older = _candidate(1, TrackState.CONFIRMED, first_frame=0, predicted=[140.0, 140.0, 240.0, 240.0])
    assert _winner(far_older, younger) == ([2], [1])  # IoU 0.22 against 1.0


def test_tracks_on_different_faces_both_keep_theirs() -> None:
    left = _candidate(1, TrackState.CONFIRMED, first_frame=0, predicted=FACE)
    other = [300.0, 100.0, 400.0, 200.0]
    right = _candidate(2, TrackState.TENTATIVE, first_frame=5, predicted=other, found=other)
    assert _winner(right, left) == ([1, 2], [])
