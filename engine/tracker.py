"""Multi-face tracker: re-crop from the previous landmarks, detect only when needed.

    tracker = FaceTracker(analyzer)              # config from analyzer.config.tracker
    for image in frames:
        step = tracker.step(image)               # TrackStep: faces with stable track IDs
        for tf in step.faces:
            print(tf.track_id, tf.face.landmarks)

Each track crops the next frame from its previous landmarks (upstream 3DDFA_V2's
ROI rule) and regresses 62 parameters; all tracks of a frame are regressed in one
batched run. A measured failure test decides when a track is
lost (numbers in the README, measured on obama_pingpong.mp4 and the synthetic clips
of tests/video_fixtures.py). Cheap statistics run on every frame:

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

The detector (FaceBoxes) runs at start-up, on a frame where a track was lost,
while no face is tracked, every ``detect_every`` frames when configured (off by
default), and every ``recover_every`` frames for ``recover_frames`` frames after a
face was lost while others stay tracked, so a face that leaves and comes back is
found again within a few frames without paying the detector on every frame.
Detections that overlap a tracked face are that face (tracking wins: its
landmark-based ROI is more precise than a detector box); the others start new
tracks. A new track near where a track was lost shortly before takes its ID back.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from engine.config import TrackerConfig
from engine.detector import Detection
from engine.face_model import N_POSE
from engine.frames import TrackedFace
from engine.roi import box_from_landmarks, roi_from_landmarks

if TYPE_CHECKING:
    from engine.analyzer import FaceAnalyzer
    from engine.face_model import FaceModel
    from engine.results import Face

# Side of the ROI resampling the face-likeness check runs FaceBoxes on (a face fills
# about 90 px of it, matching the detector's 64 and 128 px anchors).
VERIFY_SIZE = 128
# Centre of the 120x120 crop used for the contrast statistic: the face covers about
# the central 70 % of a landmark ROI (the ROI side is the diagonal of the face box).
CONTRAST_WINDOW = slice(24, 96)


@dataclass
class Track:
    """State of one tracked face (crop-space params and the ROI they belong to)."""

    track_id: int
    params: np.ndarray
    roi: np.ndarray
    landmarks: np.ndarray
    score: float  # detector score when (re)detected
    first_frame: int
    last_frame: int
    frames_tracked: int = 1
    since_verify: int = 0  # frames since the last face-likeness check


@dataclass
class TrackStep:
    """What ``FaceTracker.step`` found in one frame."""

    faces: list[TrackedFace]
    detector_ran: bool
    started: list[int] = field(default_factory=list)  # track IDs new in this frame
    lost: dict[int, str] = field(default_factory=dict)  # track ID -> reason, lost in this frame
    timings_ms: dict[str, float] = field(default_factory=dict)  # "detect", "regress", "verify"
    stats: dict[int, dict[str, float]] = field(default_factory=dict)  # track ID -> failure statistics


@dataclass
class _LostTrack:
    track_id: int
    box: np.ndarray
    frame: int


def failure_statistics(params: np.ndarray, crop: np.ndarray, new_roi: np.ndarray, old_roi: np.ndarray,
                       landmarks: np.ndarray, frame_size: tuple[int, int], param_mean: np.ndarray,
                       param_std: np.ndarray) -> dict[str, float]:
    """The numbers the failure test looks at, for one regressed crop."""
    z = (np.asarray(params, np.float64)[N_POSE:] - param_mean[N_POSE:]) / param_std[N_POSE:]
    centre = crop[CONTRAST_WINDOW, CONTRAST_WINDOW].astype(np.float32)
    grey = centre @ np.array([0.114, 0.587, 0.299], np.float32)
    side_new = float(new_roi[2] - new_roi[0])
    side_old = float(old_roi[2] - old_roi[0])
    w, h = frame_size
    xy = landmarks[:, :2]
    inside = (xy[:, 0] >= 0) & (xy[:, 0] <= w - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= h - 1)
    ratio = side_new / side_old if side_old > 0 else float("inf")
    return {
        "param_rms": float(np.sqrt(np.mean(z * z))),
        "contrast": float(grey.std()),
        "scale_change": float(max(ratio, 1 / ratio)) if ratio > 0 else float("inf"),
        "roi_side": side_new,
        "inside": float(inside.mean()),
    }


def failure_reason(stats: dict[str, float], cfg: TrackerConfig) -> str | None:
    """None when the cheap statistics pass, else a short reason."""
    if not all(np.isfinite(v) for v in stats.values()):
        return "non-finite"
    if stats["contrast"] < cfg.min_crop_contrast:
        return "contrast"
    if stats["param_rms"] > cfg.max_param_rms:
        return "param_rms"
    if stats["scale_change"] > cfg.max_roi_scale_change or stats["roi_side"] < cfg.min_roi_side:
        return "scale"
    if stats["inside"] < cfg.min_landmarks_inside:
        return "outside"
    return None


def suspicious(stats: dict[str, float], cfg: TrackerConfig) -> bool:
    """A cheap statistic is near its limit: confirm with the face-likeness check now."""
    return (stats["contrast"] < cfg.suspect_crop_contrast or stats["param_rms"] > cfg.suspect_param_rms
            or stats["scale_change"] > cfg.suspect_roi_scale_change
            or stats["inside"] < cfg.suspect_landmarks_inside)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
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
        self.reset()

    def reset(self) -> None:
        """Forget all tracks (a new video); track IDs start again at 1."""
        self.tracks: list[Track] = []
        self.detector_calls = 0
        self.verify_calls = 0
        self.frame = -1  # index of the last frame stepped
        self._next_id = 1
        self._last_detect = -(10 ** 9)
        self._recent_lost: list[_LostTrack] = []
        self._recover_until = -1
        self._wanted = 0  # faces tracked before the latest loss

    # -- one frame --------------------------------------------------------------------

    def step(self, image: np.ndarray) -> TrackStep:
        """Track the existing faces into ``image``, detect when needed, return every face."""
        self.frame += 1
        cfg = self.config
        model = self.analyzer.face_model
        regressor = self.analyzer.regressor
        h, w = image.shape[:2]
        result = TrackStep(faces=[], detector_ran=False)
        t0 = time.perf_counter()
        verify_ms = 0.0

        # 1. every track: crop from the previous landmarks, one batched regression.
        if self.tracks:
            rois = [roi_from_landmarks(t.landmarks) for t in self.tracks]
            crops = np.stack([regressor.crop(image, r) for r in rois])
            params = regressor.run(crops)
            survivors: list[Track] = []
            for track, roi, crop, p in zip(self.tracks, rois, crops, params):
                landmarks = model.landmarks(p, roi)
                next_roi = roi_from_landmarks(landmarks)
                stats = failure_statistics(p, crop, next_roi, roi, landmarks, (w, h),
                                           model.param_mean, model.param_std)
                result.stats[track.track_id] = stats
                reason = failure_reason(stats, cfg)
                track.since_verify += 1
                if reason is None and cfg.verify_every > 0 and (
                        track.since_verify >= cfg.verify_every or suspicious(stats, cfg)):
                    tv = time.perf_counter()
                    score = self.face_score(image, next_roi)
                    verify_ms += (time.perf_counter() - tv) * 1000
                    stats["face_score"] = score
                    track.since_verify = 0
                    track.score = score
                    if score < cfg.min_face_score:
                        reason = "not_a_face"
                if reason is not None:
                    result.lost[track.track_id] = reason
                    self._remember_lost(track)
                    continue
                track.params, track.roi, track.landmarks = p, roi, landmarks
                track.last_frame = self.frame
                track.frames_tracked += 1
                survivors.append(track)
            self.tracks = self._drop_duplicates(survivors, result)
        if result.lost:
            self._wanted = max(self._wanted, len(self.tracks) + len(result.lost))
            if cfg.recover_every > 0:
                self._recover_until = self.frame + cfg.recover_frames
        if len(self.tracks) >= self._wanted:
            self._wanted = len(self.tracks)
            self._recover_until = -1
        t1 = time.perf_counter()
        result.timings_ms["regress"] = (t1 - t0) * 1000 - verify_ms
        result.timings_ms["verify"] = verify_ms

        # 2. the detector, when the schedule asks for it.
        if self._should_detect(bool(result.lost)):
            result.detector_ran = True
            self.detector_calls += 1
            self._last_detect = self.frame
            td = time.perf_counter()
            detections = self.analyzer.detector.detect(image)
            result.timings_ms["detect"] = (time.perf_counter() - td) * 1000
            tr = time.perf_counter()
            self._start_tracks(image, detections, result)
            result.timings_ms["regress"] += (time.perf_counter() - tr) * 1000
        else:
            result.timings_ms["detect"] = 0.0

        result.faces = [TrackedFace(t.track_id, self._make_face(t)) for t in self.tracks]
        return result

    def face_score(self, image: np.ndarray, roi: np.ndarray) -> float:
        """Face-likeness of a ROI: best FaceBoxes score on it resampled to 128x128 (0 if none)."""
        from engine.roi import crop_roi

        self.verify_calls += 1
        detections = self.analyzer.detector.detect(crop_roi(image, roi, VERIFY_SIZE))
        return max((d.score for d in detections), default=0.0)

    def _should_detect(self, lost_now: bool) -> bool:
        cfg = self.config
        if not self.tracks or lost_now:
            return True
        if cfg.max_faces and len(self.tracks) >= cfg.max_faces:
            return False
        since = self.frame - self._last_detect
        if cfg.detect_every > 0 and since >= cfg.detect_every:
            return True
        if self.frame <= self._recover_until and cfg.recover_every > 0 and since >= cfg.recover_every:
            return True
        return False

    def _make_face(self, track: Track) -> Face:
        return _face(self.analyzer.face_model, track)

    # -- detections -> tracks -----------------------------------------------------------

    def _start_tracks(self, image: np.ndarray, detections: list[Detection], result: TrackStep) -> None:
        cfg = self.config
        tracked_boxes = [box_from_landmarks(t.landmarks) for t in self.tracks]
        fresh = [d for d in detections
                 if all(_iou(d.box, b) <= cfg.match_iou for b in tracked_boxes)]
        if cfg.max_faces:
            fresh = fresh[: max(0, cfg.max_faces - len(self.tracks))]
        if not fresh:
            return
        model = self.analyzer.face_model
        regressor = self.analyzer.regressor
        h, w = image.shape[:2]
        params, rois = self.analyzer.regress_detections(image, fresh)
        for det, roi, p in zip(fresh, rois, params):
            landmarks = model.landmarks(p, roi)
            # The same test as for tracked faces, bar the frame-to-frame scale change:
            # a detection whose regression does not look like a face starts no track.
            stats = failure_statistics(p, regressor.crop(image, roi), roi, roi, landmarks, (w, h),
                                       model.param_mean, model.param_std)
            if failure_reason(stats, cfg) is not None:
                continue
            track_id = self._reuse_id(det.box)
            if track_id is None:
                track_id = self._next_id
                self._next_id += 1
            track = Track(track_id=track_id, params=p, roi=roi, landmarks=landmarks, score=det.score,
                          first_frame=self.frame, last_frame=self.frame)
            self.tracks.append(track)
            result.started.append(track_id)
        self.tracks = self._drop_duplicates(self.tracks, result)
        if len(self.tracks) >= self._wanted:
            self._wanted = len(self.tracks)
            self._recover_until = -1

    def _remember_lost(self, track: Track) -> None:
        self._recent_lost.append(_LostTrack(track.track_id, box_from_landmarks(track.landmarks), self.frame))

    def _reuse_id(self, box: np.ndarray) -> int | None:
        cfg = self.config
        self._recent_lost = [t for t in self._recent_lost if self.frame - t.frame <= cfg.reuse_id_frames]
        active = {t.track_id for t in self.tracks}
        best, best_iou = None, cfg.reuse_id_iou
        for lost in self._recent_lost:
            if lost.track_id in active:
                continue
            iou = _iou(box, lost.box)
            if iou > best_iou:
                best, best_iou = lost, iou
        if best is None:
            return None
        self._recent_lost.remove(best)
        return best.track_id

    def _drop_duplicates(self, tracks: list[Track], result: TrackStep) -> list[Track]:
        """Two tracks on one face (e.g. a re-detection drifted onto a tracked face): keep the older."""
        if len(tracks) < 2:
            return tracks
        order = sorted(tracks, key=lambda t: (t.first_frame, t.track_id))
        kept: list[Track] = []
        for t in order:
            if all(_iou(t.roi, k.roi) <= self.config.duplicate_iou for k in kept):
                kept.append(t)
            else:
                result.lost[t.track_id] = "duplicate"
                if t.track_id in result.started:
                    result.started.remove(t.track_id)
        keep_ids = {t.track_id for t in kept}
        return [t for t in tracks if t.track_id in keep_ids]


def _face(model: FaceModel, track: Track) -> Face:
    from engine.results import Face

    return Face(box=box_from_landmarks(track.landmarks), score=float(track.score),
                roi=np.asarray(track.roi, np.float32), params=np.asarray(track.params, np.float32),
                landmarks=track.landmarks, pose=model.head_pose(track.params), vertices=None)
