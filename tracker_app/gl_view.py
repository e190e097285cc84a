"""The OpenGL view: video frame, shaded dense mesh, landmarks, pose axes and eyes; or the mesh alone in 3D
(its lids closed by the measured eyes, as in the video, and the gaze arrows).

A QOpenGLWidget drawing with PyOpenGL through GLSL 3.30 core shaders. It observes
the ViewerModel: a new frame only stores a reference and schedules a repaint;
uploads happen in paintGL (the one place the context is current), as whole-buffer
updates (glTexSubImage2D for the frame, glBufferSubData for all vertices of all
faces). The triangle index buffer is uploaded once per face model and every face
is drawn from it with glDrawElementsBaseVertex.

Video mode draws in image pixels inside the letterboxed frame rectangle. A
translucent mesh is drawn in two passes (depth only, then colour with GL_LEQUAL)
so only its front surface blends with the frame. 3D mode shows the meshes alone
with an orbit camera: drag to turn, wheel to zoom, double-click to reset.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import OpenGL

# PyOpenGL calls glGetError after every call by default: twice the calls, and each
# ctypes call releases and re-takes the GIL, which the capture thread may hold for a
# few milliseconds at a time. Set TRACKER_GL_DEBUG=1 to keep the checks (they raise).
if not os.environ.get("TRACKER_GL_DEBUG"):
    OpenGL.ERROR_CHECKING = False
from OpenGL import GL  # noqa: E402  (after the flag above)
from PyQt6.QtCore import QPointF, Qt
from PyQt6.QtGui import QImage, QMouseEvent, QWheelEvent
from PyQt6.QtOpenGLWidgets import QOpenGLWidget
from PyQt6.QtWidgets import QLabel, QWidget

from engine.overlay import LANDMARK_COLOUR
from engine.render import DEFAULT_COLOR_BGR, Light
from tracker_app.display_frame import DisplayFrame
from tracker_app.gl_scene import GpuScene, MeshLook
from tracker_app.mesh_lod import choose_lod
from tracker_app.view_math import IMAGE_TO_EYE, OrbitCamera, fit_rect, image_projection
from tracker_app.viewer_model import ViewerModel

BACKGROUND_VIDEO = (0.08, 0.08, 0.09)  # letterbox bars
BACKGROUND_3D = (0.16, 0.17, 0.20)
WIREFRAME_DARKEN = 0.75  # wireframe lines are the mesh colour a little darker
# Landmark dots: diameter as a fraction of the face box side, never below a few screen pixels.
LANDMARK_SIZE = 1 / 55
MIN_LANDMARK_PX = 4.0
FRAMING_STRIDE = 16  # 3D view: every 16th vertex is enough to frame and pick faces (2,400 of 38,365)
CLICK_SLOP_PX = 4  # 3D view: a press and release this close is a click (pick a face), not an orbit drag
# Mirror view: image x -> (width - 1) - x, applied after the image projection (clip space)
# and to normals before lighting, so the mesh stays lit as before.
MIRROR_CLIP = np.diag([-1.0, 1.0, 1.0, 1.0]).astype(np.float32)
MIRROR_NORMALS = np.diag([-1.0, 1.0, 1.0]).astype(np.float32)
READOUT_STYLE = ("QLabel { color: #f0f0f0; background: rgba(0, 0, 0, 150); padding: 4px 8px;"
                 " font-family: monospace; }")


def _rgb(bgr: tuple[Any, ...]) -> tuple[float, float, float]:
    b, g, r = (float(c) for c in bgr)
    scale = 255.0 if max(b, g, r) > 1.0 else 1.0
    return r / scale, g / scale, b / scale


class GLView(QOpenGLWidget):
    """Draws the model's current frame; ``grab_frame()`` returns the picture as shown."""

    def __init__(self, model: ViewerModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._offscreen_size: tuple[int, int] | None = None  # set while grab_video_frame draws
        self.model = model
        self.camera = OrbitCamera()
        self.setMinimumSize(320, 200)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._frame: DisplayFrame | None = None  # shown (uploaded or waiting for upload)
        self._dirty = False
        self._gpu: GpuScene | None = None  # the GL objects, while the context lives
        self._drag_from: QPointF | None = None
        self._press_at = QPointF()
        self.paint_count = 0
        self.mirror = False  # video mode shows the frame and its overlays left-right mirrored
        self.readout = QLabel(self)  # pose and latency, over the top-left corner of the view
        self.readout.setStyleSheet(READOUT_STYLE)
        self.readout.move(8, 8)
        self.readout.hide()
        light = Light()
        d = IMAGE_TO_EYE @ light.unit_direction().astype(np.float32)
        self._light_eye = d / np.linalg.norm(d)
        self._light = light
        model.frame_changed.connect(self._on_frame)
        model.overlay_changed.connect(lambda _options: self.update())
        model.view_mode_changed.connect(self._on_view_mode)
        model.focus_changed.connect(lambda _track: self.update())

    # -- model observers -------------------------------------------------------------

    def _on_frame(self, frame: DisplayFrame | None) -> None:
        self._frame = frame
        self._dirty = True
        self.update()  # coalesced by Qt: many frames before a repaint cost one paint

    def set_mirror(self, on: bool) -> None:
        if on != self.mirror:
            self.mirror = on
            self._dirty = True  # the frame texture is uploaded mirrored
            self.update()

    def reset_camera(self) -> None:
        """The 3D view's camera back to its start (every face framed, facing them)."""
        self.camera.reset()
        self.update()

    def set_readout(self, text: str) -> None:
        self.readout.setText(text)
        self.readout.setVisible(bool(text))
        self.readout.adjustSize()

    def _on_view_mode(self, view_3d: bool) -> None:
        self.setCursor(Qt.CursorShape.OpenHandCursor if view_3d else Qt.CursorShape.ArrowCursor)
        self.update()

    # -- GL life cycle ------------------------------------------------------------------

    def initializeGL(self) -> None:
        self._gpu = GpuScene()  # a new context (e.g. after re-parenting) has empty objects
        context = self.context()
        assert context is not None  # current inside initializeGL
        context.aboutToBeDestroyed.connect(self._release_gl)
        self._dirty = True

    def _release_gl(self) -> None:
        """Free the GL objects while our context still exists.

        Qt leaves no context current after destroying a QOpenGLWidget, so owners
        should destroy windows deterministically (run_gui does), not whenever the
        garbage collector gets to them: that could be in the middle of another
        GL widget's drawing.
        """
        if self._gpu is None:
            return
        self.makeCurrent()
        self._gpu.release()
        self._gpu = None
        self.doneCurrent()

    # -- drawing ----------------------------------------------------------------------------

    def paintGL(self) -> None:
        frame, gpu = self._frame, self._gpu
        if gpu is None:
            return
        if self._dirty and frame is not None:
            gpu.upload(frame, self.mirror)
        self._dirty = False
        dpr = self.devicePixelRatio()
        width, height = int(self.width() * dpr), int(self.height() * dpr)
        background = BACKGROUND_3D if self.model.view_3d else BACKGROUND_VIDEO
        GL.glViewport(0, 0, width, height)
        GL.glClearColor(*background, 1.0)
        GL.glClear(GL.GL_COLOR_BUFFER_BIT | GL.GL_DEPTH_BUFFER_BIT)
        if frame is not None:
            if self.model.view_3d:
                self._draw_3d(frame, width, height)
            else:
                self._draw_video(frame, width, height)
        GL.glBindVertexArray(0)
        GL.glUseProgram(0)
        self.paint_count += 1

    def video_rect(self) -> tuple[int, int, int, int]:
        """(x, y, w, h) of the frame inside the widget in device pixels, GL origin (bottom left)."""
        if self._offscreen_size is not None:  # grab_video_frame: the whole target is the frame
            return (0, 0, *self._offscreen_size)
        dpr = self.devicePixelRatio()
        size = self._gpu.texture_size if self._gpu is not None else (0, 0)
        fw, fh = size if size[0] else self._frame_size()
        return fit_rect(fw, fh, int(self.width() * dpr), int(self.height() * dpr))

    def _frame_size(self) -> tuple[int, int]:
        if self._frame is None:
            return (0, 0)
        h, w = self._frame.image.shape[:2]
        return (w, h)

    def _draw_video(self, frame: DisplayFrame, width: int, height: int) -> None:
        gpu = self._gpu
        assert gpu is not None  # drawing happens with the context and its objects
        x, y, w, h = self.video_rect()
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
        if self.mirror:
            mvp = MIRROR_CLIP @ mvp
            normal_to_eye = IMAGE_TO_EYE @ MIRROR_NORMALS
        overlay = self.model.overlay
        if overlay.show_mesh and overlay.mesh_opacity > 0:
            xy = frame.arrays.mesh[:, :2]
            box = np.ptp(xy, axis=0) * (w / img_w)
            lod = choose_lod(gpu.lod_counts(), float(box[0] * box[1]) * frame.n_faces)
            self._draw_mesh(frame, mvp, normal_to_eye, overlay.mesh_opacity, overlay.wireframe, lod)
        GL.glDisable(GL.GL_DEPTH_TEST)
        if overlay.show_axes and frame.arrays.axes.size:
            GL.glUseProgram(gpu.programs["colored"])
            gpu.uniforms["colored"].set_matrix4("u_mvp", mvp)
            GL.glBindVertexArray(gpu.axes_vao)
            GL.glDrawArrays(GL.GL_TRIANGLES, 0, len(frame.arrays.axes))
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
            GL.glUseProgram(gpu.programs["colored"])
            gpu.uniforms["colored"].set_matrix4("u_mvp", mvp)
            GL.glBindVertexArray(gpu.eyes_vao)
            GL.glDrawArrays(GL.GL_TRIANGLES, 0, len(frame.arrays.eyes))

    def face_vertices(self, frame: DisplayFrame, face: int) -> np.ndarray:
        """Image-space vertices (n, 3) of the ``face``-th face of ``frame``."""
        n = frame.arrays.n_vertices
        return frame.arrays.mesh[face * n:(face + 1) * n, :3]

    def framed_faces(self, frame: DisplayFrame) -> list[int]:
        """The faces the 3D view frames: the one centred on (model.focus_person), else all."""
        ids = [tf.person_id for tf in frame.result.faces]
        focus = self.model.focus_person
        return [ids.index(focus)] if focus in ids else list(range(frame.n_faces))

    def mvp_3d(self, frame: DisplayFrame, width: int, height: int) -> np.ndarray:
        """The 3D view's image space -> clip space matrix for ``frame`` in a width x height view."""
        points = np.concatenate([self.face_vertices(frame, i)[::FRAMING_STRIDE]
                                 for i in self.framed_faces(frame)])
        aspect = width / max(height, 1)
        center, radius, depth = self.camera.framing(points, aspect)
        return self.camera.mvp(center, radius, aspect, depth)

    def _draw_3d(self, frame: DisplayFrame, width: int, height: int) -> None:
        gpu = self._gpu
        if not frame.n_faces or gpu is None:
            return
        mvp = self.mvp_3d(frame, width, height)
        # On-screen size of the mesh: its bounding sphere seen from the orbit distance.
        diameter_px = height / self.camera.distance / np.tan(np.radians(self.camera.fov_y) / 2)
        lod = choose_lod(gpu.lod_counts(), diameter_px ** 2 * frame.n_faces)
        self._draw_mesh(frame, mvp, self.camera.rotation(), 1.0, self.model.overlay.wireframe, lod)
        if self.model.overlay.show_eyes and frame.arrays.gaze.size:
            # Depth-tested against the mesh (left on by _draw_mesh): the head hides the arrows behind it.
            GL.glUseProgram(gpu.programs["colored"])
            gpu.uniforms["colored"].set_matrix4("u_mvp", mvp)
            GL.glBindVertexArray(gpu.gaze_vao)
            GL.glDrawArrays(GL.GL_TRIANGLES, 0, len(frame.arrays.gaze))

    def _draw_mesh(self, frame: DisplayFrame, mvp: np.ndarray, normal_to_eye: np.ndarray, opacity: float,
                   wireframe: bool, lod: int) -> None:
        assert self._gpu is not None
        colour = np.asarray(_rgb(DEFAULT_COLOR_BGR), np.float32) * (WIREFRAME_DARKEN if wireframe else 1.0)
        self._gpu.draw_meshes(frame, MeshLook(mvp, normal_to_eye, colour, opacity, wireframe, self._light_eye,
                                              self._light), lod)

    # -- grabbing -------------------------------------------------------------------------

    def grab_video_frame(self) -> QImage:
        """The frame as the view draws it (mesh, landmarks, axes, eyes) at the video's own resolution."""
        from PyQt6.QtOpenGL import QOpenGLFramebufferObject, QOpenGLFramebufferObjectFormat

        if self._frame is None:
            return QImage()
        w, h = self._frame_size()
        self.makeCurrent()
        fmt = QOpenGLFramebufferObjectFormat()
        fmt.setAttachment(QOpenGLFramebufferObject.Attachment.CombinedDepthStencil)
        fbo = QOpenGLFramebufferObject(w, h, fmt)
        fbo.bind()
        self._offscreen_size = (w, h)
        try:
            if self._dirty and self._gpu is not None:
                self._gpu.upload(self._frame, self.mirror)
                self._dirty = False
            GL.glViewport(0, 0, w, h)
            GL.glClearColor(*BACKGROUND_VIDEO, 1.0)
            GL.glClear(GL.GL_COLOR_BUFFER_BIT | GL.GL_DEPTH_BUFFER_BIT)
            self._draw_video(self._frame, w, h)
            GL.glBindVertexArray(0)
            GL.glUseProgram(0)
        finally:
            self._offscreen_size = None
            fbo.release()
        image = fbo.toImage().convertToFormat(QImage.Format.Format_RGB888)
        self.doneCurrent()
        return image

    def grab_frame(self) -> QImage:
        """What the view shows (video mode: the frame rectangle only, without the bars)."""
        image = self.grabFramebuffer()
        if self.model.view_3d or self._frame is None:
            return image
        x, y, w, h = self.video_rect()
        top = image.height() - (y + h)  # QImage rows run top-down, GL's bottom-up
        return image.copy(x, top, w, h)

    # -- 3D mouse control -----------------------------------------------------------------

    def face_at(self, x: float, y: float) -> int | None:
        """3D view: the person id of the face drawn at widget pixel (x, y), the nearest one where
        projected faces overlap; None on the background."""
        frame = self._frame
        if frame is None or not frame.n_faces or not self.model.view_3d:
            return None
        width, height = self.width(), self.height()
        mvp = self.mvp_3d(frame, width, height)
        best: tuple[float, int] | None = None
        for i, tf in enumerate(frame.result.faces):
            points = self.face_vertices(frame, i)[::FRAMING_STRIDE]
            clip = np.hstack([points, np.ones((len(points), 1), np.float32)]) @ mvp.T
            ndc = clip[:, :3] / clip[:, 3:]
            px = (ndc[:, 0] + 1) / 2 * width
            py = (1 - ndc[:, 1]) / 2 * height
            if px.min() <= x <= px.max() and py.min() <= y <= py.max():
                depth = float(np.median(ndc[:, 2]))
                if best is None or depth < best[0]:
                    best = (depth, tf.person_id)
        return None if best is None else best[1]

    def mousePressEvent(self, event: QMouseEvent | None) -> None:
        if event is None:
            return
        if self.model.view_3d and event.button() == Qt.MouseButton.LeftButton:
            self._drag_from = event.position()
            self._press_at = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent | None) -> None:
        if event is None:
            return
        if self._drag_from is not None and self.model.view_3d:
            delta = event.position() - self._drag_from
            self._drag_from = event.position()
            self.camera.orbit(delta.x(), delta.y())
            self.update()
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent | None) -> None:
        if event is None:
            return
        if self._drag_from is not None:
            self._drag_from = None
            moved = event.position() - self._press_at
            if abs(moved.x()) + abs(moved.y()) <= CLICK_SLOP_PX:  # a click, not a drag: centre on that face
                self.model.set_focus(self.face_at(event.position().x(), event.position().y()))
            self.setCursor(Qt.CursorShape.OpenHandCursor if self.model.view_3d else Qt.CursorShape.ArrowCursor)
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent | None) -> None:
        if event is None:
            return
        if self.model.view_3d:
            self.camera.reset()
            self.update()
        super().mouseDoubleClickEvent(event)

    def wheelEvent(self, event: QWheelEvent | None) -> None:
        if event is None:
            return
        if self.model.view_3d:
            self.camera.zoom(event.angleDelta().y() / 120.0)
            self.update()
            event.accept()
        else:
            super().wheelEvent(event)
