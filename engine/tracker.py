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
``detect_every`` frames on the frame shrunk to ``search_max_width``
(``engine.detector_schedule``).

Each frame, in this order: the scene cut check; the tracks followed into the frame
(``engine.track_following``); the detector if due, its detections claimed by tracks
or starting new ones; coasting tracks expired (``engine.track_roster``); people
(``engine.track_identity``).
"""
from __future__ import annotations

import time

import numpy as np

from engine.analyzer import FaceAnalyzer
from engine.config import TrackerConfig
from engine.detection_claims import claim_detections
from engine.detector import Detection
from engine.detector_schedule import DetectorSchedule
from engine.face_check import box_iou, failure_reason, failure_statistics
from engine.frames import TrackedFace
from engine.reid import EmbeddingQueue, PersonRegistry
from engine.results import Face
from engine.roi import box_from_landmarks, roi_from_landmarks
from engine.scene_cut import SceneCutDetector
from engine.track_following import TrackFollower
from engine.track_identity import TrackIdentities
from engine.track_roster import TrackRoster
from engine.tracks import Track, TrackState, TrackStep


class FaceTracker:
    """Tracks several faces with stable IDs. One instance per video; not thread-safe."""

    def __init__(self, analyzer: FaceAnalyzer, config: TrackerConfig | None = None,
                 embeddings: EmbeddingQueue | None = None) -> None:
        self.analyzer = analyzer
        self.config = config or analyzer.config.tracker
        self.roster = TrackRoster(self.config)
        self.identities = TrackIdentities(self.config, embeddings, self.roster.new_segment)
        self.follower = TrackFollower(analyzer, self.config, self.roster)
        self.schedule = DetectorSchedule(analyzer, self.config)
        self.cuts = SceneCutDetector(self.config.cut_threshold)
        self.reset()

    def reset(self) -> None:
        """Forget all tracks and people (a new video); IDs start again at 1."""
        self.roster.reset()
        self.identities.reset()
        self.schedule.reset()
        self.follower.reset()
        self.frame = -1  # index of the last frame stepped
        self.cuts.reset()

    @property
    def tracks(self) -> list[Track]:
        """The tracks alive (tentative, confirmed or coasting)."""
        return self.roster.tracks

    @property
    def people(self) -> PersonRegistry:
        """Every person of the stream (``people.resolve`` maps a provisional person ID to
        whom it turned out to be)."""
        return self.identities.people

    @property
    def detector_calls(self) -> int:
        """Whole-frame detections so far."""
        return self.schedule.detector_calls

    @property
    def search_calls(self) -> int:
        """Scheduled searches for new faces (on the shrunk frame) so far."""
        return self.schedule.search_calls

    @property
    def verify_calls(self) -> int:
        """Face-likeness checks so far."""
        return self.follower.verify_calls

    # -- one frame --------------------------------------------------------------------

    def step(self, image: np.ndarray) -> TrackStep:
        """Track the faces into ``image``, detect when needed, return the faces seen."""
        self.frame += 1
        result = TrackStep(faces=[], detector_ran=False)
        t0 = time.perf_counter()
        result.cut = self.cuts.update(image)
        if result.cut:  # a new shot: who is who is decided again, by the embeddings
            self.roster.end_all("cut", result)
        for track in self.tracks:
            track.motion.predict()
        verify_ms = self.follower.follow(image, self.frame, result)
        if result.hidden or result.lost:
            self.schedule.note_loss(self.frame, len(self.tracks))
        result.timings_ms["regress"] = (time.perf_counter() - t0) * 1000 - verify_ms
        result.timings_ms["verify"] = verify_ms
        result.timings_ms["detect"] = 0.0

        search = self.schedule.due(self.frame, self.tracks, bool(result.hidden))
        if search is not None:
            result.detector_ran = True
            td = time.perf_counter()
            detections = self.schedule.detect(image, self.frame, search)
            result.timings_ms["detect"] = (time.perf_counter() - td) * 1000
            tr = time.perf_counter()
            self._match_detections(image, detections, result)
            result.timings_ms["regress"] += (time.perf_counter() - tr) * 1000
        self.roster.expire(self.frame, result)
        self.schedule.note_enough_tracks(self.tracks)
        te = time.perf_counter()
        self.identities.update(image, self.frame, self.tracks, result)
        result.timings_ms["embed"] = (time.perf_counter() - te) * 1000
        result.faces = [TrackedFace(t.track_id, self._face(t), t.segment, t.person_id,
                                    t.state is TrackState.CONFIRMED)
                        for t in self.tracks if t.visible and t.last_seen == self.frame]
        return result

    # -- detections -> tracks -------------------------------------------------------------

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
                    self.roster.see(owner, self.frame, p, roi, landmarks, det.score, result)
                continue
            self.roster.start(self.frame, p, roi, landmarks, det.score, result)

    def _face(self, track: Track) -> Face:
        return self.analyzer.make_face(track.params, track.roi, box_from_landmarks(track.landmarks), track.score,
                                       dense=False, landmarks=track.landmarks)

