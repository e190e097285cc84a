"""The exports' image space, shared by the table and the image-space meshes.

x right and y down in image pixels; z in pixels along the viewing direction, larger
nearer the camera, with 0 at the model origin (the centre of the head). Unlike
``Face.landmarks`` (z shifted so its minimum is 0 on each face) this depth frame is
the same on every frame, so depths compare across frames.

The camera is a 3x4 matrix ``C``: for a model point ``X`` (model units),
``C[:, :3] @ X + C[:, 3]`` is (x, y, z) above. It is the image-space camera of the
parameters (``FaceModel.image_camera``) with its depth offset set to 0: the
regressor's depth translation is arbitrary under its orthographic camera.
"""
from __future__ import annotations

import numpy as np

from engine.face_model import N_POSE, FaceModel
from engine.results import Face


def export_camera(face: Face) -> np.ndarray:
    """(3, 4) float64 camera from model coordinates to the export's image space."""
    camera = FaceModel.image_camera(face.params, face.roi)
    camera[2, 3] = 0.0
    return camera


def camera_scale(camera: np.ndarray) -> float:
    """Image pixels per model unit: the mean length of the camera's x and y rows."""
    c = np.asarray(camera, np.float64)
    return float((np.linalg.norm(c[0, :3]) + np.linalg.norm(c[1, :3])) / 2)


def export_landmarks(model: FaceModel, face: Face) -> np.ndarray:
    """(68, 3) float32 landmarks in the export's image space."""
    return model.landmarks_from_camera(export_camera(face), np.asarray(face.params)[N_POSE:], zero_min_z=False)


def export_vertices(model: FaceModel, face: Face) -> np.ndarray:
    """(n, 3) float32 dense vertices in the export's image space (x, y as ``Face.vertices``)."""
    vertices = face.vertices if face.vertices is not None else model.dense_vertices(face.params, face.roi)
    vertices = np.array(vertices, np.float32)
    # The dense kernel shifts z to a minimum of 0; the 68 keypoint vertices equal the
    # sparse landmarks, whose depth is known, so they give the shift back.
    shift = float(np.mean(export_landmarks(model, face)[:, 2] - vertices[model.keypoints, 2]))
    vertices[:, 2] += shift
    return vertices
