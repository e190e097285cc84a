"""Head space and scene space: the metric, y-up frames of the animation and head-mesh exports.

**Head space** is the face model's own frame with the pose removed, in metres:

* origin: the model's origin (inside the head, about 74 mm behind the mean face's
  centroid and 132 mm behind the nose tip); the regressed camera rotates about it,
  so it is the natural pivot of the head;
* axes: +X towards the viewer's right (the subject's left), **+Y up**, **+Z out of the
  face** (the face looks down +Z), right-handed: the glTF convention (Blender's glTF
  and OBJ importers turn it into its own Z-up, face towards -Y, i.e. towards the
  front view);
* units: the model is in micrometres (DATA.md: 1.5 mm = 1,500 units; the mean face is
  154,664 units from ear to ear and 86,262 between the outer eye corners), so
  ``METRES_PER_MODEL_UNIT = 1e-6`` and the mean face is 0.155 m wide.

``head_space_vertices`` gives the per-frame head mesh: mean + identity + expression of
that frame, no camera, ``(n, 3)`` float32 metres.

**Scene space** is where the node animation puts the head: the image plane seen from
the camera, in metres, glTF convention again: origin at the image centre, +X right,
+Y up (image rows go down), +Z towards the camera. Its scale is set per track by
``metres_per_pixel``: ``METRES_PER_MODEL_UNIT / s0`` with ``s0`` the image scale
(pixels per model unit) of the track's first frame, so that on that frame the head
has its true metric size. The camera is weak-perspective (orthographic with a
scale): depth is not observed, so the head's origin stays on Z = 0 and a head moving
towards the camera grows (scale > 1) instead of moving in Z.

``head_transform`` gives the pose of one frame, ``scene = T + s * R @ head``:

* ``rotation``: unit quaternion (x, y, z, w), glTF order, of the nearest rotation to
  the camera's first two rows (the regressed rows are about 1e-2 from orthogonal;
  ``FaceModel.head_pose`` does the same SVD), sign chosen by the caller for
  continuity;
* ``translation``: metres, (x, y, 0);
* ``scale``: uniform, image scale of this frame / ``s0``.

Because the regressed camera is an affine map slightly off a similarity, ``T + s R h``
differs from the image-space mesh mapped to scene space (``image_to_scene``) by a
small shear: up to 0.4 % of the face width in x, y on obama.mp4 (0.7 mm on a 155 mm
face); the head-space mesh itself is exact.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.face_model import N_POSE, N_SHAPE, FaceModel

METRES_PER_MODEL_UNIT = 1e-6
# Image y points down, scene y up: the one axis flip between the two.
_FLIP_Y = np.diag([1.0, -1.0, 1.0])


@dataclass(frozen=True)
class HeadTransform:
    """One frame's head pose in scene space: ``scene = translation + scale * R(rotation) @ head``."""

    rotation: np.ndarray  # (4,) float64 unit quaternion x, y, z, w (glTF order)
    translation: np.ndarray  # (3,) float64 metres; z is 0 (weak perspective)
    scale: float  # uniform, relative to the track's first frame

    def matrix(self) -> np.ndarray:
        """(4, 4) float64 scene-from-head matrix (column vectors)."""
        m = np.eye(4)
        m[:3, :3] = self.scale * quaternion_to_matrix(self.rotation)
        m[:3, 3] = self.translation
        return m


def head_space_vertices(face_model: FaceModel, coefficients: np.ndarray) -> np.ndarray:
    """(n, 3) float32 head-space vertices in metres for 50 coefficients (40 identity, 10 expression).

    The dense kernel shifts its third output row to a minimum of 0 (image depth has no
    origin), so x, y come from one pass and z from a second pass that puts z in the first row.
    """
    coefficients = np.asarray(coefficients, np.float32).reshape(-1)
    xy_pass = np.zeros((3, 4), np.float32)
    xy_pass[0, 0] = xy_pass[1, 1] = METRES_PER_MODEL_UNIT
    z_pass = np.zeros((3, 4), np.float32)
    z_pass[0, 2] = METRES_PER_MODEL_UNIT
    out = face_model.dense_from_camera(xy_pass, coefficients)
    out[:, 2] = face_model.dense_from_camera(z_pass, coefficients)[:, 0]
    return out


def image_scale(camera: np.ndarray) -> float:
    """Pixels per model unit of an image-space camera (mean norm of its first two rows)."""
    cam = np.asarray(camera, np.float64).reshape(3, 4)
    return float((np.linalg.norm(cam[0, :3]) + np.linalg.norm(cam[1, :3])) / 2)


