"""Two tracks that found one face in a frame: which of them keeps it.

    kept, losers = one_track_per_face(candidates, config.duplicate_iou)

A face slid in front of another, or a coasting face was looked for where another face
now is: the regressions of two tracks land on one face (their landmark ROIs overlap
by more than ``duplicate_iou``). The tracker (``engine.track_following``) sees the
kept candidates and hides the losers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.face_check import box_iou
from engine.roi import box_from_landmarks, roi_from_landmarks
from engine.tracks import Track, TrackState


@dataclass
class Candidate:
    """A track's regression in this frame, before the tracker decides whether it counts."""

    track: Track
    params: np.ndarray
    roi: np.ndarray
    landmarks: np.ndarray
    score: float
    clean: bool  # no cheap statistic was suspicious

    @property
    def face_roi(self) -> np.ndarray:
        """Where the face was found (the ROI the next frame would crop)."""
        return roi_from_landmarks(self.landmarks)


def one_track_per_face(candidates: list[Candidate], duplicate_iou: float) -> tuple[list[Candidate], list[Track]]:
    """The candidates that keep their faces, and the visible tracks that lost theirs (in
    the order they lost them). The face goes to the track that was seen last frame
    rather than one coming back, a confirmed rather than a tentative one, the one whose
    motion predicted it clearly better, else the older."""
    kept: list[Candidate] = []
    losers: list[Track] = []
    for c in sorted(candidates, key=_priority):
        rival = next((k for k in kept if box_iou(c.face_roi, k.face_roi) > duplicate_iou), None)
        if rival is None:
            kept.append(c)
            continue
        box = box_from_landmarks(c.landmarks)
        if (_priority(c)[:2] == _priority(rival)[:2]
                and box_iou(box, c.track.motion.box) > box_iou(box, rival.track.motion.box) + 0.2):
            kept[kept.index(rival)] = c
            c, rival = rival, c
        if c.track.visible:
            losers.append(c.track)
    return kept, losers


def _priority(c: Candidate) -> tuple[int, int, int, int]:
    """Sort key: seen last frame, then confirmed, then older first."""
    t = c.track
    return (t.state is TrackState.COASTING, t.state is TrackState.TENTATIVE, t.first_frame, t.track_id)
