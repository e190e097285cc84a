"""Following the tracks into a new frame, before any detector runs.

    follower = TrackFollower(analyzer, config, roster)
    verify_ms = follower.follow(image, frame, result)

Every visible track, and every coasting one whose predicted face is in the frame, is
cropped where its motion model puts the face (``predicted_roi``) and all crops are
regressed in one batch. Each regression must pass the face check (``engine.face_check``):
the cheap statistics always, the face-likeness check on a coasting track, every
``verify_every`` frames and when a statistic is suspicious. A face-likeness check that
finds the face away from the landmarks re-anchors them (``_anchor``); a coasting track
takes a face only where it predicted it best. Two tracks on one face leave one
(``engine.duplicate_tracks``). The rest are seen or hidden through the ``TrackRoster``.
"""
from __future__ import annotations

import time

import numpy as np

from engine.analyzer import FaceAnalyzer
from engine.config import TrackerConfig
from engine.detector import Detection
from engine.duplicate_tracks import Candidate, one_track_per_face
from engine.face_check import VERIFY_SIZE, box_iou, failure_reason, failure_statistics, suspicious
from engine.roi import box_from_landmarks, roi_from_landmarks
from engine.track_roster import TrackRoster
from engine.tracks import Track, TrackState, TrackStep


class TrackFollower:
    """Follows a roster's tracks from frame to frame, and counts its face-likeness checks."""

    def __init__(self, analyzer: FaceAnalyzer, config: TrackerConfig, roster: TrackRoster) -> None:
        self.analyzer = analyzer
        self.config = config
        self.roster = roster
        self.reset()

    def reset(self) -> None:
        """A new video: no face-likeness check made yet."""
        self.verify_calls = 0

    def follow(self, image: np.ndarray, frame: int, result: TrackStep) -> float:
        """Regress every visible track where its face should be now, and look for every
        coasting face where it should be; then decide who keeps which face. Returns the
        milliseconds spent on face-likeness checks."""
        if not self.roster.tracks:
            return 0.0
        cfg = self.config
        h, w = image.shape[:2]
        probes = [t for t in self.roster.tracks if t.visible or _inside(t.motion.box, w, h)]
        if not probes:
            return 0.0
        rois = [predicted_roi(t) for t in probes]
        params, crops = self.analyzer.regress_rois(image, rois)
        verify_ms = 0.0
        candidates: list[Candidate] = []
        for track, roi, crop, p in zip(probes, rois, crops, params):
            landmarks = self.analyzer.landmarks(p, roi)
            stats = failure_statistics(self.analyzer.whitened_coefficients(p), crop, roi_from_landmarks(landmarks),
                                       track.roi, landmarks, (w, h))
            reason = failure_reason(stats, cfg)
            score = track.score
            track.since_verify += 1
            check = track.state is TrackState.COASTING or (
                cfg.verify_every > 0 and (track.since_verify >= cfg.verify_every or suspicious(stats, cfg)))
            if reason is None and check:
                tv = time.perf_counter()
                found = self.faces_near(image, landmarks)
                verify_ms += (time.perf_counter() - tv) * 1000
                track.since_verify = 0
                score = max((d.score for d in found), default=0.0)
                if score < cfg.min_face_score:
                    reason = "not_a_face"
                else:
                    p, roi, landmarks = self._anchor(image, found, p, roi, landmarks)
            if reason is None and track.state is TrackState.COASTING and not self._predicted_best_by(
                    track, box_from_landmarks(landmarks)):
                reason = "elsewhere"  # a face, but not this one
            if reason is None:
                candidates.append(Candidate(track, p, roi, landmarks, score, not suspicious(stats, cfg)))
            elif track.visible:
                self.roster.hide(track, frame, reason, result)
        kept, losers = one_track_per_face(candidates, cfg.duplicate_iou)
        for track in losers:
            self.roster.hide(track, frame, "duplicate", result)
        for c in kept:
            self.roster.see(c.track, frame, c.params, c.roi, c.landmarks, c.score, result)
            if c.clean:
                c.track.clean = (c.track.motion.copy(), c.landmarks, c.roi)
        return verify_ms

    def faces_near(self, image: np.ndarray, landmarks: np.ndarray) -> list[Detection]:
        """The face-likeness check: FaceBoxes on the landmarks' ROI resampled to 128x128."""
        self.verify_calls += 1
        return self.analyzer.faces_in_roi(image, roi_from_landmarks(landmarks), VERIFY_SIZE)

    def _predicted_best_by(self, track: Track, box: np.ndarray) -> bool:
        """A face found at ``box`` while looking for a hidden one is that face only if its
        track predicted it (``coast_match_iou``) better than any other track did: a face
        that hid this very frame is still predicted where it was, and keeps its place."""
        own = box_iou(box, track.motion.box)
        return own >= self.config.coast_match_iou and all(
            box_iou(box, t.motion.box) <= own for t in self.roster.tracks if t is not track)

    def _anchor(self, image: np.ndarray, found: list[Detection], params: np.ndarray, roi: np.ndarray,
                landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The face check found the face somewhere else in the crop than the landmarks say
        (they drifted, to the chin of a face looking down): regress it from its detection.
        The detection nearest the landmarks is this face; a neighbour in the crop is not."""
        box = box_from_landmarks(landmarks)
        good = [d for d in found if d.score >= self.config.min_face_score]
        if not good:
            return params, roi, landmarks
        overlap, nearest = max(((box_iou(d.box, box), d) for d in good), key=lambda od: od[0])
        if not 0 < overlap < self.config.anchor_iou:
            return params, roi, landmarks
        new_params, new_rois = self.analyzer.regress_detections(image, [nearest])
        new_landmarks = self.analyzer.landmarks(new_params[0], new_rois[0])
        return new_params[0], new_rois[0], new_landmarks


def predicted_roi(track: Track) -> np.ndarray:
    """The track's landmark ROI moved (and scaled) to where its motion model puts the face."""
    roi = roi_from_landmarks(track.landmarks)
    last = box_from_landmarks(track.landmarks)
    now = track.motion.box
    shift = ((now[0] + now[2]) - (last[0] + last[2])) / 2, ((now[1] + now[3]) - (last[1] + last[3])) / 2
    scale = float(np.clip((now[2] - now[0]) / max(float(last[2] - last[0]), 1e-3), 0.8, 1.25))
    cx, cy = (roi[0] + roi[2]) / 2 + shift[0], (roi[1] + roi[3]) / 2 + shift[1]
    half = (roi[2] - roi[0]) / 2 * scale
    return np.array([cx - half, cy - half, cx + half, cy + half], np.float32)


def _inside(box: np.ndarray, w: int, h: int) -> bool:
    """The box's centre is in the frame: worth looking for a hidden face there."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return bool(0 <= cx < w and 0 <= cy < h)
