"""A track and what one tracker step reports: the data the tracker (``engine.tracker``)
and the people it recognises (``engine.track_identity``) share.

A track's life (tentative, confirmed, coasting, ended) is told in ``engine.tracker``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from engine.choices import Stage
from engine.config import TrackerConfig
from engine.frames import TrackedFace
from engine.motion import BoxMotion


class TrackState(Enum):
    TENTATIVE = "tentative"
    CONFIRMED = "confirmed"
    COASTING = "coasting"


@dataclass
class Track:
    """State of one tracked face (crop-space params and the ROI they belong to)."""

    track_id: int
    segment: int  # one continuous stretch of frames: smoothers never cross segments
    state: TrackState
    params: np.ndarray
    roi: np.ndarray
    landmarks: np.ndarray
    score: float  # detector score when (re)detected, face-likeness when verified
    motion: BoxMotion
    first_frame: int
    last_seen: int
    birth_score: float
    person_id: int = 0  # 0 until confirmed
    person_settled: bool = False  # recognised, or a new person decided from a good view
    frames_seen: int = 1
    since_verify: int = 0  # frames since the last face-likeness check
    best_view: tuple[float, np.ndarray, np.ndarray] | None = None  # (view quality, chip, landmarks) while tentative
    embedded_quality: float = 0.0  # best view quality embedded so far
    last_embedded: int = -(10 ** 9)
    # The last frame no cheap statistic doubted: a face going behind a hand regresses
    # drifting, shrinking landmarks on its last frames, so a hidden face is looked for
    # from here (motion model as it was then, and the face's place).
    clean: tuple[BoxMotion, np.ndarray, np.ndarray] | None = None  # (motion, landmarks, roi)

    @property
    def visible(self) -> bool:
        return self.state is not TrackState.COASTING

    def due_for_confirmation(self, config: TrackerConfig) -> bool:
        """Tentative, and seen ``confirm_frames`` more frames or born from a detection
        scoring ``confirm_score`` (real faces do; phantoms seldom)."""
        return self.state is TrackState.TENTATIVE and (self.frames_seen > config.confirm_frames
                                                       or self.birth_score >= config.confirm_score)


@dataclass
class TrackStep:
    """What ``FaceTracker.step`` found in one frame."""

    faces: list[TrackedFace]
    detector_ran: bool  # a whole-frame detection or a face search ran on this frame
    cut: bool = False  # the frame starts a new shot
    started: list[int] = field(default_factory=list)  # track IDs born in this frame (tentative)
    confirmed: list[int] = field(default_factory=list)  # track IDs confirmed in this frame
    dropped: list[int] = field(default_factory=list)  # tentative tracks that failed: never shown
    hidden: dict[int, str] = field(default_factory=dict)  # track ID -> reason, started coasting
    recovered: list[int] = field(default_factory=list)  # coasting tracks seen again
    lost: dict[int, str] = field(default_factory=dict)  # track ID -> reason, ended in this frame
    reidentified: list[int] = field(default_factory=list)  # tracks given an earlier person's ID
    merged: dict[int, int] = field(default_factory=dict)  # track ID -> the older track that took its face
    timings_ms: dict[Stage, float] = field(default_factory=dict)  # detect, regress, verify, embed

    def note_end(self, track: Track, reason: str) -> None:
        """The track is over (its person stays known for ``return_frames``): a tentative
        one was never shown, so it is dropped rather than lost."""
        if track.state is TrackState.TENTATIVE:
            self.dropped.append(track.track_id)
        else:
            self.lost[track.track_id] = reason
