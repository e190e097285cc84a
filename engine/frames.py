"""Data passed along the video pipeline: source -> tracker -> smoother -> exporters / GUI.

Plain dataclasses with no behaviour, so a Qt worker can hand them to the GUI
thread through a signal and exporters can keep them without touching the models.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.results import Face


@dataclass(frozen=True)
class FramePacket:
    """One decoded frame from a video source."""

    index: int  # 0-based frame number in the source (cameras: frames delivered, gaps when dropped)
    timestamp: float  # seconds since the source started
    image: np.ndarray  # (H, W, 3) uint8 BGR
    decode_ms: float = 0.0  # time the source spent reading/decoding this frame


@dataclass
class TrackedFace:
    """A face together with the identity the tracker gave it.

    ``track_id`` is the person: it survives cuts and returns when the tracker
    recognises them. ``segment`` is one continuous stretch of tracking (unique in a
    stream): it changes at every identity break (a cut, a loss, a re-detection), even
    when the ID stays, and smoothers never mix two segments. Every face the tracker
    gives out passed its failure test on that frame; ``face.score`` (0..1) is the
    latest face-likeness (or detector) score of the track.
    """

    track_id: int
    face: Face
    segment: int


@dataclass
class FrameResult:
    """Everything known about one frame once it leaves the pipeline."""

    index: int
    timestamp: float
    image: np.ndarray  # the frame these faces belong to (look-ahead smoothing delays results)
    faces: list[TrackedFace]
    detector_ran: bool = False
    timings_ms: dict[str, float] = field(default_factory=dict)  # stage name -> milliseconds
