"""Multi-face tracker: tracks that survive occlusions, and people who come back.

    tracker = FaceTracker(analyzer, embeddings=InlineEmbeddingQueue(embedder))
    for image in frames:
        step = tracker.step(image)               # TrackStep: the faces seen in this frame
        for tf in step.faces:
            print(tf.track_id, tf.person_id, tf.confirmed, tf.face.landmarks)

**Tracks** (``track_id``) are continuous stretches of one face. Each track crops the
next frame from its previous landmarks, moved by its motion model (``engine.motion``),
and all tracks of a frame are regressed in one batched run. A track is

* *tentative* from its first detection until it has been seen ``confirm_frames`` more
  frames, or at once when its detection scored ``confirm_score``. A tentative track
  that fails is dropped without a trace: phantoms never reach the outputs
  (``engine.confirmation`` holds their frames until they are decided);
* *confirmed* while it is seen;
* *coasting* while it is not seen: the face check (``engine.face_check``) failed, the
  face went behind a hand or another face, or a fresher track took its face. It is
  looked for where its motion model predicts it, on every frame (the crop is regressed
  and must pass the face-likeness check) and by every detection (one global Hungarian
  assignment of detections to visible and coasting tracks, gated by IoU with the
  predicted boxes; detections down to ``coast_detection_score`` may revive a track,
  ByteTrack's idea). A coasting face gives no rows: faces are reported only where seen;
* *ended* after ``coast_frames`` frames unseen, or at a scene cut.

**People** (``person_id``): a track is given a person when it is confirmed, and
recognised by its face embedding when a good view comes (``engine.track_identity``).

The detector (FaceBoxes) runs on the whole frame at start-up, when a track starts
coasting, at a scene cut, while no face is tracked, and every ``recover_every`` frames
for ``recover_frames`` frames after a loss. New faces are searched for every
``detect_every`` frames on the frame shrunk to ``search_max_width``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from engine.analyzer import FaceAnalyzer
from engine.config import TrackerConfig
from engine.detection_claims import claim_detections
from engine.detector import Detection
from engine.face_check import VERIFY_SIZE, box_iou, failure_reason, failure_statistics, suspicious
from engine.frames import TrackedFace
from engine.motion import BoxMotion
from engine.reid import EmbeddingQueue, PersonRegistry
from engine.results import Face
from engine.roi import box_from_landmarks, roi_from_landmarks
from engine.scene_cut import SceneCutDetector
from engine.track_identity import TrackIdentities
from engine.tracks import Track, TrackState, TrackStep


@dataclass
class _Candidate:
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


class FaceTracker:
    """Tracks several faces with stable IDs. One instance per video; not thread-safe."""

    def __init__(self, analyzer: FaceAnalyzer, config: TrackerConfig | None = None,
                 embeddings: EmbeddingQueue | None = None) -> None:
        self.analyzer = analyzer
        self.config = config or analyzer.config.tracker
        self.identities = TrackIdentities(self.config, embeddings, self._new_segment)
        self.cuts = SceneCutDetector(self.config.cut_threshold)
        self.reset()

    def reset(self) -> None:
        """Forget all tracks and people (a new video); IDs start again at 1."""
        self.tracks: list[Track] = []
        self.identities.reset()
        self.detector_calls = 0  # whole-frame detections
        self.search_calls = 0  # scheduled searches for new faces (shrunk frame)
        self.verify_calls = 0
        self.frame = -1  # index of the last frame stepped
        self._next_id = 1
        self._next_segment = 1
        self._last_detect = -(10 ** 9)
        self._recover_until = -1
        self._wanted = 0  # faces tracked before the latest loss
        self.cuts.reset()

    @property
    def people(self) -> PersonRegistry:
        """Every person of the stream (``people.resolve`` maps a provisional person ID to
        whom it turned out to be)."""
        return self.identities.people

    # -- one frame --------------------------------------------------------------------

    def step(self, image: np.ndarray) -> TrackStep:
        """Track the faces into ``image``, detect when needed, return the faces seen."""
        self.frame += 1
        cfg = self.config
        result = TrackStep(faces=[], detector_ran=False)
        t0 = time.perf_counter()
        result.cut = self.cuts.update(image)
        if result.cut:
            for track in self.tracks:  # a new shot: who is who is decided again, by the embeddings
                result.note_end(track, "cut")
            self.tracks = []
        for track in self.tracks:
            track.motion.predict()
        verify_ms = self._follow(image, result)
        if result.hidden or result.lost:
            self._wanted = max(self._wanted, len(self.tracks))
            if cfg.recover_every > 0:
                self._recover_until = self.frame + cfg.recover_frames
        result.timings_ms["regress"] = (time.perf_counter() - t0) * 1000 - verify_ms
        result.timings_ms["verify"] = verify_ms
        result.timings_ms["detect"] = 0.0

        search = self._detection_due(bool(result.hidden))
        if search is not None:
            result.detector_ran = True
            self._last_detect = self.frame
            td = time.perf_counter()
            low = cfg.coast_detection_score
            if search:
                self.search_calls += 1
                detections = self.analyzer.detect(image, cfg.search_max_width, min_score=low)
            else:
                self.detector_calls += 1
                detections = self.analyzer.detect(image, min_score=low)
            result.timings_ms["detect"] = (time.perf_counter() - td) * 1000
            tr = time.perf_counter()
            self._match_detections(image, detections, result)
            result.timings_ms["regress"] += (time.perf_counter() - tr) * 1000
        self._expire(result)
        self._note_enough_tracks()
        te = time.perf_counter()
        self.identities.update(image, self.frame, self.tracks, result)
        result.timings_ms["embed"] = (time.perf_counter() - te) * 1000
        result.faces = [TrackedFace(t.track_id, self._face(t), t.segment, t.person_id,
                                    t.state is TrackState.CONFIRMED)
                        for t in self.tracks if t.visible and t.last_seen == self.frame]
        return result

    # -- following tracks -----------------------------------------------------------------

    def _follow(self, image: np.ndarray, result: TrackStep) -> float:
        """Regress every visible track where its face should be now, and look for every
        coasting face where it should be; then decide who keeps which face. Returns the
        milliseconds spent on face-likeness checks."""
        if not self.tracks:
            return 0.0
        cfg = self.config
        h, w = image.shape[:2]
        probes = [t for t in self.tracks if t.visible or _inside(t.motion.box, w, h)]
        if not probes:
            return 0.0
        rois = [self._predicted_roi(t) for t in probes]
        params, crops = self.analyzer.regress_rois(image, rois)
        verify_ms = 0.0
        candidates: list[_Candidate] = []
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
                candidates.append(_Candidate(track, p, roi, landmarks, score, not suspicious(stats, cfg)))
            elif track.visible:
                self._hide(track, reason, result)
        for c in self._one_track_per_face(candidates, result):
            self._see(c.track, c.params, c.roi, c.landmarks, c.score, result)
            if c.clean:
                c.track.clean = (c.track.motion.copy(), c.landmarks, c.roi)
        return verify_ms

    def _predicted_best_by(self, track: Track, box: np.ndarray) -> bool:
        """A face found at ``box`` while looking for a hidden one is that face only if its
        track predicted it (``coast_match_iou``) better than any other track did: a face
        that hid this very frame is still predicted where it was, and keeps its place."""
        own = box_iou(box, track.motion.box)
        return own >= self.config.coast_match_iou and all(
            box_iou(box, t.motion.box) <= own for t in self.tracks if t is not track)

    def _predicted_roi(self, track: Track) -> np.ndarray:
        """The track's landmark ROI moved (and scaled) to where its motion model puts the face."""
        roi = roi_from_landmarks(track.landmarks)
        last = box_from_landmarks(track.landmarks)
        now = track.motion.box
        shift = ((now[0] + now[2]) - (last[0] + last[2])) / 2, ((now[1] + now[3]) - (last[1] + last[3])) / 2
        scale = float(np.clip((now[2] - now[0]) / max(float(last[2] - last[0]), 1e-3), 0.8, 1.25))
        cx, cy = (roi[0] + roi[2]) / 2 + shift[0], (roi[1] + roi[3]) / 2 + shift[1]
        half = (roi[2] - roi[0]) / 2 * scale
        return np.array([cx - half, cy - half, cx + half, cy + half], np.float32)

    def _one_track_per_face(self, candidates: list[_Candidate], result: TrackStep) -> list[_Candidate]:
        """Two tracks that found one face (a face slid in front of another, a coasting face
        looked for where another face now is): the face goes to the track that was seen
        last frame rather than one coming back, a confirmed rather than a tentative one,
        the one whose motion predicted it clearly better, else the older; the other is
        hidden (or dropped when tentative)."""
        kept: list[_Candidate] = []
        for c in sorted(candidates, key=self._priority):
            rival = next((k for k in kept if box_iou(c.face_roi, k.face_roi) > self.config.duplicate_iou), None)
            if rival is None:
                kept.append(c)
                continue
            box = box_from_landmarks(c.landmarks)
            if (self._priority(c)[:2] == self._priority(rival)[:2]
                    and box_iou(box, c.track.motion.box) > box_iou(box, rival.track.motion.box) + 0.2):
                kept[kept.index(rival)] = c
                c, rival = rival, c
            if c.track.visible:
                self._hide(c.track, "duplicate", result)
        return kept

    def _priority(self, c: _Candidate) -> tuple[int, int, int, int]:
        t = c.track
        return (t.state is TrackState.COASTING, t.state is TrackState.TENTATIVE, t.first_frame, t.track_id)

    def _see(self, track: Track, params: np.ndarray, roi: np.ndarray, landmarks: np.ndarray, score: float,
             result: TrackStep) -> None:
        """The track's face is at ``landmarks`` in this frame."""
        box = box_from_landmarks(landmarks)
        if track.state is TrackState.COASTING:
            track.state = TrackState.CONFIRMED
            if track.last_seen < self.frame - 1:  # a gap: the face may have moved while hidden
                track.segment = self._new_segment()
                track.motion = BoxMotion(box)  # its old velocity says nothing now
            else:
                track.motion.update(box)
            result.recovered.append(track.track_id)
        else:
            track.motion.update(box)
        track.params, track.roi, track.landmarks, track.score = params, roi, landmarks, score
        track.last_seen = self.frame
        track.frames_seen += 1

    def _hide(self, track: Track, reason: str, result: TrackStep) -> None:
        """The track's face was not seen: a tentative track is dropped, a confirmed one coasts."""
        if track.state is TrackState.TENTATIVE:
            self.tracks.remove(track)
            result.dropped.append(track.track_id)
            return
        track.state = TrackState.COASTING
        result.hidden[track.track_id] = reason
        if track.clean is not None:
            motion, track.landmarks, track.roi = track.clean
            track.motion = motion.copy()
            for _ in range(self.frame - track.last_seen):
                track.motion.predict()

    def faces_near(self, image: np.ndarray, landmarks: np.ndarray) -> list[Detection]:
        """The face-likeness check: FaceBoxes on the landmarks' ROI resampled to 128x128."""
        self.verify_calls += 1
        return self.analyzer.faces_in_roi(image, roi_from_landmarks(landmarks), VERIFY_SIZE)

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

    # -- detections -> tracks -------------------------------------------------------------

    def _detection_due(self, hidden_now: bool) -> bool | None:
        """None: no detector on this frame; False: the whole frame; True: a face search."""
        cfg = self.config
        visible = [t for t in self.tracks if t.visible]
        if not visible or hidden_now:
            return False
        since = self.frame - self._last_detect
        if self.frame <= self._recover_until and cfg.recover_every > 0 and since >= cfg.recover_every:
            return False
        if cfg.max_faces and len(visible) >= cfg.max_faces:
            return None
        if cfg.detect_every > 0 and since >= cfg.detect_every:
            return True
        return None

    def _note_enough_tracks(self) -> None:
        visible = sum(t.visible for t in self.tracks)
        if visible >= self._wanted:
            self._wanted = visible
            self._recover_until = -1

    def _match_detections(self, image: np.ndarray, detections: list[Detection], result: TrackStep) -> None:
        """Regress the detections the tracks claim (``engine.detection_claims``): a
        detection taken by a coasting track brings it back, one taken by a drifted face
        re-anchors it, an unclaimed strong one starts a tentative track; each only if it
        regresses to a face that is not already a face in view."""
        cfg = self.config
        claims = claim_detections(detections, self.tracks, self.frame, cfg, self.analyzer.config.detector.min_score)
        moved = claims.moved
        wanted = [d for d, _ in moved] + claims.fresh
        if not wanted:
            return
        h, w = image.shape[:2]
        params, rois = self.analyzer.regress_detections(image, wanted)
        for k, (det, roi, p) in enumerate(zip(wanted, rois, params)):
            owner = moved[k][1] if k < len(moved) else None  # None: a fresh detection
            landmarks = self.analyzer.landmarks(p, roi)
            stats = failure_statistics(self.analyzer.whitened_coefficients(p), self.analyzer.crop(image, roi), roi,
                                       roi, landmarks, (w, h))
            if failure_reason(stats, cfg) is not None:
                continue  # the detection does not regress to a face
            on_visible_face = any(
                t.visible and t is not owner
                and box_iou(roi_from_landmarks(landmarks), roi_from_landmarks(t.landmarks)) > cfg.duplicate_iou
                for t in self.tracks)
            if on_visible_face:
                continue  # its regression landed on a face in view
            if owner is not None:
                if owner.visible:  # re-anchored: the same stretch of the same face
                    owner.params, owner.roi, owner.landmarks, owner.score = p, roi, landmarks, det.score
                    owner.motion.update(box_from_landmarks(landmarks))
                else:
                    self._see(owner, p, roi, landmarks, det.score, result)
                continue
            track = Track(track_id=self._next_id, segment=self._new_segment(), state=TrackState.TENTATIVE,
                          params=p, roi=roi, landmarks=landmarks, score=det.score,
                          motion=BoxMotion(box_from_landmarks(landmarks)), first_frame=self.frame,
                          last_seen=self.frame, birth_score=det.score)
            self._next_id += 1
            self.tracks.append(track)
            result.started.append(track.track_id)

    def _expire(self, result: TrackStep) -> None:
        for track in list(self.tracks):
            if track.state is TrackState.COASTING and self.frame - track.last_seen >= self.config.coast_frames:
                result.note_end(track, result.hidden.get(track.track_id, "unseen"))
                self.tracks.remove(track)

    def _new_segment(self) -> int:
        self._next_segment += 1
        return self._next_segment - 1

    def _face(self, track: Track) -> Face:
        return self.analyzer.make_face(track.params, track.roi, box_from_landmarks(track.landmarks), track.score,
                                       dense=False, landmarks=track.landmarks)


def _inside(box: np.ndarray, w: int, h: int) -> bool:
    """The box's centre is in the frame: worth looking for a hidden face there."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return bool(0 <= cx < w and 0 <= cy < h)
