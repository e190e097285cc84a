"""Which track claims which of a frame's detections, before any is regressed.

    claims = claim_detections(detections, tracks, frame, config, strong_score)
    claims.moved    # [(detection, track)]: coasting tracks brought back, drifted faces re-anchored
    claims.fresh    # strong detections no track claims: each may start a tentative track

One global assignment per frame (``engine.assignment``, the Hungarian method on
1 - IoU) in ByteTrack's cascade: faces in view claim detections first (IoU of at least
``match_iou`` with where their landmarks are), coasting tracks then take what is left
at their predicted boxes with a looser gate (``coast_match_iou``). The tracker
(``engine.tracker``) regresses what is claimed here and decides from the faces found.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.assignment import assign
from engine.config import TrackerConfig
from engine.detector import Detection
from engine.face_check import box_iou
from engine.roi import box_from_landmarks
from engine.tracks import Track


@dataclass
class DetectionClaims:
    """What a frame's detections are for."""

    moved: list[tuple[Detection, Track]]  # coasting tracks revived, then faces in view re-anchored
    fresh: list[Detection]  # unclaimed strong detections, within ``max_faces``


def claim_detections(detections: list[Detection], tracks: list[Track], frame: int, config: TrackerConfig,
                     strong_score: float) -> DetectionClaims:
    """Assign ``detections`` to ``tracks`` (visible ones at their faces seen on ``frame``,
    the others at their predictions). Only a detection scoring ``strong_score`` (the
    detector's own threshold) may start a track: weaker ones may only revive one."""
    cfg = config
    if not detections:
        return DetectionClaims([], [])
    boxes = [box_from_landmarks(t.landmarks) if t.last_seen == frame else t.motion.box for t in tracks]
    cost = np.array([[1.0 - box_iou(d.box, b) for b in boxes] for d in detections]).reshape(len(detections),
                                                                                          len(boxes))
    # Visible faces first, then coasting ones with the detections left (ByteTrack's cascade):
    # a hidden face's prediction must not take the detection of a face in plain view.
    visible = [j for j, t in enumerate(tracks) if t.visible]
    coasting = [j for j, t in enumerate(tracks) if not t.visible]
    taken = [(i, visible[j]) for i, j in assign(cost[:, visible], 1.0 - cfg.match_iou)]
    claimed = {i for i, _ in taken}
    # A face in view whose detection overlaps it only loosely has drifted (landmarks
    # sliding to the chin of a face looking down): it moves to its detection.
    anchor = [(detections[i], tracks[j]) for i, j in taken if 1.0 - cost[i, j] < cfg.anchor_iou]
    rest = [i for i in range(len(detections)) if i not in claimed]
    revivals = assign(cost[np.ix_(rest, coasting)], 1.0 - cfg.coast_match_iou)
    revive = [(detections[rest[i]], tracks[coasting[j]]) for i, j in revivals]
    claimed |= {rest[i] for i, _ in revivals}
    # A detection overlapping any visible face is that face, even if another detection won it.
    fresh = [d for i, d in enumerate(detections) if i not in claimed and d.score >= strong_score
             and all(box_iou(d.box, b) <= cfg.match_iou for b, t in zip(boxes, tracks) if t.visible)]
    room = cfg.max_faces - sum(t.visible for t in tracks) if cfg.max_faces else len(fresh)
    return DetectionClaims(moved=revive + anchor, fresh=fresh[: max(0, room)])
