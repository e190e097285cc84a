"""The drawing of one frame's layers with a GpuScene: the video with its overlays (mesh, pose axes,
landmarks, eyes), or the meshes and gaze arrows alone in 3D. No Qt: the view makes its context
current, uploads the frame and says where to draw.

Video mode draws in image pixels inside the frame rectangle; a mirrored view flips x after the
image projection and the normals before lighting, so the mesh stays lit as before.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from OpenGL import GL

from engine.overlay import LANDMARK_COLOUR
from engine.render import DEFAULT_COLOR_BGR, Light
from tracker_app.display_frame import DisplayFrame
from tracker_app.gl_scene import GpuScene, MeshLook
from tracker_app.mesh_lod import choose_lod
from tracker_app.settings import OverlayOptions
from tracker_app.view_math import IMAGE_TO_EYE, OrbitCamera, image_projection

WIREFRAME_DARKEN = 0.75  # wireframe lines are the mesh colour a little darker
# Landmark dots: diameter as a fraction of the face box side, never below a few screen pixels.
LANDMARK_SIZE = 1 / 55
MIN_LANDMARK_PX = 4.0
# Mirror view: image x -> (width - 1) - x, applied after the image projection (clip space)
# and to normals before lighting, so the mesh stays lit as before.
MIRROR_CLIP = np.diag([-1.0, 1.0, 1.0, 1.0]).astype(np.float32)
MIRROR_NORMALS = np.diag([-1.0, 1.0, 1.0]).astype(np.float32)


def _rgb(bgr: tuple[Any, ...]) -> tuple[float, float, float]:
    b, g, r = (float(c) for c in bgr)
    scale = 255.0 if max(b, g, r) > 1.0 else 1.0
    return r / scale, g / scale, b / scale


def clear(width: int, height: int, background: tuple[float, float, float]) -> None:
    """The whole width x height target to ``background``, depth cleared."""
    GL.glViewport(0, 0, width, height)
    GL.glClearColor(*background, 1.0)
    GL.glClear(GL.GL_COLOR_BUFFER_BIT | GL.GL_DEPTH_BUFFER_BIT)


def unbind() -> None:
    """Leave no vertex array or program bound for whoever draws next in this context (Qt too)."""
    GL.glBindVertexArray(0)
    GL.glUseProgram(0)


class LayerPainter:
    """Draws a DisplayFrame already uploaded to a GpuScene; keeps the light, fixed in eye space."""

    def __init__(self) -> None:
        light = Light()
        d = IMAGE_TO_EYE @ light.unit_direction().astype(np.float32)
        self._light_eye = d / np.linalg.norm(d)
        self._light = light

    def video(self, gpu: GpuScene, frame: DisplayFrame, overlay: OverlayOptions,
              rect: tuple[int, int, int, int], mirror: bool) -> None:
        """The frame in ``rect`` (x, y, w, h; device pixels, GL origin) and the overlays asked for."""
        x, y, w, h = rect
        GL.glViewport(x, y, w, h)
        GL.glDisable(GL.GL_BLEND)
        GL.glDisable(GL.GL_DEPTH_TEST)
        GL.glUseProgram(gpu.programs["frame"])
        GL.glActiveTexture(GL.GL_TEXTURE0)
        GL.glBindTexture(GL.GL_TEXTURE_2D, gpu.texture)
        gpu.uniforms["frame"].set_int("u_frame", 0)
        GL.glBindVertexArray(gpu.empty_vao)
        GL.glDrawArrays(GL.GL_TRIANGLE_STRIP, 0, 4)
        if not frame.n_faces:
            return
        img_h, img_w = frame.image.shape[:2]
        mvp = image_projection(img_w, img_h)
        normal_to_eye = IMAGE_TO_EYE
        if mirror:
            mvp = MIRROR_CLIP @ mvp
            normal_to_eye = IMAGE_TO_EYE @ MIRROR_NORMALS
        if overlay.show_mesh and overlay.mesh_opacity > 0:
            xy = frame.arrays.mesh[:, :2]
            box = np.ptp(xy, axis=0) * (w / img_w)
            lod = choose_lod(gpu.lod_counts(), float(box[0] * box[1]) * frame.n_faces)
            self._mesh(gpu, frame, mvp, normal_to_eye, overlay.mesh_opacity, overlay.wireframe, lod)
        GL.glDisable(GL.GL_DEPTH_TEST)
        if overlay.show_axes and frame.arrays.axes.size:
            _triangles(gpu, mvp, gpu.axes_vao, len(frame.arrays.axes))
        if overlay.show_landmarks and frame.arrays.landmarks.size:
            face = frame.primary_face()
            assert face is not None  # landmarks are drawn only with a face
            side = float(face.box[2] - face.box[0] + face.box[3] - face.box[1]) / 2
            size = max(MIN_LANDMARK_PX, side * LANDMARK_SIZE * w / img_w)
            GL.glEnable(GL.GL_PROGRAM_POINT_SIZE)
            GL.glUseProgram(gpu.programs["points"])
            u = gpu.uniforms["points"]
            u.set_matrix4("u_mvp", mvp)
            u.set_float("u_size", size)
            u.set_vec3("u_color", _rgb(LANDMARK_COLOUR))
            GL.glBindVertexArray(gpu.points_vao)
            GL.glDrawArrays(GL.GL_POINTS, 0, len(frame.arrays.landmarks))
        if overlay.show_eyes and frame.arrays.eyes.size:
            # Over the landmark dots, as engine.overlay draws them: the lids pass through the eye's six.
            _triangles(gpu, mvp, gpu.eyes_vao, len(frame.arrays.eyes))

    def orbit(self, gpu: GpuScene, frame: DisplayFrame, overlay: OverlayOptions, mvp: np.ndarray,
              camera: OrbitCamera, height: int) -> None:
        """The meshes (opaque) seen through ``mvp`` in a view ``height`` pixels tall, and the gaze arrows."""
        if not frame.n_faces:
            return
        # On-screen size of the mesh: its bounding sphere seen from the orbit distance.
        diameter_px = height / camera.distance / np.tan(np.radians(camera.fov_y) / 2)
        lod = choose_lod(gpu.lod_counts(), diameter_px ** 2 * frame.n_faces)
        self._mesh(gpu, frame, mvp, camera.rotation(), 1.0, overlay.wireframe, lod)
        if overlay.show_eyes and frame.arrays.gaze.size:
            # Depth-tested against the mesh (left on by _mesh): the head hides the arrows behind it.
            _triangles(gpu, mvp, gpu.gaze_vao, len(frame.arrays.gaze))

    def _mesh(self, gpu: GpuScene, frame: DisplayFrame, mvp: np.ndarray, normal_to_eye: np.ndarray,
              opacity: float, wireframe: bool, lod: int) -> None:
        colour = np.asarray(_rgb(DEFAULT_COLOR_BGR), np.float32) * (WIREFRAME_DARKEN if wireframe else 1.0)
        gpu.draw_meshes(frame, MeshLook(mvp, normal_to_eye, colour, opacity, wireframe, self._light_eye,
                                        self._light), lod)


def _triangles(gpu: GpuScene, mvp: np.ndarray, vao: int, count: int) -> None:
    """Coloured triangles (axes, eyes, gaze arrows: position and colour per vertex) through ``mvp``."""
    GL.glUseProgram(gpu.programs["colored"])
    gpu.uniforms["colored"].set_matrix4("u_mvp", mvp)
    GL.glBindVertexArray(vao)
    GL.glDrawArrays(GL.GL_TRIANGLES, 0, count)
