"""The face check of a tracked face: cheap statistics on every frame, and when to doubt them.

A track's crop is regressed every frame; these numbers (measured in docs/tracking.md on
obama_pingpong.mp4 and the synthetic clips of tests/support/video_fixtures.py) say
whether what was regressed is still a face:

* ``contrast``: standard deviation of the grey levels in the centre of the 120x120
  crop. Faces: >= 22 (obama min 22.2, emma patches >= 28); blank frames 0, flat
  background 2-9. Under ``min_crop_contrast`` the face is gone.
* ``param_rms``: root mean square of the whitened 40 identity + 10 expression
  coefficients. Faces <= 0.58 (obama max); exploding regressions go far above.
* ``scale_change``: ROI side ratio from one frame to the next (obama max 1.055).
* ``inside``: fraction of the 68 landmarks inside the frame.

Those cannot tell a face from textured background the regressor has drifted onto, so
a face-likeness check (FaceBoxes on the ROI resampled to 128x128, about a fiftieth of
a 720p detection) runs every ``verify_every`` frames per track, and at once when a
cheap statistic is in its "suspicious" band. Faces score >= 0.94 (obama min 0.978),
crops without a face <= 0.06.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from engine.config import TrackerConfig

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


