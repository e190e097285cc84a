"""Data passed along the video pipeline: source -> tracker -> smoother -> exporters / GUI.

Plain dataclasses with no behaviour, so a Qt worker can hand them to the GUI
thread through a signal and exporters can keep them without touching the models.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.choices import Stage
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
    """A face together with who the tracker says it is.

    ``track_id`` is one track: a continuous stretch of one face, kept through short
    occlusions (``engine.tracker``). ``person_id`` is the person: re-identified by a face
    embedding, it survives cuts and returns when the person comes back (0 only inside
    the tracker, before a track is confirmed). ``segment`` is a stretch without gaps
    (unique in a stream): smoothers never mix two segments. ``confirmed`` is False for
    the frames of a tentative track (``engine.confirmation`` holds them until the track
    is confirmed or dropped; outputs only ever see confirmed faces). Every face the
    tracker gives out passed its face check on that frame; ``face.score`` (0..1) is the
    latest face-likeness (or detector) score of the track.
    """

    track_id: int
    face: Face
    segment: int
    person_id: int
    confirmed: bool = True


@dataclass
class FrameResult:
    """Everything known about one frame once it leaves the pipeline."""

    index: int
    timestamp: float
    # The frame these faces belong to (look-ahead smoothing delays results): (H, W, 3) uint8
    # BGR, or (H, W, 0) when the pipeline was told not to keep pixels (``without_pixels``).
    image: np.ndarray
    faces: list[TrackedFace]
    detector_ran: bool = False
    timings_ms: dict[Stage, float] = field(default_factory=dict)  # milliseconds per stage (engine.choices)

    @property
    def has_pixels(self) -> bool:
        """False when ``image`` only gives the frame's size (see ``without_pixels``)."""
        return bool(self.image.size)


def without_pixels(image: np.ndarray) -> np.ndarray:
    """A zero-byte (H, W, 0) stand-in for ``image``: the frame's size without its pixels.

    Results that no export draws on carry this, so the decoded frame goes back to the
    source's buffer pool as soon as it is tracked instead of waiting in the look-ahead
    window and the export queue (a 720p frame is 2.7 MB). Code that does read pixels
    fails loudly on it (no channels) rather than drawing on a blank frame."""
    return np.empty((*image.shape[:2], 0), np.uint8)
