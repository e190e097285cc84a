"""Multi-face tracker: re-crop from the previous landmarks, detect only when needed.

    tracker = FaceTracker(analyzer)              # config from analyzer.config.tracker
    for image in frames:
        step = tracker.step(image)               # TrackStep: faces with stable track IDs
        for tf in step.faces:
            print(tf.track_id, tf.face.landmarks)

Each track crops the next frame from its previous landmarks (upstream 3DDFA_V2's
ROI rule) and regresses 62 parameters; all tracks of a frame are regressed in one
batched run. A measured failure test decides when a track is
lost (numbers in docs/tracking.md, measured on obama_pingpong.mp4 and the synthetic clips
of tests/support/video_fixtures.py). Cheap statistics run on every frame:

* ``contrast``: standard deviation of the grey levels in the centre of the 120x120
  crop. Faces: >= 22 (obama min 22.2, emma patches >= 28); blank frames 0, flat
  background 2-9. Under ``min_crop_contrast`` the track is lost.
* ``param_rms``: root mean square of the whitened 40 identity + 10 expression
  coefficients. Faces <= 0.58 (obama max); exploding regressions go far above.
* ``scale_change``: ROI side ratio from one frame to the next (obama max 1.055).
* ``inside``: fraction of the 68 landmarks inside the frame.

Those cannot tell a face from textured background the regressor has drifted onto
(a face that left the frame: contrast 7-70, param_rms 0.3-0.45, like faces), so a
face-likeness check runs every ``verify_every`` frames per track, and at once when
a cheap statistic is in its "suspicious" band: FaceBoxes on the ROI resampled to
128x128 (one small detector run, about a fiftieth of a 720p one). Faces score
>= 0.94 (obama min 0.978), crops without a face <= 0.06; under ``min_face_score``
the track is lost.

The detector (FaceBoxes) runs on the whole frame at start-up, on a frame where a
track was lost, at a scene cut, while no face is tracked, and every
``recover_every`` frames for ``recover_frames`` frames after a face was lost while
others stay tracked. New faces are searched for every ``detect_every`` frames on
the frame shrunk to ``search_max_width`` (the schedule and its cost are measured in
docs/tracking.md). Detections that overlap a tracked face are that face (tracking wins:
its landmark-based ROI is more precise than a detector box); the others start new
tracks.

Identity (``engine.identity``): every track keeps the mean of its faces' 40
whitened identity coefficients and a fast moving average of the latest ones. When
they part by more than ``identity_break`` the crop shows someone else (a cut the
histogram missed, a face sliding over another): the track ends. At a scene cut
(``engine.scene_cut``) every track ends and the detector runs. Ended tracks wait in
a pool for ``return_frames`` frames; a new track takes the ID of the pooled person
whose signature is nearest, if within ``identity_same_near`` (lost in this shot at
most ``reuse_id_frames`` ago and overlapping the new box) or ``identity_same_far``
(anywhere, any shot); a young track with a new ID is compared again over its first
frames (a face entering through the edge is recognisable only once it is in). Every
track, even one that takes an old ID back, is a new *segment*
(``TrackedFace.segment``): smoothers never carry a window across segments.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

import numpy as np

from engine.analyzer import FaceAnalyzer
from engine.choices import Stage
from engine.config import TrackerConfig
from engine.detector import Detection
from engine.frames import TrackedFace
from engine.identity import TrackSignature, identity_signature, signature_distance
from engine.results import Face
from engine.roi import box_from_landmarks, roi_from_landmarks
from engine.scene_cut import SceneCutDetector

if TYPE_CHECKING:
    from engine.analyzer import FaceAnalyzer
    from engine.results import Face

# Side of the ROI resampling the face-likeness check runs FaceBoxes on (a face fills
# about 90 px of it, matching the detector's 64 and 128 px anchors).
VERIFY_SIZE = 128
# Centre of the 120x120 crop used for the contrast statistic: the face covers about
# the central 70 % of a landmark ROI (the ROI side is the diagonal of the face box).
CONTRAST_WINDOW = slice(24, 96)
GREY_WEIGHTS = np.array([0.114, 0.587, 0.299], np.float32)  # BGR -> luma


@dataclass(frozen=True)
class FailureStats:
    """The numbers the failure test looks at, for one regressed crop."""

    param_rms: float  # RMS of the 50 whitened identity + expression coefficients
    contrast: float  # grey-level standard deviation in the centre of the crop
    scale_change: float  # ROI side ratio to the previous frame's, >= 1 either way
    roi_side: float  # pixels
    inside: float  # share of the 68 landmarks inside the frame

    def finite(self) -> bool:
        return all(np.isfinite(getattr(self, f.name)) for f in fields(self))


@dataclass
class Track:
    """State of one tracked face (crop-space params and the ROI they belong to)."""

    track_id: int
    segment: int  # unique per continuous stretch: smoothers never cross segments
    params: np.ndarray
    roi: np.ndarray
    landmarks: np.ndarray
    score: float  # detector score when (re)detected, face-likeness when verified
    first_frame: int
    last_frame: int
    signature: TrackSignature
    frames_tracked: int = 1
    since_verify: int = 0  # frames since the last face-likeness check
    new_id: bool = True  # the ID was issued for this track (not given back from the pool)


@dataclass
class TrackStep:
    """What ``FaceTracker.step`` found in one frame."""

    faces: list[TrackedFace]
    detector_ran: bool  # a whole-frame detection or a face search ran on this frame
    cut: bool = False  # the frame starts a new shot
    started: list[int] = field(default_factory=list)  # track IDs that began a segment in this frame
    lost: dict[int, str] = field(default_factory=dict)  # track ID -> reason, ended in this frame
    timings_ms: dict[Stage, float] = field(default_factory=dict)  # detect, regress, verify


@dataclass
class _PooledPerson:
    """A track that ended: who it was and where, for giving the ID back."""

    track_id: int
    box: np.ndarray
    frame: int
    shot: int  # scene cuts before it ended: a place in another shot says nothing
    signature: np.ndarray


def failure_statistics(coefficients: np.ndarray, crop: np.ndarray, new_roi: np.ndarray, old_roi: np.ndarray,
                       landmarks: np.ndarray, frame_size: tuple[int, int]) -> FailureStats:
    """Failure-test numbers from the 50 whitened coefficients (``FaceAnalyzer.whitened_coefficients``),
    the crop they were regressed from, this and the previous ROI and the landmarks."""
    z = np.asarray(coefficients, np.float64)
    grey = crop[CONTRAST_WINDOW, CONTRAST_WINDOW].astype(np.float32) @ GREY_WEIGHTS
    side_new = float(new_roi[2] - new_roi[0])
    side_old = float(old_roi[2] - old_roi[0])
    w, h = frame_size
    xy = landmarks[:, :2]
    inside = (xy[:, 0] >= 0) & (xy[:, 0] <= w - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= h - 1)
    ratio = side_new / side_old if side_old > 0 else float("inf")
    return FailureStats(param_rms=float(np.sqrt(np.mean(z * z))), contrast=float(grey.std()),
                        scale_change=float(max(ratio, 1 / ratio)) if ratio > 0 else float("inf"),
                        roi_side=side_new, inside=float(inside.mean()))


def failure_reason(stats: FailureStats, cfg: TrackerConfig) -> str | None:
    """None when the cheap statistics pass, else a short reason."""
    if not stats.finite():
        return "non-finite"
    if stats.contrast < cfg.min_crop_contrast:
        return "contrast"
    if stats.param_rms > cfg.max_param_rms:
        return "param_rms"
    if stats.scale_change > cfg.max_roi_scale_change or stats.roi_side < cfg.min_roi_side:
        return "scale"
    if stats.inside < cfg.min_landmarks_inside:
        return "outside"
    return None


def suspicious(stats: FailureStats, cfg: TrackerConfig) -> bool:
    """A cheap statistic is near its limit: confirm with the face-likeness check now."""
    return (stats.contrast < cfg.suspect_crop_contrast or stats.param_rms > cfg.suspect_param_rms
            or stats.scale_change > cfg.suspect_roi_scale_change
            or stats.inside < cfg.suspect_landmarks_inside)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two x1, y1, x2, y2 boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


class FaceTracker:
    """Tracks several faces with stable IDs. One instance per video; not thread-safe."""

    def __init__(self, analyzer: FaceAnalyzer, config: TrackerConfig | None = None) -> None:
        self.analyzer = analyzer
        self.config = config or analyzer.config.tracker
        self.cuts = SceneCutDetector(self.config.cut_threshold)
        self.reset()

    def reset(self) -> None:
        """Forget all tracks (a new video); track IDs start again at 1."""
        self.tracks: list[Track] = []
        self.detector_calls = 0  # whole-frame detections
        self.search_calls = 0  # scheduled searches for new faces (shrunk frame)
        self.verify_calls = 0
        self.cut_frames: list[int] = []
        self.frame = -1  # index of the last frame stepped
        self._next_id = 1
        self._next_segment = 1
        self._last_detect = -(10 ** 9)
        self._pool: list[_PooledPerson] = []
        self._recover_until = -1
        self._wanted = 0  # faces tracked before the latest loss
        self.cuts.reset()

    # -- one frame --------------------------------------------------------------------

    def step(self, image: np.ndarray) -> TrackStep:
        """Track the existing faces into ``image``, detect when needed, return every face."""
        self.frame += 1
        cfg = self.config
        result = TrackStep(faces=[], detector_ran=False)
        t0 = time.perf_counter()
        result.cut = self.cuts.update(image)
        if result.cut:
            self.cut_frames.append(self.frame)
            for track in self.tracks:  # a new shot: who is who is decided again, from the detector
                self._end(track, "cut", result)
            self.tracks = []
        verify_ms = self._follow_tracks(image, result)
        if result.lost:
            self._wanted = max(self._wanted, len(self.tracks) + len(result.lost))
            if cfg.recover_every > 0:
                self._recover_until = self.frame + cfg.recover_frames
        self._note_enough_tracks()
        result.timings_ms["regress"] = (time.perf_counter() - t0) * 1000 - verify_ms
        result.timings_ms["verify"] = verify_ms
        result.timings_ms["detect"] = 0.0

        search = self._detection_due(bool(result.lost))
        if search is not None:
            result.detector_ran = True
            self._last_detect = self.frame
            td = time.perf_counter()
            if search:
                self.search_calls += 1
                detections = self.analyzer.detect(image, cfg.search_max_width)
            else:
                self.detector_calls += 1
                detections = self.analyzer.detect(image)
            result.timings_ms["detect"] = (time.perf_counter() - td) * 1000
            tr = time.perf_counter()
            self._start_tracks(image, detections, result)
            result.timings_ms["regress"] += (time.perf_counter() - tr) * 1000

        result.faces = [TrackedFace(t.track_id, self._face(t), t.segment) for t in self.tracks]
        return result

    def _follow_tracks(self, image: np.ndarray, result: TrackStep) -> float:
        """Every track: crop from the previous landmarks, one batched regression, the
        failure and identity tests. Returns the milliseconds spent on face checks."""
        if not self.tracks:
            return 0.0
        cfg = self.config
        h, w = image.shape[:2]
        verify_ms = 0.0
        rois = [roi_from_landmarks(t.landmarks) for t in self.tracks]
        params, crops = self.analyzer.regress_rois(image, rois)
        survivors: list[tuple[Track, np.ndarray]] = []
        for track, roi, crop, p in zip(self.tracks, rois, crops, params):
            landmarks = self.analyzer.landmarks(p, roi)
            coefficients = self.analyzer.whitened_coefficients(p)
            stats = failure_statistics(coefficients, crop, roi_from_landmarks(landmarks), roi, landmarks, (w, h))
            reason = failure_reason(stats, cfg)
            track.since_verify += 1
            if reason is None and cfg.verify_every > 0 and (
                    track.since_verify >= cfg.verify_every or suspicious(stats, cfg)):
                tv = time.perf_counter()
                track.score = self.face_score(image, roi_from_landmarks(landmarks))
                verify_ms += (time.perf_counter() - tv) * 1000
                track.since_verify = 0
                if track.score < cfg.min_face_score:
                    reason = "not_a_face"
            # Identity evidence only from clean crops: a face half out of the frame or
            # half covered regresses another shape.
            signature = identity_signature(coefficients)
            clean = reason is None and not suspicious(stats, cfg)
            if (clean and track.signature.frames >= cfg.identity_min_frames
                    and track.signature.drift(signature) > cfg.identity_break):
                reason = "identity"
            if reason is not None:
                self._end(track, reason, result)
                continue
            if clean:
                track.signature.add(signature)
                self._recognise_late(track)
            track.params, track.roi, track.landmarks = p, roi, landmarks
            track.last_frame = self.frame
            track.frames_tracked += 1
            survivors.append((track, signature))
        self.tracks = self._drop_duplicates(survivors, result)
        return verify_ms

    def face_score(self, image: np.ndarray, roi: np.ndarray) -> float:
        """Face-likeness of a ROI: best FaceBoxes score on it resampled to 128x128 (0 if none)."""
        self.verify_calls += 1
        return self.analyzer.face_likeness(image, roi, VERIFY_SIZE)

    def _detection_due(self, lost_now: bool) -> bool | None:
        """None: no detector on this frame; False: the whole frame; True: a face search."""
        cfg = self.config
        if not self.tracks or lost_now:
            return False
        since = self.frame - self._last_detect
        if self.frame <= self._recover_until and cfg.recover_every > 0 and since >= cfg.recover_every:
            return False
        if cfg.max_faces and len(self.tracks) >= cfg.max_faces:
            return None
        if cfg.detect_every > 0 and since >= cfg.detect_every:
            return True
        return None

    def _note_enough_tracks(self) -> None:
        if len(self.tracks) >= self._wanted:
            self._wanted = len(self.tracks)
            self._recover_until = -1

    def _face(self, track: Track) -> Face:
        return self.analyzer.make_face(track.params, track.roi, box_from_landmarks(track.landmarks), track.score,
                                       dense=False, landmarks=track.landmarks)

    # -- detections -> tracks -----------------------------------------------------------

    def _start_tracks(self, image: np.ndarray, detections: list[Detection], result: TrackStep) -> None:
        cfg = self.config
        tracked_boxes = [box_from_landmarks(t.landmarks) for t in self.tracks]
        fresh = [d for d in detections if all(box_iou(d.box, b) <= cfg.match_iou for b in tracked_boxes)]
        if cfg.max_faces:
            fresh = fresh[: max(0, cfg.max_faces - len(self.tracks))]
        if not fresh:
            return
        h, w = image.shape[:2]
        params, rois = self.analyzer.regress_detections(image, fresh)
        started: list[tuple[Track, np.ndarray]] = []
        for det, roi, p in zip(fresh, rois, params):
            landmarks = self.analyzer.landmarks(p, roi)
            coefficients = self.analyzer.whitened_coefficients(p)
            # The same test as for tracked faces, bar the frame-to-frame scale change:
            # a detection whose regression does not look like a face starts no track.
            stats = failure_statistics(coefficients, self.analyzer.crop(image, roi), roi, roi, landmarks, (w, h))
            if failure_reason(stats, cfg) is not None:
                continue
            signature = TrackSignature(cfg.identity_recent_weight)
            signature.add(identity_signature(coefficients))
            track = Track(track_id=0, segment=self._next_segment, params=p, roi=roi, landmarks=landmarks,
                          score=det.score, first_frame=self.frame, last_frame=self.frame, signature=signature)
            self._next_segment += 1
            started.append((track, signature.mean))
        self._assign_ids([t for t, _ in started])
        self.tracks = self._drop_duplicates([(t, t.signature.mean) for t in self.tracks] + started, result)
        result.started += [t.track_id for t, _ in started if t in self.tracks]
        self._note_enough_tracks()

    def _assign_ids(self, tracks: list[Track]) -> None:
        """Old IDs for the people of the pool the new tracks show, new IDs for the rest."""
        cfg = self.config
        self._pool = [e for e in self._pool if self.frame - e.frame <= cfg.return_frames]
        active = {t.track_id for t in self.tracks}
        pairs = []
        for i, track in enumerate(tracks):
            box = box_from_landmarks(track.landmarks)
            for j, entry in enumerate(self._pool):
                if entry.track_id in active:
                    continue
                near = (entry.shot == len(self.cut_frames) and self.frame - entry.frame <= cfg.reuse_id_frames
                        and box_iou(box, entry.box) > cfg.reuse_id_iou)
                d = signature_distance(track.signature.mean, entry.signature)
                if d <= (cfg.identity_same_near if near else cfg.identity_same_far):
                    pairs.append((d, i, j))
        taken_tracks: set[int] = set()
        taken_entries: set[int] = set()
        for _, i, j in sorted(pairs):
            if i in taken_tracks or j in taken_entries:
                continue
            taken_tracks.add(i)
            taken_entries.add(j)
            tracks[i].track_id, tracks[i].new_id = self._pool[j].track_id, False
        self._pool = [e for j, e in enumerate(self._pool) if j not in taken_entries]
        for track in tracks:
            if track.track_id == 0:
                track.track_id = self._next_id
                self._next_id += 1

    def _recognise_late(self, track: Track) -> None:
        """A young track with a new ID whose recent faces match a pooled person takes
        that person's ID: a face that came in through the edge or half turned away
        was not recognisable on its first frame. Same person, same segment."""
        cfg = self.config
        if not track.new_id or not cfg.identity_min_frames <= track.signature.frames <= 3 * cfg.identity_min_frames:
            return
        active = {t.track_id for t in self.tracks}
        candidates = [(signature_distance(track.signature.recent, e.signature), k)
                      for k, e in enumerate(self._pool) if e.track_id not in active
                      and self.frame - e.frame <= cfg.return_frames]
        if not candidates:
            return
        d, k = min(candidates)
        if d <= cfg.identity_same_far:
            track.track_id, track.new_id = self._pool.pop(k).track_id, False

    def _end(self, track: Track, reason: str, result: TrackStep) -> None:
        """The track's segment is over; its person waits in the pool for ``return_frames``."""
        if track.first_frame < self.frame:  # else it was never shown: nothing was lost
            result.lost[track.track_id] = reason
        self._pool = [e for e in self._pool if e.track_id != track.track_id]
        shot = len(self.cut_frames) - (reason == "cut")  # a track ended by a cut belongs to the shot before
        self._pool.append(_PooledPerson(track.track_id, box_from_landmarks(track.landmarks), self.frame, shot,
                                        track.signature.mean))

    def _drop_duplicates(self, tracks: list[tuple[Track, np.ndarray]], result: TrackStep) -> list[Track]:
        """Two tracks on one face (a face slid over another, a re-detection of a tracked
        face): keep the one whose person the face looks like, the older on a tie."""
        if len(tracks) < 2:
            return [t for t, _ in tracks]
        kept: list[tuple[Track, np.ndarray]] = []
        for track, now in sorted(tracks, key=lambda ts: (ts[0].first_frame, ts[0].track_id)):
            rival = next((k for k in kept if box_iou(track.roi, k[0].roi) > self.config.duplicate_iou), None)
            if rival is None:
                kept.append((track, now))
                continue
            other, other_now = rival
            # A young track's mean is its current face: it would always look right.
            mature = min(track.signature.frames, other.signature.frames) >= self.config.identity_min_frames
            if mature and (signature_distance(track.signature.mean, now)
                           < signature_distance(other.signature.mean, other_now)):
                kept[kept.index(rival)] = (track, now)
                self._end(other, "duplicate", result)
            else:
                self._end(track, "duplicate", result)
        keep = {id(t) for t, _ in kept}
        return [t for t, _ in tracks if id(t) in keep]
