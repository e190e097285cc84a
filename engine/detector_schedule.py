"""When the tracker runs the detector on a frame, and how often it did.

The detector (FaceBoxes) runs on the whole frame at start-up, when a track starts
coasting, at a scene cut, while no face is tracked, and every ``recover_every`` frames
for ``recover_frames`` frames after a loss (until as many faces are in view as before
it). New faces are searched for every ``detect_every`` frames on the frame shrunk to
``search_max_width``, unless ``max_faces`` are in view. Detections down to
``coast_detection_score`` are kept: they may revive a coasting track.
"""
from __future__ import annotations

import numpy as np

from engine.analyzer import FaceAnalyzer
from engine.config import TrackerConfig
from engine.detector import Detection
from engine.tracks import Track


class DetectorSchedule:
    """The detector runs of one tracker: when they are due, and the counts of each kind."""

    def __init__(self, analyzer: FaceAnalyzer, config: TrackerConfig) -> None:
        self.analyzer = analyzer
        self.config = config
        self.reset()

    def reset(self) -> None:
        """A new video: nothing detected yet."""
        self.detector_calls = 0  # whole-frame detections
        self.search_calls = 0  # scheduled searches for new faces (shrunk frame)
        self._last_detect = -(10 ** 9)
        self._recover_until = -1
        self._wanted = 0  # faces tracked before the latest loss

    def note_loss(self, frame: int, tracked: int) -> None:
        """A face was hidden or lost on ``frame`` with ``tracked`` tracks left: look for it
        with the whole-frame detector for a while."""
        self._wanted = max(self._wanted, tracked)
        if self.config.recover_every > 0:
            self._recover_until = frame + self.config.recover_frames

    def due(self, frame: int, tracks: list[Track], hidden_now: bool) -> bool | None:
        """None: no detector on this frame; False: the whole frame; True: a face search."""
        cfg = self.config
        visible = [t for t in tracks if t.visible]
        if not visible or hidden_now:
            return False
        since = frame - self._last_detect
        if frame <= self._recover_until and cfg.recover_every > 0 and since >= cfg.recover_every:
            return False
        if cfg.max_faces and len(visible) >= cfg.max_faces:
            return None
        if cfg.detect_every > 0 and since >= cfg.detect_every:
            return True
        return None

    def detect(self, image: np.ndarray, frame: int, search: bool) -> list[Detection]:
        """Run the detector due (``due``) on ``frame``: a face search or the whole frame."""
        self._last_detect = frame
        low = self.config.coast_detection_score
        if search:
            self.search_calls += 1
            return self.analyzer.detect(image, self.config.search_max_width, min_score=low)
        self.detector_calls += 1
        return self.analyzer.detect(image, min_score=low)

    def note_enough_tracks(self, tracks: list[Track]) -> None:
        """As many faces are in view as before the latest loss: the recovery is over."""
        visible = sum(t.visible for t in tracks)
        if visible >= self._wanted:
            self._wanted = visible
            self._recover_until = -1
