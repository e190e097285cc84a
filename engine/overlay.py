"""2D overlays drawn with OpenCV: landmarks, pose axes, boxes, labels, eyelids and gaze.

Shared by `tracker-app detect`, the overlay video of `tracker-app track` and the
GUI's "save frame" when no OpenGL context is at hand.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from engine.config import EyesConfig
from engine.face_model import NOSE_TIP, FaceModel
from engine.image_input import copy_into
from engine.results import Face

# BGR colours: axes follow the x=red, y=green, z=blue habit of 3D tools.
AXIS_COLOURS = ((0, 0, 255), (0, 200, 0), (255, 80, 0))
LANDMARK_COLOUR = (60, 255, 60)
BOX_COLOUR = (255, 200, 0)
EYE_OPEN_COLOUR = (255, 255, 255)  # eyelid contour of an open eye (white); a closed one is magenta
EYE_CLOSED_COLOUR = (255, 0, 255)
GAZE_COLOUR = (0, 215, 255)
GAZE_LENGTH = 2.0  # gaze arrow length, in eye widths, for an eye looking straight at the camera
# Axis length as a fraction of the face box's mean side.
AXIS_LENGTH = 0.5
LABEL_FONT = 0  # cv2.FONT_HERSHEY_SIMPLEX (engine modules import cv2 lazily)
LABEL_MARGIN = 3  # px kept free between a label and the pose axes
AXIS_SAMPLES = 64  # points per axis tested against a label's box


def draw_faces(image: np.ndarray, faces: Sequence[Face], labels: Sequence[str] | None = None,
               draw_box: bool = True, out: np.ndarray | None = None) -> np.ndarray:
    """Copy of ``image`` with every face's landmarks, pose axes, box and optional label.

    ``out``: an array of the image's shape and type to draw into instead of a new one
    (a writer that encodes each overlay at once can keep one)."""
    out = copy_into(image, out)
    for i, face in enumerate(faces):
        label = labels[i] if labels is not None else None
        draw_face(out, face, label=label, draw_box=draw_box)
    return out


def draw_face(image: np.ndarray, face: Face, label: str | None = None, draw_box: bool = True) -> None:
    """Draw one face in place."""
    import cv2

    side = float((face.box[2] - face.box[0] + face.box[3] - face.box[1]) / 2)
    thickness = max(1, int(round(side / 120)))
    radius = max(1, int(round(side / 100)))
    if draw_box:
        p1 = tuple(int(round(v)) for v in face.box[:2])
        p2 = tuple(int(round(v)) for v in face.box[2:4])
        cv2.rectangle(image, p1, p2, BOX_COLOUR, thickness, cv2.LINE_AA)
    for x, y in face.landmarks[:, :2]:
        if np.isfinite(x) and np.isfinite(y):
            cv2.circle(image, (int(round(x)), int(round(y))), radius, LANDMARK_COLOUR, -1, cv2.LINE_AA)
    if face.eyes is not None:
        draw_eyes(image, face, thickness)
    origin = face.landmarks[NOSE_TIP, :2]
    tips = FaceModel.pose_axes_2d(face.pose, origin, AXIS_LENGTH * side)
    o = (int(round(origin[0])), int(round(origin[1])))
    # Draw the axis pointing away from the viewer first so nearer axes stay on top.
    for k in np.argsort(face.pose.rotation[2, :]):
        tip = (int(round(tips[k, 0])), int(round(tips[k, 1])))
        cv2.arrowedLine(image, o, tip, AXIS_COLOURS[k], thickness + 1, cv2.LINE_AA, tipLength=0.15)
    if label:
        scale = 0.4 + side / 400
        (w, h), baseline = cv2.getTextSize(label, LABEL_FONT, scale, thickness)
        segments = [(origin, tips[k]) for k in range(3)]
        x, y = label_origin(face.box, (w, h + baseline), segments, 4 * thickness, image.shape[:2])
        cv2.putText(image, label, (x, y + h), LABEL_FONT, scale, BOX_COLOUR, thickness, cv2.LINE_AA)


@dataclass(frozen=True)
class EyeLines:
    """What the overlays draw of one measured eye, in image pixels (the app's GL view too)."""

    contour: np.ndarray  # (6, 2) the lid contour (landmarks 36-41 or 42-47), closed polygon
    closed: bool  # openness under ``closed_below`` (a blink's threshold): drawn in EYE_CLOSED_COLOUR
    gaze: tuple[np.ndarray, np.ndarray] | None  # arrow (start at the pupil, end); None when closed
    landmarks: range  # the contour's landmark indices (36-41 right eye, 42-47 left)
    # The arrow in 3D, image axes (x right, y down, z towards the viewer): its first two
    # components are gaze end - start (the 3D view draws it from the eye); None with ``gaze``.
    gaze_vector: np.ndarray | None


def eye_lines(face: Face, closed_below: float = EyesConfig.closed_below) -> list[EyeLines]:
    """The lid contour and gaze arrow of each measured eye of ``face`` (none when not measured).

    The arrow is the eyeball's direction (head pose, then the eye's yaw and pitch)
    projected into the image, ``GAZE_LENGTH`` eye widths long for an eye looking straight
    at the camera."""
    if face.eyes is None:
        return []
    rotation = np.asarray(face.pose.rotation, np.float64)  # model -> crop axes (y up)
    out = []
    for contour, eye in ((range(36, 42), face.eyes.right), (range(42, 48), face.eyes.left)):
        points = np.asarray(face.landmarks[list(contour), :2], np.float64)
        if not eye.valid or not np.isfinite(points).all():
            continue
        closed = bool(eye.openness < closed_below)
        gaze, vector = None, None
        if not closed and np.isfinite(eye.pupil).all():
            yaw, pitch = np.radians(eye.yaw), np.radians(eye.pitch)
            # Model axes: x the subject's left, y up, z forward; yaw > 0 to the subject's right, pitch > 0 down.
            g = rotation @ np.array([-np.sin(yaw) * np.cos(pitch), -np.sin(pitch), np.cos(yaw) * np.cos(pitch)])
            width = float(np.linalg.norm(points[3] - points[0]))
            vector = GAZE_LENGTH * width * np.array([g[0], -g[1], g[2]])  # crop y is up, image y down
            start = np.array(eye.pupil, np.float64)
            gaze = (start, start + vector[:2])
        out.append(EyeLines(points, closed, gaze, contour, vector))
    return out


def draw_eyes(image: np.ndarray, face: Face, thickness: int = 1) -> None:
    """Each measured eye's lid contour (white open, magenta closed) and its gaze arrow, in place."""
    import cv2

    for lines in eye_lines(face):
        colour = EYE_CLOSED_COLOUR if lines.closed else EYE_OPEN_COLOUR
        cv2.polylines(image, [np.round(lines.contour).astype(np.int32)], True, colour, thickness, cv2.LINE_AA)
        if lines.gaze is not None:
            start, end = (tuple(int(round(v)) for v in p) for p in lines.gaze)
            cv2.arrowedLine(image, start, end, GAZE_COLOUR, thickness, cv2.LINE_AA, tipLength=0.25)


def label_origin(box: np.ndarray, size: tuple[int, int], segments: Sequence[tuple[np.ndarray, np.ndarray]],
                 gap: int, image_hw: tuple[int, ...]) -> tuple[int, int]:
    """Top-left corner of a face's label of ``size`` (w, h): the first corner of the box (above it on
    the left, then right, then below) where it crosses none of ``segments`` (the pose axes) and
    stays in the image; the least crossed one when every corner is crossed."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    w, h = size
    height, width = int(image_hw[0]), int(image_hw[1])
    candidates = [(x1, y1 - gap - h), (x2 - w, y1 - gap - h), (x1, y2 + gap), (x2 - w, y2 + gap)]
    samples = np.concatenate([np.linspace(a, b, AXIS_SAMPLES) for a, b in segments]) if segments else np.zeros((0, 2))
    best: tuple[int, int, int] | None = None
    for cx, cy in candidates:
        cx = float(np.clip(cx, 0, max(0, width - w)))
        cy = float(np.clip(cy, 0, max(0, height - h)))
        inside = ((samples[:, 0] >= cx - LABEL_MARGIN) & (samples[:, 0] <= cx + w + LABEL_MARGIN)
                  & (samples[:, 1] >= cy - LABEL_MARGIN) & (samples[:, 1] <= cy + h + LABEL_MARGIN))
        hits = int(inside.sum())
        if best is None or hits < best[0]:
            best = (hits, int(round(cx)), int(round(cy)))
        if hits == 0:
            break
    assert best is not None
    return best[1], best[2]
