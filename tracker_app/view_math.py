"""Matrices for the GL view: image-pixel overlay projection and the 3D orbit camera. No Qt.

Matrices are NumPy float32 in the usual column-vector convention (``clip = M @ p``);
upload them with transpose=GL_TRUE.

Image space (the engine's): x right, y down, z towards the viewer, pixels.
Eye space (OpenGL's): x right, y up, z towards the viewer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

IMAGE_TO_EYE = np.diag([1.0, -1.0, 1.0]).astype(np.float32)  # flips y; normals map the same way
FIT_MARGIN = 0.08  # 3D view: share of the half-view left free around the framed faces


def fit_rect(content_w: int, content_h: int, view_w: int, view_h: int) -> tuple[int, int, int, int]:
    """Largest (x, y, w, h) with the content's aspect ratio centred in the view (GL y up)."""
    if content_w <= 0 or content_h <= 0 or view_w <= 0 or view_h <= 0:
        return 0, 0, max(view_w, 0), max(view_h, 0)
    scale = min(view_w / content_w, view_h / content_h)
    w, h = max(1, round(content_w * scale)), max(1, round(content_h * scale))
    return (view_w - w) // 2, (view_h - h) // 2, w, h


def image_projection(width: int, height: int) -> np.ndarray:
    """Image pixels -> clip space for a viewport showing exactly the frame.

    Pixel centres are on integers (OpenCV, engine.render), so the frame spans
    [-0.5, w - 0.5]. Depth: z in [0, w + h] maps into [0, 1) of NDC with larger z
    nearer; meshes are shifted so their smallest z is 0 and are never deeper than
    the frame is wide.
    """
    w, h = float(width), float(height)
    depth = w + h
    m = np.zeros((4, 4), np.float32)
    m[0, 0], m[0, 3] = 2.0 / w, -1.0 + 1.0 / w
    m[1, 1], m[1, 3] = -2.0 / h, 1.0 - 1.0 / h
    m[2, 2], m[2, 3] = -1.0 / depth, 0.5
    m[3, 3] = 1.0
    return m


def perspective(fov_y_deg: float, aspect: float, near: float, far: float) -> np.ndarray:
    f = 1.0 / math.tan(math.radians(fov_y_deg) / 2)
    m = np.zeros((4, 4), np.float32)
    m[0, 0] = f / max(aspect, 1e-6)
    m[1, 1] = f
    m[2, 2] = (far + near) / (near - far)
    m[2, 3] = 2 * far * near / (near - far)
    m[3, 2] = -1.0
    return m


def rotation_x(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]], np.float32)


def rotation_y(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], np.float32)


@dataclass
class OrbitCamera:
    """Turntable camera around the mesh: drag to orbit, wheel to zoom.

    yaw/pitch turn the mesh in front of a fixed camera; distance is in units of
    the mesh radius, so the framing does not depend on how large the face is in
    the video.
    """

    yaw: float = 0.0
    pitch: float = 0.0
    distance: float = 3.0
    fov_y: float = 30.0
    min_distance: float = 1.2
    max_distance: float = 20.0
    degrees_per_pixel: float = 0.4
    zoom_per_wheel_step: float = 1.1  # one 15-degree wheel notch

    def orbit(self, dx_px: float, dy_px: float) -> None:
        self.yaw = (self.yaw + dx_px * self.degrees_per_pixel + 180.0) % 360.0 - 180.0
        self.pitch = float(np.clip(self.pitch + dy_px * self.degrees_per_pixel, -89.0, 89.0))

    def zoom(self, wheel_steps: float) -> None:
        """Positive steps (wheel away from the user) move closer."""
        self.distance = float(np.clip(self.distance / self.zoom_per_wheel_step ** wheel_steps,
                                      self.min_distance, self.max_distance))

    def reset(self) -> None:
        self.yaw = self.pitch = 0.0
        self.distance = OrbitCamera.distance

    def rotation(self) -> np.ndarray:
        """Image space -> eye space rotation (3, 3), including the y flip."""
        return (rotation_x(self.pitch) @ rotation_y(self.yaw) @ IMAGE_TO_EYE).astype(np.float32)

    def framing(self, points: np.ndarray, aspect: float) -> tuple[np.ndarray, float, float]:
        """(centre, radius, depth radius) for ``mvp`` so that, at the default ``distance``, every one
        of ``points`` (image space, (n, 3)) is inside the view with a ``FIT_MARGIN`` border, at the
        current rotation. Zooming scales from there."""
        points = np.asarray(points, np.float32).reshape(-1, 3)
        lo, hi = points.min(axis=0), points.max(axis=0)
        center = (lo + hi) / 2
        eye = (points - center) @ self.rotation().T
        tan_y = math.tan(math.radians(self.fov_y) / 2) * (1 - FIT_MARGIN)
        tan_x = tan_y * max(aspect, 1e-6)
        # The nearest camera distance at which a point (x, y, z) projects inside: d - z >= |x| / tan_x.
        need = np.maximum(np.abs(eye[:, 0]) / tan_x, np.abs(eye[:, 1]) / tan_y) + eye[:, 2]
        depth = float(np.linalg.norm(hi - lo) / 2)
        fit = max(float(need.max()), 1e-3)
        return center, fit / OrbitCamera.distance, max(depth, 1e-3)

    def mvp(self, center: np.ndarray, radius: float, aspect: float, depth_radius: float | None = None) -> np.ndarray:
        """Image-space points -> clip space: centre the mesh, turn it, look at it from ``distance``
        (in units of ``radius``); the clip planes keep ``depth_radius`` (default ``radius``) around it."""
        radius = max(float(radius), 1e-3)
        depth = radius if depth_radius is None else max(float(depth_radius), 1e-3)
        dist = self.distance * radius
        model_view = np.eye(4, dtype=np.float32)
        model_view[:3, :3] = self.rotation()
        model_view[:3, 3] = -(self.rotation() @ np.asarray(center, np.float32))
        model_view[2, 3] -= dist
        proj = perspective(self.fov_y, aspect, max(dist - 2 * depth, dist * 0.05), dist + 2 * depth)
        return (proj @ model_view).astype(np.float32)