def metres_per_pixel(reference_camera: np.ndarray) -> float:
    """Scene-space metres per image pixel that give the head its true size under ``reference_camera``."""
    scale = image_scale(reference_camera)
    if not (scale > 0 and np.isfinite(scale)):
        raise ValueError("degenerate image camera")
    return METRES_PER_MODEL_UNIT / scale


def head_transform(camera: np.ndarray, image_size: tuple[int, int], metres_per_px: float) -> HeadTransform:
    """The head pose of one frame in scene space.

    ``camera``: the (3, 4) image-space camera (``FaceModel.image_camera``);
    ``image_size``: (width, height) in pixels; ``metres_per_px``: from ``metres_per_pixel``.
    """
    cam = _FLIP_Y @ np.asarray(camera, np.float64).reshape(3, 4)  # rows now in scene axes (y up)
    # FaceModel.head_pose reads the pose from the first two camera rows; scaling them
    # by the crop -> image factor changes its scale, not its rotation.
    pose = FaceModel.head_pose(np.concatenate([cam.reshape(-1), np.zeros(62 - N_POSE)]))
    width, height = image_size
    translation = np.array([(cam[0, 3] - width / 2) * metres_per_px,
                            (cam[1, 3] + height / 2) * metres_per_px,  # -(y_image - height/2)
                            0.0])
    scale = pose.scale * metres_per_px / METRES_PER_MODEL_UNIT
    return HeadTransform(rotation=matrix_to_quaternion(pose.rotation.astype(np.float64)),
                         translation=translation, scale=float(scale))


def image_to_scene(vertices: np.ndarray, image_size: tuple[int, int], metres_per_px: float) -> np.ndarray:
    """(n, 3) float64 scene-space points of image-space points (pixels, y down, z from the camera's
    arbitrary depth origin); z keeps that origin, so compare x, y or z up to a constant."""
    v = np.asarray(vertices, np.float64).reshape(-1, 3)
    width, height = image_size
    out = np.empty_like(v)
    out[:, 0] = (v[:, 0] - width / 2) * metres_per_px
    out[:, 1] = (height / 2 - v[:, 1]) * metres_per_px
    out[:, 2] = v[:, 2] * metres_per_px
    return out


def identity_coefficients(params: np.ndarray) -> np.ndarray:
    """(40,) identity part of 62 parameters."""
    return np.asarray(params, np.float32).reshape(-1)[N_POSE:N_POSE + N_SHAPE]


def expression_coefficients(params: np.ndarray) -> np.ndarray:
    """(10,) expression part of 62 parameters."""
    return np.asarray(params, np.float32).reshape(-1)[N_POSE + N_SHAPE:]


def matrix_to_quaternion(rotation: np.ndarray) -> np.ndarray:
    """(4,) unit quaternion x, y, z, w of a 3x3 rotation matrix (Shepperd's method, w >= 0)."""
    r = np.asarray(rotation, np.float64).reshape(3, 3)
    trace = r[0, 0] + r[1, 1] + r[2, 2]
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = np.array([(r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s, s / 4])
    elif r[0, 0] > r[1, 1] and r[0, 0] > r[2, 2]:
        s = 2.0 * np.sqrt(1.0 + r[0, 0] - r[1, 1] - r[2, 2])
        q = np.array([s / 4, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s, (r[2, 1] - r[1, 2]) / s])
    elif r[1, 1] > r[2, 2]:
        s = 2.0 * np.sqrt(1.0 + r[1, 1] - r[0, 0] - r[2, 2])
        q = np.array([(r[0, 1] + r[1, 0]) / s, s / 4, (r[1, 2] + r[2, 1]) / s, (r[0, 2] - r[2, 0]) / s])
    else:
        s = 2.0 * np.sqrt(1.0 + r[2, 2] - r[0, 0] - r[1, 1])
        q = np.array([(r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, s / 4, (r[1, 0] - r[0, 1]) / s])
    q /= np.linalg.norm(q)
    return q if q[3] >= 0 else -q


def quaternion_to_matrix(quaternion: np.ndarray) -> np.ndarray:
    """3x3 rotation matrix of a unit quaternion x, y, z, w."""
    x, y, z, w = (float(v) for v in np.asarray(quaternion, np.float64).reshape(4))
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])
