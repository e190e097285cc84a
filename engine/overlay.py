"""2D overlays drawn with OpenCV: landmarks, pose axes, boxes, labels.

Shared by `tracker-app detect`, the overlay video of `tracker-app track` and the
GUI's "save frame" when no OpenGL context is at hand.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from engine.face_model import NOSE_TIP, FaceModel
from engine.results import Face

# BGR colours: axes follow the x=red, y=green, z=blue habit of 3D tools.
AXIS_COLOURS = ((0, 0, 255), (0, 200, 0), (255, 80, 0))
LANDMARK_COLOUR = (60, 255, 60)
BOX_COLOUR = (255, 200, 0)
# Axis length as a fraction of the face box's mean side.
AXIS_LENGTH = 0.5


def draw_faces(image: np.ndarray, faces: Sequence[Face], labels: Sequence[str] | None = None,
               draw_box: bool = True) -> np.ndarray:
    """Copy of ``image`` with every face's landmarks, pose axes, box and optional label."""
    out = image.copy()
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
    origin = face.landmarks[NOSE_TIP, :2]
    tips = FaceModel.pose_axes_2d(face.pose, origin, AXIS_LENGTH * side)
    o = (int(round(origin[0])), int(round(origin[1])))
    # Draw the axis pointing away from the viewer first so nearer axes stay on top.
    for k in np.argsort(face.pose.rotation[2, :]):
        tip = (int(round(tips[k, 0])), int(round(tips[k, 1])))
        cv2.arrowedLine(image, o, tip, AXIS_COLOURS[k], thickness + 1, cv2.LINE_AA, tipLength=0.15)
    if label:
        org = (int(round(face.box[0])), int(round(face.box[1])) - 4 * thickness)
        cv2.putText(image, label, org, cv2.FONT_HERSHEY_SIMPLEX, 0.4 + side / 400, BOX_COLOUR,
                    thickness, cv2.LINE_AA)
