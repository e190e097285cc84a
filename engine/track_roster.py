"""The tracker's list of tracks: their IDs, their stretches of frames, and what seeing a
face or missing it does to a track (``engine.tracks`` tells a track's states).

    roster = TrackRoster(config)
    roster.see(track, frame, params, roi, landmarks, score, result)   # its face is here
    roster.hide(track, frame, "contrast", result)                      # it is not seen
    roster.expire(frame, result)                                        # coasted too long

Every change to a track's state goes through here, so the list, the IDs and the
segments (one continuous stretch of frames; smoothers never cross one) stay in step.
"""
from __future__ import annotations

import numpy as np

from engine.config import TrackerConfig
from engine.motion import BoxMotion
from engine.roi import box_from_landmarks
from engine.tracks import Track, TrackState, TrackStep


class TrackRoster:
    """The tracks of one tracker, and the counters that number them and their segments."""

    def __init__(self, config: TrackerConfig) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        """No tracks; track IDs and segments start again at 1."""
        self.tracks: list[Track] = []
        self._next_id = 1
        self._next_segment = 1

    def new_segment(self) -> int:
        """Number a new stretch of frames (a new track, or one seen again after a gap)."""
        self._next_segment += 1
        return self._next_segment - 1

    def start(self, frame: int, params: np.ndarray, roi: np.ndarray, landmarks: np.ndarray, score: float,
              result: TrackStep) -> None:
        """A tentative track from a detection scoring ``score`` that regressed to ``landmarks``."""
        track = Track(track_id=self._next_id, segment=self.new_segment(), state=TrackState.TENTATIVE,
                      params=params, roi=roi, landmarks=landmarks, score=score,
                      motion=BoxMotion(box_from_landmarks(landmarks)), first_frame=frame,
                      last_seen=frame, birth_score=score)
        self._next_id += 1
        self.tracks.append(track)
        result.started.append(track.track_id)

    def end_all(self, reason: str, result: TrackStep) -> None:
        """Every track is over (a scene cut)."""
        for track in self.tracks:
            result.note_end(track, reason)
        self.tracks = []

    def see(self, track: Track, frame: int, params: np.ndarray, roi: np.ndarray, landmarks: np.ndarray,
            score: float, result: TrackStep) -> None:
        """The track's face is at ``landmarks`` in ``frame``."""
        box = box_from_landmarks(landmarks)
        if track.state is TrackState.COASTING:
            track.state = TrackState.CONFIRMED
            if track.last_seen < frame - 1:  # a gap: the face may have moved while hidden
                track.segment = self.new_segment()
                track.motion = BoxMotion(box)  # its old velocity says nothing now
            else:
                track.motion.update(box)
            result.recovered.append(track.track_id)
        else:
            track.motion.update(box)
        track.params, track.roi, track.landmarks, track.score = params, roi, landmarks, score
        track.last_seen = frame
        track.frames_seen += 1

    def hide(self, track: Track, frame: int, reason: str, result: TrackStep) -> None:
        """The track's face was not seen: a tentative track is dropped, a confirmed one coasts
        from its last clean frame (``Track.clean``), its motion model run on to ``frame``."""
        if track.state is TrackState.TENTATIVE:
            self.tracks.remove(track)
            result.dropped.append(track.track_id)
            return
        track.state = TrackState.COASTING
        result.hidden[track.track_id] = reason
        if track.clean is not None:
            motion, track.landmarks, track.roi = track.clean
            track.motion = motion.copy()
            for _ in range(frame - track.last_seen):
                track.motion.predict()

    def expire(self, frame: int, result: TrackStep) -> None:
        """End the tracks unseen for ``coast_frames`` frames."""
        for track in list(self.tracks):
            if track.state is TrackState.COASTING and frame - track.last_seen >= self.config.coast_frames:
                result.note_end(track, result.hidden.get(track.track_id, "unseen"))
                self.tracks.remove(track)
